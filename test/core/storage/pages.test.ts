/**
 * Cursor pages over LevelDB (core/storage/pages.ts), on a real database: every record is listed once
 * across pages, a page continues after its cursor whatever was written since, records an index names
 * but the store lacks are skipped, and a cursor of another list or not a cursor at all is refused with
 * the caller's code.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { SettlenetError } from "../../../core/errors.js";
import { openLevelStore, type LevelStore, type WriteOp } from "../../../core/storage/level.js";
import { cursorKey, entryPage, indexPage, keyCursor } from "../../../core/storage/pages.js";

const SPACES = ["records", "byOwner"] as const;
type Space = (typeof SPACES)[number];

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (error) {
    if (error instanceof SettlenetError) return error.code;
    throw error;
  }
  throw new Error("expected a coded refusal");
}

describe("storage: cursor pages", function () {
  this.timeout(60_000);
  let dir: string;
  let store: LevelStore<Space>;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-pages-"));
    store = await openLevelStore(dir, SPACES, { label: "pages test" });
    const writes: WriteOp[] = [];
    for (let i = 0; i < 7; i++) {
      const id = `r${i}`;
      writes.push({ type: "put" as const, sublevel: store.spaces.records, key: id, value: { id } });
      writes.push({ type: "put" as const, sublevel: store.spaces.byOwner, key: `alice!${String(i).padStart(4, "0")}!${id}`, value: "" });
    }
    // An index entry whose record is gone, and another owner's entries.
    writes.push({ type: "put" as const, sublevel: store.spaces.byOwner, key: "alice!0003x!gone", value: "" });
    writes.push({ type: "put" as const, sublevel: store.spaces.byOwner, key: "bob!0001!r1", value: "" });
    await store.ctx.write(() => store.ctx.commit(writes));
  });

  afterEach(async function () {
    await store.close();
    await rm(dir, { recursive: true, force: true });
  });

  it("lists every record of an index once, newest first, across pages, skipping entries without a record", async function () {
    const prefix = "alice!";
    const belongs = (key: string) => key.startsWith(prefix);
    const seen: string[] = [];
    let cursor: string | undefined;
    let pages = 0;
    do {
      const lt = cursor === undefined ? `${prefix}\uffff` : cursorKey(cursor, belongs, "INVALID_CURSOR");
      const page = await indexPage<{ id: string }>(store.spaces.byOwner, store.spaces.records, { gte: prefix, lt, reverse: true }, 3, "!");
      seen.push(...page.items.map((item) => item.id));
      cursor = page.next;
      pages += 1;
      // A record written between pages, before the cursor's key, is not listed again nor skipped past.
      if (pages === 1) await store.ctx.write(() => store.ctx.commit([{ type: "put", sublevel: store.spaces.records, key: "r9", value: { id: "r9" } }, { type: "put", sublevel: store.spaces.byOwner, key: "alice!9999!r9", value: "" }]));
    } while (cursor !== undefined);
    expect(seen).to.deep.equal(["r6", "r5", "r4", "r3", "r2", "r1", "r0"]);
    expect(pages).to.equal(3);
  });

  it("pages a keyspace's values in key order with the same cursors", async function () {
    const first = await entryPage<{ id: string }>(store.spaces.records, { reverse: false }, 4);
    expect(first.items.map((item) => item.id)).to.deep.equal(["r0", "r1", "r2", "r3"]);
    expect(first.next).to.equal(keyCursor("r3"));
    const gt = cursorKey(first.next ?? "", () => true, "MALFORMED");
    const second = await entryPage<{ id: string }>(store.spaces.records, { gt, reverse: false }, 4);
    expect(second.items.map((item) => item.id)).to.deep.equal(["r4", "r5", "r6"]);
    expect(second.next).to.equal(undefined);
    // A page that takes exactly what is left says no other follows.
    const whole = await entryPage<{ id: string }>(store.spaces.records, { reverse: false }, 7);
    expect(whole.items).to.have.length(7);
    expect(whole.next).to.equal(undefined);
  });

  it("refuses a cursor of another list, an empty one and one that is not base64url, with the caller's code", function () {
    const belongs = (key: string) => key.startsWith("alice!");
    expect(codeOf(() => cursorKey(keyCursor("bob!0001!r1"), belongs, "INVALID_CURSOR"))).to.equal("INVALID_CURSOR");
    expect(codeOf(() => cursorKey("", () => true, "MALFORMED"))).to.equal("MALFORMED");
    expect(codeOf(() => cursorKey("not*a*cursor", () => true, "MALFORMED"))).to.equal("MALFORMED");
    expect(cursorKey(keyCursor("alice!0002!r2"), belongs, "INVALID_CURSOR")).to.equal("alice!0002!r2");
  });
});
