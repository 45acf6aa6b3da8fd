/**
 * The node's JSON-RPC transport against a real chain over HTTP: answers and JSON-RPC errors come back
 * as ethers' own transport gives them (a revert is a CALL_EXCEPTION), many requests
 * share kept-alive connections, and a server that is gone is a NETWORK_ERROR, not a hang.
 */
import http from "node:http";

import { expect } from "chai";
import { Network, isError } from "ethers";

import { HttpJsonRpcProvider } from "../../../core/chain/json-rpc.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";

describe("JSON-RPC over node:http", function () {
  this.timeout(60_000);
  let chain: LocalChain;
  let s: Scenario;

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { institutions: 1, merchants: 1, payers: 1 });
  });

  after(async function () {
    await chain.close();
  });

  it("answers as the chain does, and maps a revert to CALL_EXCEPTION", async function () {
    const provider = new HttpJsonRpcProvider(chain.url, Network.from(BigInt(s.deployment.chainId)), { staticNetwork: true, cacheTimeout: -1 });
    try {
      expect(await provider.getBlockNumber()).to.equal(await chain.provider.getBlockNumber());
      const blocks = await Promise.all(Array.from({ length: 50 }, () => provider.getBlockNumber()));
      expect(new Set(blocks).size).to.equal(1);
      // A call to the escrow with calldata that matches no function reverts.
      const error = await provider.call({ to: s.deployment.contracts.escrow, data: "0xdeadbeef" }).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isError(error, "CALL_EXCEPTION"), String(error)).to.equal(true);
    } finally {
      provider.destroy();
    }
  });

  it("refuses with NETWORK_ERROR once the server is gone", async function () {
    const server = http.createServer((request, response) => {
      request.resume();
      request.on("end", () => response.setHeader("content-type", "application/json").end(JSON.stringify({ jsonrpc: "2.0", id: 1, result: "0x2a" })));
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const { port } = server.address() as { port: number };
    const provider = new HttpJsonRpcProvider(`http://127.0.0.1:${port}`, Network.from(1n), { staticNetwork: true, cacheTimeout: -1 });
    try {
      expect(await provider.send("eth_blockNumber", [])).to.equal("0x2a");
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      const error = await provider.send("eth_blockNumber", []).then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(isError(error, "NETWORK_ERROR"), String(error)).to.equal(true);
    } finally {
      provider.destroy();
    }
  });
});
