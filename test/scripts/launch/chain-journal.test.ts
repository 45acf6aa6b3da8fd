/**
 * The chain journal file on its own: blocks are streamed in order through the replay handlers, a torn
 * last line (a crash during an append) is cut off so later appends stay readable, gaps and damaged
 * lines are refused with CHAIN_JOURNAL_CORRUPT, and a journal far larger than the replaying process's
 * heap replays (nothing holds the whole file or all its blocks).
 */
import { spawn } from "node:child_process";
import { appendFileSync, closeSync, openSync, readFileSync, writeFileSync, writeSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { SettlenetError } from "../../../core/errors.js";
import { PROJECT_ROOT } from "../../../scripts/lib/launch/part.js";
import { ChainJournal, readLines, type JournalBlock, type JournalHeader } from "../../../scripts/lib/launch/chain-journal.js";

const HEADER: JournalHeader = { kind: "settlenet-chain-journal", version: 1, chainId: "31337", genesisTimestamp: 1_700_000_000, genesisHash: `0x${"ab".repeat(32)}` };
const block = (number: number, txs: string[] = [`0x${number.toString(16).padStart(4, "0")}`]): JournalBlock => ({ number, timestamp: 1_700_000_000 + number, hash: `0x${number.toString(16).padStart(64, "0")}`, txs });

async function replayAll(file: string): Promise<{ journal: ChainJournal | undefined; headers: JournalHeader[]; blocks: JournalBlock[] }> {
  const headers: JournalHeader[] = [];
  const blocks: JournalBlock[] = [];
  const journal = await ChainJournal.replay(file, {
    header: (h) => void headers.push(h),
    block: async (b) => void blocks.push(b),
  });
  return { journal, headers, blocks };
}

async function refusal(promise: Promise<unknown>): Promise<SettlenetError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SettlenetError) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

describe("launcher: the chain journal file", function () {
  this.timeout(60_000);
  let dir: string;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-journal-"));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("streams the header, then every block in order, and keeps only the height and the last hash", async function () {
    const file = join(dir, "ordered.jsonl");
    const journal = ChainJournal.create(file, HEADER);
    journal.append([block(1), block(2)]);
    journal.append([block(3, [])]);
    expect(journal.height).to.equal(3);
    expect(journal.lastHash).to.equal(block(3).hash);
    journal.close();
    expect(ChainJournal.readHeader(file)).to.deep.equal(HEADER);
    expect(ChainJournal.readHeader(join(dir, "none.jsonl"))).to.equal(undefined);
    const { journal: again, headers, blocks } = await replayAll(file);
    expect(headers).to.deep.equal([HEADER]);
    expect(blocks).to.deep.equal([block(1), block(2), block(3, [])]);
    expect(again?.height).to.equal(3);
    expect(again?.lastHash).to.equal(block(3).hash);
    expect(Object.values(again ?? {}).some(Array.isArray)).to.equal(false);
    // Appends continue the same file, contiguous only.
    again?.append([block(4)]);
    expect(() => again?.append([block(6)])).to.throw(SettlenetError).with.property("code", "CHAIN_JOURNAL_CORRUPT");
    again?.close();
    expect((await replayAll(file)).blocks.map((b) => b.number)).to.deep.equal([1, 2, 3, 4]);
    expect(await ChainJournal.replay(join(dir, "none.jsonl"), { header: () => undefined, block: async () => undefined })).to.equal(undefined);
  });

  it("reads lines across chunk boundaries and tells a terminated line from a torn one", function () {
    const file = join(dir, "lines.txt");
    writeFileSync(file, `${"a".repeat(10)}\n\n${"b".repeat(25)}\nccc`);
    const lines = [...readLines(file, 8)];
    expect(lines).to.deep.equal([
      { text: "a".repeat(10), end: 11, terminated: true },
      { text: "", end: 12, terminated: true },
      { text: "b".repeat(25), end: 38, terminated: true },
      { text: "ccc", end: 41, terminated: false },
    ]);
  });

  it("cuts a torn last line off, so the blocks appended after it read back", async function () {
    const file = join(dir, "torn.jsonl");
    const journal = ChainJournal.create(file, HEADER);
    journal.append([block(1), block(2)]);
    journal.close();
    // A crash in the middle of appending block 3: part of its line, no newline.
    appendFileSync(file, JSON.stringify(block(3)).slice(0, 40));
    const first = await replayAll(file);
    expect(first.blocks.map((b) => b.number)).to.deep.equal([1, 2]);
    first.journal?.append([block(3), block(4)]);
    first.journal?.close();
    const second = await replayAll(file);
    expect(second.blocks).to.deep.equal([block(1), block(2), block(3), block(4)]);
    expect(readFileSync(file, "utf8").endsWith(`${JSON.stringify(block(4))}\n`)).to.equal(true);
  });

  it("refuses a gap, a damaged complete line and a file without a header", async function () {
    const gap = join(dir, "gap.jsonl");
    writeFileSync(gap, [HEADER, block(1), block(3)].map((x) => `${JSON.stringify(x)}\n`).join(""));
    const gapError = await refusal(replayAll(gap));
    expect(gapError.code).to.equal("CHAIN_JOURNAL_CORRUPT");
    expect(gapError.meta["line"]).to.equal(3);

    const damaged = join(dir, "damaged.jsonl");
    writeFileSync(damaged, `${JSON.stringify(HEADER)}\n${JSON.stringify(block(1)).slice(0, 30)}\n${JSON.stringify(block(2))}\n`);
    expect((await refusal(replayAll(damaged))).code).to.equal("CHAIN_JOURNAL_CORRUPT");

    const headless = join(dir, "headless.jsonl");
    writeFileSync(headless, "");
    expect((await refusal(replayAll(headless))).code).to.equal("CHAIN_JOURNAL_CORRUPT");
    expect(() => ChainJournal.readHeader(headless)).to.throw(SettlenetError);
  });

  it("replays a journal several times larger than the replaying process's heap limit", async function () {
    // About 130 MiB of blocks (each with one 96 KiB transaction) through a process whose heap may not pass
    // 40 MiB (tighter limits leave the garbage collector no room on a busy machine: tsx alone takes ~15 MiB).
    const file = join(dir, "large.jsonl");
    const fd = openSync(file, "w");
    const tx = `0x${"5a".repeat(48 * 1024)}`;
    writeSync(fd, `${JSON.stringify(HEADER)}\n`);
    const blocks = 1_400;
    for (let n = 1; n <= blocks; n++) writeSync(fd, `${JSON.stringify(block(n, [tx]))}\n`);
    closeSync(fd);
    const script = join(dir, "replay-large.mts");
    writeFileSync(
      script,
      [
        `import { ChainJournal } from ${JSON.stringify(join(PROJECT_ROOT, "scripts", "lib", "launch", "chain-journal.ts"))};`,
        "let blocks = 0;",
        `const journal = await ChainJournal.replay(${JSON.stringify(file)}, { header: () => undefined, block: async () => void (blocks += 1) });`,
        "process.stdout.write(JSON.stringify({ blocks, height: journal?.height }));",
      ].join("\n"),
    );
    const child = spawn(process.execPath, ["--max-old-space-size=40", "--import", "tsx", script], { cwd: PROJECT_ROOT, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    const code = await new Promise<number | null>((resolveExit) => child.once("exit", resolveExit));
    expect(code, err.slice(-2_000)).to.equal(0);
    expect(JSON.parse(out)).to.deep.equal({ blocks, height: blocks });
  });
});
