/**
 * Group commit of the shared LevelDB store (core/storage/level.ts): concurrent read-modify-write
 * sections share one synced batch, yet every caller is answered only after a synced batch holding its
 * write (and everything it read) has completed; sections still see each other's writes in order; a
 * failed batch fails every writer that depended on it and leaves nothing behind.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { SettlenetError } from "../../../core/errors.js";
import { SYNC_GET_MANY, openLevelStore, type LevelStore } from "../../../core/storage/level.js";

const SPACES = ["a", "b"] as const;
type Space = (typeof SPACES)[number];

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SettlenetError) return error.code;
    throw error;
  }
  throw new Error("expected a coded rejection");
}

/** One synced batch as the database saw it: the keys it carried and the event number of its completion. */
interface SeenBatch {
  keys: string[];
  sync: boolean;
  doneAt?: number;
}

describe("storage: group commit of synced writes", function () {
  this.timeout(60_000);
  let dir: string;
  let store: LevelStore<Space>;
  let batches: SeenBatch[];
  let events: number;
  /** Set to make the next batch fail (once) with this error. */
  let failNext: Error | undefined;

  async function open() {
    store = await openLevelStore(dir, SPACES, { label: "test" });
    const real = store.db.batch.bind(store.db) as (ops: unknown, options: unknown) => Promise<void>;
    // Observes (and, when asked, fails) the real batches; the writes themselves go to the real LevelDB.
    (store.db as unknown as { batch: unknown }).batch = async (ops: { key: string }[], options: { sync?: boolean }) => {
      const seen: SeenBatch = {
        // The batch goes to the root database with each key under its keyspace's prefix (!a!k000).
        keys: ops.map((op) => op.key.replace(/^!\w+!/, "")),
        sync: options?.sync === true,
      };
      batches.push(seen);
      if (failNext) {
        const error = failNext;
        failNext = undefined;
        throw error;
      }
      await real(ops, options);
      seen.doneAt = ++events;
    };
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "settlenet-group-commit-"));
    batches = [];
    events = 0;
    failNext = undefined;
    await open();
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  function put(key: string, value: unknown) {
    return store.ctx.write(() => store.ctx.commit([{ type: "put", sublevel: store.spaces.a, key, value }]));
  }

  it("lets 200 concurrent writers share a few synced batches, answering each only after the batch with its write completed", async () => {
    const acks = new Map<string, number>();
    await Promise.all(
      Array.from({ length: 200 }, async (_, i) => {
        const key = `k${String(i).padStart(3, "0")}`;
        await put(key, { i });
        acks.set(key, ++events);
      }),
    );
    expect(acks.size).to.equal(200);
    expect(batches.every((b) => b.sync)).to.equal(true);
    // Far fewer fsyncs than writes: the first goes alone, the rest pile into the next groups.
    expect(batches.length).to.be.at.least(2);
    expect(batches.length).to.be.at.most(20);
    for (const [key, ackedAt] of acks) {
      const holding = batches.filter((b) => b.keys.includes(key));
      expect(holding, key).to.have.length(1);
      expect(holding[0]?.doneAt, key).to.be.a("number");
      expect(ackedAt, key).to.be.greaterThan(holding[0]?.doneAt as number);
    }
    const { bytesByKeyspace, ...stats } = store.syncStats();
    expect(stats).to.deep.equal({ batches: batches.length, ops: 200, byKeyspace: { a: 200 } });
    expect(bytesByKeyspace).to.have.keys("a");
    // All of it is on disk: a reopened database has every acknowledged value.
    await store.close();
    batches = [];
    await open();
    const values = await store.spaces.a.getMany([...acks.keys()]);
    expect(values.map((v) => (v as { i: number }).i)).to.deep.equal(Array.from({ length: 200 }, (_, i) => i));
  });

  it("runs read-modify-write sections in order, each seeing the writes of the ones before it before they are synced", async () => {
    const seen: number[] = [];
    await Promise.all(
      Array.from({ length: 100 }, () =>
        store.ctx.write(async () => {
          const current = ((await store.spaces.a.get("counter")) as number | undefined) ?? 0;
          seen.push(current);
          // The point read and the range read agree (a range read waits for the pending groups).
          const keys = await store.spaces.b.keys().all();
          expect(keys).to.have.length(current);
          await store.ctx.commit([
            {
              type: "put",
              sublevel: store.spaces.a,
              key: "counter",
              value: current + 1,
            },
            {
              type: "put",
              sublevel: store.spaces.b,
              key: String(current).padStart(4, "0"),
              value: "",
            },
          ]);
          return current;
        }),
      ),
    );
    expect(seen).to.deep.equal(Array.from({ length: 100 }, (_, i) => i));
    expect(await store.spaces.a.get("counter")).to.equal(100);
    expect(await store.spaces.b.keys().all()).to.have.length(100);
    // Every write is counted under its keyspace.
    expect(store.syncStats()).to.include({ ops: 200 });
    expect(store.syncStats().byKeyspace).to.deep.equal({ a: 100, b: 100 });
    // And the length of what it wrote: a's key "!a!counter" and the values 1..100 as JSON (9 of one digit,
    // 90 of two, one of three); b's keys "!b!0000".. and the empty string as JSON ("").
    expect(store.syncStats().bytesByKeyspace).to.deep.equal({ a: 100 * 10 + 9 + 90 * 2 + 3, b: 100 * (7 + 2) });
  });

  it("iterates like abstract-level (for await, next, nextv, all) while writes are pending", async () => {
    await put("a0", 0);
    const results = await Promise.all([
      put("a1", 1),
      store.ctx.write(async () => {
        await store.ctx.commit([{ type: "put", sublevel: store.spaces.a, key: "a2", value: 2 }]);
        const seen: [string, unknown][] = [];
        for await (const entry of store.spaces.a.iterator()) seen.push(entry);
        const keys: string[] = [];
        for await (const key of store.spaces.a.keys({ gte: "a1" })) keys.push(key);
        const values = store.spaces.a.values();
        const first = await values.next();
        const rest = await values.nextv(10);
        const end = await values.next();
        await values.close();
        return { seen, keys, first, rest, end, all: await store.spaces.a.keys({ reverse: true, limit: 2 }).all() };
      }),
    ]);
    expect(results[1]).to.deep.equal({
      seen: [
        ["a0", 0],
        ["a1", 1],
        ["a2", 2],
      ],
      keys: ["a1", "a2"],
      first: 0,
      rest: [1, 2],
      end: undefined,
      all: ["a2", "a1"],
    });
    // Breaking out of a pending-time iteration closes it (close() would otherwise hang).
    const early = put("a3", 3);
    for await (const key of store.spaces.a.keys()) if (key === "a1") break;
    await early;
    expect(await store.spaces.a.keys().all()).to.deep.equal(["a0", "a1", "a2", "a3"]);
  });

  it("answers a read outside a section from a pending write only after that write is synced", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    // The first group's batch is held until `release`, so the second write stays pending meanwhile.
    const real = store.db.batch;
    let first = true;
    let entered!: () => void;
    const firstBatch = new Promise<void>((r) => (entered = r));
    (store.db as unknown as { batch: unknown }).batch = async (ops: unknown, options: unknown) => {
      if (first) {
        first = false;
        entered();
        await gate;
      }
      return (real as (o: unknown, p: unknown) => Promise<void>).call(store.db, ops, options);
    };
    const w1 = put("x", 1);
    await firstBatch;
    let committed!: () => void;
    const sectionRan = new Promise<void>((r) => (committed = r));
    const w2 = store.ctx.write(() => {
      const commit = store.ctx.commit([{ type: "put", sublevel: store.spaces.a, key: "y", value: 2 }]);
      committed();
      return commit;
    });
    await sectionRan; // "y" waits in the next group
    let readDone = false;
    let answered!: () => void;
    const readAnswered = new Promise<void>((r) => (answered = r));
    const read = store.ctx
      .read(async () => {
        const value = await store.spaces.a.get("y");
        answered();
        return value;
      })
      .then((v) => {
        readDone = true;
        return v;
      });
    // The read has its answer (from the pending write); a read let out before the sync would be done
    // once the promise jobs queued after that have run, which they have by the next turn of the event loop.
    await readAnswered;
    await new Promise((r) => setImmediate(r));
    const early = readDone;
    release();
    expect(early).to.equal(false);
    await Promise.all([w1, w2]);
    expect(await read).to.equal(2);
  });

  it("answers getMany from pending writes and deletions and from the database, in the order asked, in place up to its bound and through the thread pool above it", async () => {
    await Promise.all([put("s1", "one"), put("s2", "two")]);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const real = store.db.batch;
    (store.db as unknown as { batch: unknown }).batch = async (ops: unknown, options: unknown) => {
      await gate;
      return (real as (o: unknown, p: unknown) => Promise<void>).call(store.db, ops, options);
    };
    let threadPoolReads = 0;
    const rawGetMany = store.raw.a.getMany.bind(store.raw.a) as (keys: string[], options?: unknown) => Promise<unknown[]>;
    (store.raw.a as unknown as { getMany: unknown }).getMany = (keys: string[], options?: unknown) => {
      threadPoolReads += 1;
      return rawGetMany(keys, options);
    };
    // "p1" is written and "s2" deleted in a group whose batch waits for `release`.
    let committed!: () => void;
    const sectionRan = new Promise<void>((r) => (committed = r));
    const pending = store.ctx.write(() => {
      const commit = store.ctx.commit([
        { type: "put", sublevel: store.spaces.a, key: "p1", value: "pending" },
        { type: "del", sublevel: store.spaces.a, key: "s2" },
      ]);
      committed();
      return commit;
    });
    await sectionRan;
    const small = store.ctx.read(() => store.spaces.a.getMany(["s2", "missing", "p1", "s1"]));
    const many = Array.from({ length: SYNC_GET_MANY + 1 }, (_, i) => ["s1", "p1", "s2", "missing"][i % 4] as string);
    const large = store.ctx.read(() => store.spaces.a.getMany(many));
    release();
    await pending;
    expect(await small).to.deep.equal([undefined, undefined, "pending", "one"]);
    expect(await large).to.deep.equal(many.map((key) => ({ s1: "one", p1: "pending" })[key]));
    // Only the read above the bound went through the thread pool (and only for the keys with no pending write).
    expect(threadPoolReads).to.equal(1);
  });

  it("fails every writer of a group whose batch fails, keeps nothing of it, and goes on with later writes", async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const real = store.db.batch;
    let calls = 0;
    let entered!: () => void;
    const firstBatch = new Promise<void>((r) => (entered = r));
    (store.db as unknown as { batch: unknown }).batch = async (ops: unknown, options: unknown) => {
      calls += 1;
      if (calls === 1) {
        entered();
        await gate;
        return (real as (o: unknown, p: unknown) => Promise<void>).call(store.db, ops, options);
      }
      if (calls === 2) throw Object.assign(new Error("disk full"), { code: "LEVEL_IO_ERROR" });
      return (real as (o: unknown, p: unknown) => Promise<void>).call(store.db, ops, options);
    };
    const first = put("ok", 1);
    await firstBatch;
    // These three pile into the second group, which fails.
    const doomed = [put("f1", 1), put("f2", 2), store.ctx.write(async () => (await store.spaces.a.get("f1")) as number)];
    release();
    await first;
    expect(await Promise.all(doomed.map(codeOf))).to.deep.equal(["STORAGE_IO_ERROR", "STORAGE_IO_ERROR", "STORAGE_IO_ERROR"]);
    expect(await store.ctx.read(() => store.spaces.a.getMany(["ok", "f1", "f2"]))).to.deep.equal([1, undefined, undefined]);
    await put("later", 3);
    expect(await store.spaces.a.get("later")).to.equal(3);
  });

  it("syncs pending writes before close and refuses writes after it", async () => {
    const writes = Array.from({ length: 50 }, (_, i) => put(`c${i}`, i));
    await store.close();
    await Promise.all(writes);
    expect(await codeOf(put("late", 1))).to.equal("STORAGE_CLOSED");
    await open();
    expect((await store.spaces.a.keys().all()).length).to.equal(50);
  });
});
