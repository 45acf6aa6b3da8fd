/**
 * The chain's JSON-RPC server (scripts/lib/launch/json-rpc-server.ts) answers as Hardhat's own server
 * does — results, errors with their revert data, batches, malformed bodies — while reading bodies
 * without Hardhat's byte-by-byte copy; both serve a fresh chain of the same configuration here, over
 * real sockets, and their answers are compared.
 */
import { expect } from "chai";
import hre from "hardhat";

import { createChainServer, type ChainJsonRpcServer } from "../../../scripts/lib/launch/json-rpc-server.js";

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

  before(async function () {
    const server: ChainJsonRpcServer = await createChainServer("default", "127.0.0.1", 0);
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

  /** The same request to both servers; their answers must be equal. */
  async function both(body: string): Promise<unknown> {
    const [a, b] = await Promise.all([post(ours, body), post(hardhats, body)]);
    expect(a).to.deep.equal(b);
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
