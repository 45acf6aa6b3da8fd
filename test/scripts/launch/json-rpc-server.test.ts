/**
 * The chain's JSON-RPC server (scripts/lib/launch/json-rpc-server.ts) answers as Hardhat's own server
 * does — results, errors with their revert data, batches, malformed bodies — while reading bodies
 * without Hardhat's byte-by-byte copy; both serve a fresh chain of the same configuration here, over
 * real sockets, and their answers are compared. The reads it answers from EDR directly are compared
 * with the same reads through Hardhat's provider, on the same chain.
 */
import { expect } from "chai";
import hre from "hardhat";

import { countRpcRequests } from "../../../scripts/lib/launch/chain-rpc-counts.js";
import { READS, createChainServer, type ChainJsonRpcServer } from "../../../scripts/lib/launch/json-rpc-server.js";

/** Runtime code that reverts with one word of data (0xaa), deployed by init code that returns it. */
const REVERTING_RUNTIME = "60aa60005260206000fd";
const INIT_CODE = `0x69${REVERTING_RUNTIME}600052600a6016f3`;

async function post(url: string, body: string): Promise<{ status: number; json: unknown; cors: string | null }> {
  const response = await fetch(url, { method: "POST", headers: { "content-type": "application/json" }, body });
  return { status: response.status, json: await response.json(), cors: response.headers.get("access-control-allow-origin") };
}

describe("launcher: the chain's JSON-RPC server", function () {
  this.timeout(120_000);
  const closers: (() => Promise<void>)[] = [];
  let ours: string;
  let hardhats: string;
  let server: ChainJsonRpcServer;

  before(async function () {
    server = await createChainServer("default", "127.0.0.1", 0);
    const at = await server.listen();
    closers.push(() => server.close());
    ours = `http://${at.address}:${at.port}`;
    const reference = await hre.network.createServer("default", "127.0.0.1", 0);
    const refAt = await reference.listen();
    closers.push(() => reference.close());
    hardhats = `http://${refAt.address}:${refAt.port}`;
  });

  after(async function () {
    for (const close of closers) await close();
  });

  /**
   * The same request to both servers; their answers must be equal. EDR's messages for malformed params
   * say where in the request text Hardhat's provider gave it the error is, and that text carries the
   * provider's own request counter, which the reads answered directly do not advance: the position is
   * left out of the comparison.
   */
  async function both(body: string): Promise<unknown> {
    const [a, b] = await Promise.all([post(ours, body), post(hardhats, body)]);
    const unplaced = (answer: unknown) => JSON.parse(JSON.stringify(answer).replace(/ at line \d+ column \d+/g, "")) as unknown;
    expect(unplaced(a)).to.deep.equal(unplaced(b));
    return a.json;
  }

  it("answers calls, failures with their revert data, and malformed bodies as Hardhat's server does", async function () {
    const [from] = (await both(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_accounts", params: [] })) as { result: string[] }).result;
    await both(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "eth_sendTransaction", params: [{ from, data: INIT_CODE, gas: "0x100000" }] }));
    const receipt = (await both(JSON.stringify({ jsonrpc: "2.0", id: 3, method: "eth_getTransactionReceipt", params: [await lastTxHash(ours)] }))) as { result: { contractAddress: string } };
    const reverted = (await both(JSON.stringify({ jsonrpc: "2.0", id: 4, method: "eth_call", params: [{ to: receipt.result.contractAddress, data: "0x" }, "latest"] }))) as { error: { data: unknown } };
    expect(JSON.stringify(reverted.error.data)).to.include("aa");
    await both(JSON.stringify({ jsonrpc: "2.0", id: 5, method: "eth_noSuchMethod", params: [] }));
    await both(JSON.stringify({ jsonrpc: "2.0", id: 6, method: "eth_getBalance", params: ["not an address"] }));
    await both("{ this is not JSON");
  });

  it("reads a body of many chunks and answers a batch member by member", async function () {
    const batch = Array.from({ length: 3_000 }, (_, id) => ({ jsonrpc: "2.0", id, method: id % 2 ? "eth_chainId" : "eth_blockNumber", params: [] }));
    const body = JSON.stringify(batch);
    expect(body.length).to.be.greaterThan(150_000);
    const answers = (await both(body)) as { id: number; result: string }[];
    expect(answers).to.have.length(3_000);
    expect(answers.map((a) => a.id)).to.deep.equal(batch.map((r) => r.id));
  });

  it("answers reads from EDR directly with what Hardhat's provider answers on the same chain, single and in batches", async function () {
    expect(server.direct, "reads are answered directly").to.equal(true);
    const [from] = (await server.provider.request({ method: "eth_accounts", params: [] })) as string[];
    // A contract deployment and a plain transfer: a block with transactions, calldata and a log-free receipt.
    const deployHash = (await server.provider.request({ method: "eth_sendTransaction", params: [{ from, data: INIT_CODE, gas: "0x100000" }] })) as string;
    const transferHash = (await server.provider.request({ method: "eth_sendTransaction", params: [{ from, to: from, value: "0x1" }] })) as string;
    const { contractAddress } = (await server.provider.request({ method: "eth_getTransactionReceipt", params: [deployHash] })) as { contractAddress: string };
    const head = (await server.provider.request({ method: "eth_blockNumber", params: [] })) as string;
    const { hash } = (await server.provider.request({ method: "eth_getBlockByNumber", params: ["0x1", false] })) as { hash: string };
    const reads: [string, unknown[]][] = [
      ["eth_blockNumber", []],
      ["eth_getBlockByNumber", [head, true]],
      ["eth_getBlockByNumber", ["0x1", false]],
      ["eth_getBlockByNumber", ["0xffffff", true]],
      ["eth_getBlockByHash", [hash, true]],
      ["eth_getLogs", [{ fromBlock: "0x0", toBlock: head }]],
      ["eth_getTransactionReceipt", [transferHash]],
      ["eth_getTransactionByHash", [deployHash]],
      ["eth_getTransactionCount", [from, "latest"]],
      ["eth_getBalance", [from, "latest"]],
      ["eth_getCode", [contractAddress, "latest"]],
      ["eth_getStorageAt", [contractAddress, "0x0", "latest"]],
    ];
    expect(new Set(reads.map(([method]) => method))).to.deep.equal(new Set(READS));
    const expected = await Promise.all(reads.map(async ([method, params]) => (await server.provider.request({ method, params })) as unknown));
    const single = await Promise.all(reads.map(async ([method, params], id) => (await post(ours, JSON.stringify({ jsonrpc: "2.0", id: `r${id}`, method, params }))).json));
    // Compared as text: the project's chai matchers take hex strings of equal value ("0x03", "0x3") as equal.
    expect(JSON.stringify(single)).to.equal(JSON.stringify(expected.map((result, id) => ({ jsonrpc: "2.0", id: `r${id}`, result }))));
    const batch = (await post(ours, JSON.stringify(reads.map(([method, params], id) => ({ jsonrpc: "2.0", id, method, params }))))).json;
    expect(JSON.stringify(batch)).to.equal(JSON.stringify(expected.map((result, id) => ({ jsonrpc: "2.0", id, result }))));
  });

  it("answers a failed read and a batch with a failed read through Hardhat, as Hardhat's server does", async function () {
    await both(JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_getBlockByNumber", params: ["not a block"] }));
    await both(JSON.stringify({ jsonrpc: "2.0", id: 2, method: "eth_getLogs", params: [{ fromBlock: "0x2", toBlock: "0x1" }] }));
    await both(JSON.stringify([{ jsonrpc: "2.0", id: 1, method: "eth_getBlockByNumber", params: ["0x0", false] }, { jsonrpc: "2.0", id: 2, method: "eth_getBalance", params: ["0x12"] }]));
    await both(JSON.stringify({ jsonrpc: "2.0", method: "eth_blockNumber", params: [] }));
    await both(JSON.stringify({ jsonrpc: "1.0", id: 3, method: "eth_blockNumber", params: [] }));
    await both(JSON.stringify([]));
  });

  it("counts each read once, answered directly or, in a batch with a failed read, through Hardhat", async function () {
    const counter = await countRpcRequests();
    try {
      await post(ours, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_blockNumber", params: [] }));
      await post(ours, JSON.stringify([{ jsonrpc: "2.0", id: 2, method: "eth_blockNumber", params: [] }, { jsonrpc: "2.0", id: 3, method: "eth_getBalance", params: ["0x12"] }]));
      expect(counter.counts()).to.include({ eth_blockNumber: 2, eth_getBalance: 1 });
    } finally {
      counter.stop();
    }
  });

  it("answers CORS preflights and sets CORS headers", async function () {
    const preflight = await fetch(ours, { method: "OPTIONS" });
    expect(preflight.status).to.equal(200);
    expect(preflight.headers.get("access-control-allow-origin")).to.equal("*");
    const answer = await post(ours, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_chainId", params: [] }));
    expect(answer.cors).to.equal("*");
  });
});

async function lastTxHash(url: string): Promise<string> {
  const block = (await post(url, JSON.stringify({ jsonrpc: "2.0", id: 1, method: "eth_getBlockByNumber", params: ["latest", false] }))).json as { result: { transactions: string[] } };
  const hash = block.result.transactions[0];
  if (!hash) throw new Error("no transaction in the latest block");
  return hash;
}
