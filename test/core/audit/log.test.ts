/**
 * The hash-chained audit log (core/audit/log.ts): entries chain in order under concurrent appends,
 * an action's writes and its entry land together, and any edit, removal, reordering or truncation of
 * the stored log is found by `verify` at the entry where it happened.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { AuditLog, GENESIS_HASH, canonicalJson, entryHash, type AuditEntry } from "../../../core/audit/log.js";
import { SettlenetError } from "../../../core/errors.js";
import { openLevelStore, type LevelStore } from "../../../core/storage/level.js";

const SPACES = ["audit", "things"] as const;
type Space = (typeof SPACES)[number];

describe("core/audit: hash-chained audit log", function () {
  this.timeout(60_000);
  let dir: string;
  let store: LevelStore<Space>;
  let log: AuditLog;
  let clock: number;

  async function open() {
    store = await openLevelStore(dir, SPACES, { label: "audit test" });
    log = new AuditLog(store.ctx, store.spaces.audit, () => clock);
  }

  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "settlenet-audit-"));
    clock = 1_700_000_000_000;
    await open();
  });

  afterEach(async () => {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  async function appendSome(n: number): Promise<AuditEntry[]> {
    return Promise.all(
      Array.from({ length: n }, (_, i) => log.append({ actor: `op-${i % 2}`, role: "operator", action: "alert.acknowledge", target: `alert-${i}`, details: { note: `n${i}`, amount: "100" } })),
    );
  }

  it("chains concurrent appends in order and verifies, also after reopening", async () => {
    const entries = await appendSome(12);
    expect(entries.map((e) => e.seq).sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 12 }, (_, i) => i + 1));
    const page1 = await log.list({ limit: 5 });
    expect(page1.entries.map((e) => e.seq)).to.deep.equal([1, 2, 3, 4, 5]);
    expect(page1.entries[0]!.prevHash).to.equal(GENESIS_HASH);
    for (let i = 1; i < page1.entries.length; i += 1) expect(page1.entries[i]!.prevHash).to.equal(page1.entries[i - 1]!.hash);
    const rest = await log.list({ after: page1.next!, limit: 100 });
    expect(rest.entries.map((e) => e.seq)).to.deep.equal([6, 7, 8, 9, 10, 11, 12]);
    expect(rest.next).to.equal(undefined);

    const before = await log.verify();
    expect(before).to.deep.include({ ok: true, entries: 12 });
    await store.close();
    await open();
    expect(await log.verify()).to.deep.equal(before);
    const next = await log.append({ actor: "op-0", role: "operator", action: "backup.download" });
    expect(next.seq).to.equal(13);
    expect(next.prevHash).to.equal((before as { head: string }).head);
  });

  it("writes an action and its entry in one batch", async () => {
    await store.ctx.write(async () => {
      const { entry, writes } = await log.prepare({ actor: "admin", role: "admin", action: "merchant.suspend", target: "m-1" });
      await store.ctx.commit([...writes, { type: "put", sublevel: store.spaces.things, key: "m-1", value: { suspended: true, auditSeq: entry.seq } }]);
    });
    expect(await store.spaces.things.get("m-1")).to.deep.equal({ suspended: true, auditSeq: 1 });
    expect(await log.verify()).to.deep.include({ ok: true, entries: 1 });
  });

  it("hashes canonical JSON: the same entry whatever its key order", () => {
    const body = { seq: 1, atMs: 5, prevHash: GENESIS_HASH, actor: "a", role: "r", action: "x", details: { b: "1", a: "2" } };
    const reordered = { details: { a: "2", b: "1" }, action: "x", role: "r", actor: "a", prevHash: GENESIS_HASH, atMs: 5, seq: 1 };
    expect(canonicalJson(body)).to.equal(canonicalJson(reordered));
    expect(entryHash(body)).to.equal(entryHash(reordered));
    expect(entryHash({ ...body, actor: "b" })).to.not.equal(entryHash(body));
  });

  const key = (seq: number) => `e!${String(seq).padStart(16, "0")}`;

  it("finds an edited entry, even one whose own hash was recomputed", async () => {
    await appendSome(5);
    const raw = store.raw.audit;
    const third = (await raw.get(key(3))) as AuditEntry;
    await raw.put(key(3), { ...third, actor: "someone-else" });
    expect(await log.verify()).to.deep.include({ ok: false, brokenAt: 3, entries: 2 });

    // Rewriting the hash too moves the break to the next link.
    const { hash: _hash, ...body } = { ...third, actor: "someone-else" };
    await raw.put(key(3), { ...body, hash: entryHash(body) });
    expect(await log.verify()).to.deep.include({ ok: false, brokenAt: 4 });
    try {
      await log.assertIntact();
      expect.fail("expected AUDIT_LOG_BROKEN");
    } catch (error) {
      expect(error).to.be.instanceOf(SettlenetError);
      expect((error as SettlenetError).code).to.equal("AUDIT_LOG_BROKEN");
    }
  });

  it("finds a removed entry, swapped entries and a truncated tail", async () => {
    await appendSome(5);
    const raw = store.raw.audit;
    const two = await raw.get(key(2));
    const four = await raw.get(key(4));
    await raw.del(key(2));
    expect(await log.verify()).to.deep.include({ ok: false, brokenAt: 2 });
    await raw.put(key(2), four);
    await raw.put(key(4), two);
    expect(await log.verify()).to.deep.include({ ok: false, brokenAt: 2 });
    await raw.put(key(2), two);
    await raw.put(key(4), four);
    expect(await log.verify()).to.deep.include({ ok: true, entries: 5 });
    await raw.del(key(5));
    expect(await log.verify()).to.deep.include({ ok: false, entries: 4, brokenAt: 5 });
  });
});
