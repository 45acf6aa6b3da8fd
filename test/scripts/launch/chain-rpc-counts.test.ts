/**
 * The chain process counts what it serves by JSON-RPC method (its log says which calls its clients
 * made) and answers the counts so far to `settlenet_rpcCounts`, over a real JSON-RPC server.
 */
import { expect } from "chai";

import { startChain, type LocalChain } from "../../../scripts/lib/launch/chain.js";
import { HTTP_REQUESTS, RPC_COUNTS_METHOD, countRpcRequests } from "../../../scripts/lib/launch/chain-rpc-counts.js";

describe("launcher: the chain counts the JSON-RPC requests it serves", function () {
  this.timeout(120_000);
  let chain: LocalChain | undefined;
  let served: Awaited<ReturnType<typeof countRpcRequests>> | undefined;

  afterEach(async function () {
    served?.stop();
    await chain?.close();
    chain = undefined;
    served = undefined;
  });

  it("counts each request by method, batch members one by one, and answers the counts", async function () {
    served = await countRpcRequests();
    chain = await startChain();
    const before = served.counts();
    await chain.provider.send("eth_blockNumber", []);
    await chain.provider.send("eth_blockNumber", []);
    await chain.provider.send("eth_getBlockByNumber", ["0x0", false]);
    // One HTTP request carrying three calls.
    const response = await fetch(chain.url, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify([0, 1, 2].map((id) => ({ jsonrpc: "2.0", id, method: "eth_chainId", params: [] }))),
    });
    expect(response.ok).to.equal(true);
    const counts = (await chain.provider.send(RPC_COUNTS_METHOD, [])) as Record<string, number>;
    const delta = (method: string) => (counts[method] ?? 0) - (before[method] ?? 0);
    expect(delta("eth_blockNumber")).to.equal(2);
    expect(delta("eth_getBlockByNumber")).to.equal(1);
    expect(delta("eth_chainId")).to.equal(3);
    // Three single calls, one batch, and the request that asked for the counts.
    expect(delta(HTTP_REQUESTS)).to.equal(5);
    expect(counts[RPC_COUNTS_METHOD]).to.equal(undefined);
    expect(served.counts()).to.deep.include({ ...counts, [HTTP_REQUESTS]: counts[HTTP_REQUESTS] });
  });
});
