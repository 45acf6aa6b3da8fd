/**
 * The launcher's journaled chain (EDR in this process): after a restart the replayed chain has the same
 * block hashes, balances, nonces and storage and keeps going; a restart after a crash in the middle of
 * an append resumes; a journal whose blocks no longer replay to their recorded hashes is refused with
 * CHAIN_REPLAY_DIVERGED at the first block that differs, not at the end.
 */
import { appendFileSync, readFileSync, writeFileSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { JsonRpcProvider, Wallet, getCreateAddress, keccak256 } from "ethers";
import { pino } from "pino";

import { SettlenetError } from "../../../core/errors.js";
import { devWallet } from "../../../scripts/lib/launch/consortium.js";
import { startPersistentChain, type PersistentChain } from "../../../scripts/lib/launch/chain-server.js";

const logger = pino({ level: "silent" });
/** Init code that stores 42 in slot 0 and deploys no code: a storage write the replay must redo. */
const STORE_42 = "0x602a60005560006000f3";

interface Seen {
  hashes: string[];
  balances: bigint[];
  nonce: number;
  slot0: string;
}

describe("launcher: the journaled chain resumes by replaying its journal", function () {
  this.timeout(120_000);
  let dataDir: string;
  let chain: PersistentChain | undefined;
  let provider: JsonRpcProvider | undefined;
  const recipients = [Wallet.createRandom().address, Wallet.createRandom().address];
  let stored = "";

  async function start(): Promise<{ chain: PersistentChain; provider: JsonRpcProvider }> {
    chain = await startPersistentChain({ dataDir, port: 0 }, { logger });
    provider = new JsonRpcProvider(chain.url, undefined, { staticNetwork: true, cacheTimeout: -1 });
    return { chain, provider };
  }

  async function stop(): Promise<void> {
    provider?.destroy();
    provider = undefined;
    await chain?.close();
    chain = undefined;
  }

  async function seen(p: JsonRpcProvider): Promise<Seen> {
    const height = await p.getBlockNumber();
    const hashes: string[] = [];
    for (let n = 0; n <= height; n++) hashes.push((await p.getBlock(n))?.hash ?? "");
    const sender = devWallet(1).address;
    return {
      hashes,
      balances: await Promise.all([sender, ...recipients].map((a) => p.getBalance(a))),
      nonce: await p.getTransactionCount(sender),
      slot0: await p.getStorage(stored, 0),
    };
  }

  before(async function () {
    dataDir = await mkdtemp(join(tmpdir(), "settlenet-chain-"));
  });
  afterEach(stop);
  after(async function () {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("gives the same block hashes, balances, nonces and storage after a restart, and goes on from there", async function () {
    const first = await start();
    expect(first.chain.replayedBlocks).to.equal(0);
    const wallet = devWallet(1, first.provider);
    for (const [i, to] of recipients.entries()) await (await wallet.sendTransaction({ to, value: 1_000n + BigInt(i) })).wait();
    const deploy = await wallet.sendTransaction({ data: STORE_42 });
    await deploy.wait();
    stored = getCreateAddress({ from: wallet.address, nonce: deploy.nonce });
    const before = await seen(first.provider);
    expect(before.slot0).to.equal(`0x${"2a".padStart(64, "0")}`);
    expect(before.hashes.length).to.be.at.least(4);
    await stop();

    const second = await start();
    // Every journaled block replayed, plus at most the one that brings the clock back to now.
    expect(second.chain.replayedBlocks).to.equal(before.hashes.length - 1);
    const after = await seen(second.provider);
    expect(after.hashes.slice(0, before.hashes.length)).to.deep.equal(before.hashes);
    expect(after.balances).to.deep.equal(before.balances);
    expect(after.nonce).to.equal(before.nonce);
    expect(after.slot0).to.equal(before.slot0);
    // The resumed chain accepts the next transaction from the same account, and journals it too.
    await (await devWallet(1, second.provider).sendTransaction({ to: recipients[0], value: 7n })).wait();
    const later = await seen(second.provider);
    await stop();

    const third = await start();
    const again = await seen(third.provider);
    expect(again.hashes.slice(0, later.hashes.length)).to.deep.equal(later.hashes);
    expect(again.balances).to.deep.equal(later.balances);
  });

  it("resumes after a crash in the middle of an append (the torn line was never acknowledged)", async function () {
    const file = join(dataDir, "journal.jsonl");
    appendFileSync(file, '{"number":99999,"timestamp":1,"hash":"0x');
    const { provider: p } = await start();
    const height = await p.getBlockNumber();
    await (await devWallet(1, p).sendTransaction({ to: recipients[1], value: 5n })).wait();
    const hashes = (await seen(p)).hashes;
    await stop();
    const { chain: resumed, provider: q } = await start();
    expect(resumed.replayedBlocks).to.be.at.least(height + 1);
    expect((await seen(q)).hashes.slice(0, hashes.length)).to.deep.equal(hashes);
  });

  it("journals a raw transaction as the bytes sent, and a transaction the chain signed as its re-serialised bytes", async function () {
    const file = join(dataDir, "journal.jsonl");
    const { provider: p } = await start();
    const wallet = devWallet(1, p);
    const raw = await wallet.signTransaction(await wallet.populateTransaction({ to: recipients[0], value: 3n }));
    const rawHash = (await p.send("eth_sendRawTransaction", [raw])) as string;
    await p.waitForTransaction(rawHash);
    // Signed by the chain with one of its own accounts: no raw bytes were sent.
    const signedHash = (await p.send("eth_sendTransaction", [{ from: devWallet(2).address, to: recipients[1], value: "0x4" }])) as string;
    await p.waitForTransaction(signedHash);
    const hashes = (await seen(p)).hashes;
    await stop();

    const journaled = readFileSync(file, "utf8").trim().split("\n").slice(1).map((line) => JSON.parse(line) as { txs: string[] });
    const txs = journaled.flatMap((block) => block.txs);
    expect(txs).to.include(raw);
    expect(txs.map((tx) => keccak256(tx))).to.include.members([rawHash, signedHash]);
    const { provider: q } = await start();
    expect((await seen(q)).hashes.slice(0, hashes.length)).to.deep.equal(hashes);
  });

  it("refuses a journal that no longer replays to its hashes, naming the first block that differs", async function () {
    const file = join(dataDir, "journal.jsonl");
    const lines = readFileSync(file, "utf8").split("\n");
    // Block 2's recorded hash altered: replay diverges there, although every later block is intact.
    const second = JSON.parse(lines[2] as string) as { number: number; hash: string };
    expect(second.number).to.equal(2);
    lines[2] = JSON.stringify({ ...second, hash: `0x${"0".repeat(64)}` });
    writeFileSync(file, lines.join("\n"));
    let refused: unknown;
    try {
      await start();
    } catch (error) {
      refused = error;
    }
    expect(refused).to.be.instanceOf(SettlenetError);
    expect((refused as SettlenetError).code).to.equal("CHAIN_REPLAY_DIVERGED");
    expect((refused as SettlenetError).meta["block"]).to.equal(2);
  });
});
