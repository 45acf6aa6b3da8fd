/**
 * Operators' chain actions against a chain node that answers with an error ethers cannot classify
 * (a stand-in for an overloaded or non-standard node): the refusal names the node's own answer, not
 * only ethers' "could not coalesce error".
 */
import http from "node:http";

import { expect } from "chai";
import { JsonRpcProvider, Network, Wallet } from "ethers";

import { SettlenetError } from "../../../core/errors.js";
import { actorOf, sendValue } from "../../../core/operator/chain.js";

describe("operator chain actions", function () {
  it("names the chain node's own answer to a request ethers cannot classify", async function () {
    const server = http.createServer((request, response) => {
      let body = "";
      request.on("data", (chunk: Buffer) => (body += chunk.toString()));
      request.on("end", () => {
        const { id, method } = JSON.parse(body) as { id: number; method: string };
        // The nonce is answered: NonceManager reads it beside the rest, and leaves its failure unhandled.
        const answers: Record<string, string> = { eth_chainId: "0x7a69", eth_getTransactionCount: "0x0", eth_estimateGas: "0x5208" };
        const answer = answers[method] !== undefined ? { result: answers[method] } : { error: { code: -32603, message: "request timed out in the node's queue" } };
        response.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ jsonrpc: "2.0", id, ...answer }));
      });
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    const address = server.address();
    const provider = new JsonRpcProvider(`http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`, Network.from(31337n), { staticNetwork: true, batchMaxCount: 1 });
    try {
      const actor = await actorOf(Wallet.createRandom().connect(provider));
      const error = await sendValue(actor, Wallet.createRandom().address, 1n, "a transfer").then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(error).to.be.instanceOf(SettlenetError);
      expect((error as SettlenetError).code).to.equal("TX_FAILED");
      expect((error as Error).message).to.include("-32603").and.to.include("request timed out in the node's queue").and.to.include("eth_");
    } finally {
      provider.destroy();
      server.close();
    }
  });
});
