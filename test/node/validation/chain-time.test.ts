/**
 * Deadlines by chain time: a real node (in this process, real chain and LevelDB) whose chain runs ten
 * minutes ahead of this machine's clock refuses as EXPIRED a payment whose deadline is still five
 * minutes away by the machine's clock, as the escrow would (it checks block.timestamp), and reports
 * the offset as a metric.
 */
import { expect } from "chai";

import { bearer } from "../../../core/api/auth.js";
import type { EscrowOperationInput } from "../../../core/operations/index.js";
import { waitFor } from "../../helpers/network.js";
import { signedPay, termsFor } from "../../helpers/operations.js";
import { startApiNode, type ApiNode } from "../../core/api/fixture.js";

const AHEAD = 600;

function gauge(text: string, name: string): number | undefined {
  const line = text.split("\n").find((l) => l.startsWith(`${name} `));
  return line === undefined ? undefined : Number(line.slice(name.length + 1));
}

describe("node validation: deadlines by chain time", function () {
  this.timeout(180_000);
  let api: ApiNode;

  before(async function () {
    api = await startApiNode();
  });
  after(async function () {
    await api?.stop();
  });

  const submit = (op: EscrowOperationInput) =>
    api.node.api.inject({ method: "POST", url: "/v1/operations", headers: { authorization: bearer(api.credentials.gateway) }, payload: op });

  it("refuses as EXPIRED a deadline passed on the chain though not by this machine's clock, and reports the offset", async function () {
    const wall = () => Math.floor(Date.now() / 1000);
    const ahead = wall() + AHEAD;
    await api.chain.provider.send("evm_setNextBlockTimestamp", [ahead]);
    await api.chain.provider.send("evm_mine", []);
    // The node reads the chain's head in the background: wait until its clock has the new block.
    const metrics = await waitFor("the node's chain time to reach the new block", async () => {
      const text = await api.client.metrics();
      return (gauge(text, "settlenet_chain_time_seconds") ?? 0) >= ahead ? text : undefined;
    });
    expect(gauge(metrics, "settlenet_clock_offset_seconds")).to.be.at.most(-AHEAD + 5);

    const machineFuture = await signedPay(api.scenario, await termsFor(api.scenario, 0, 0, { payDeadline: BigInt(wall() + AHEAD / 2) }));
    const refused = await submit(machineFuture.op);
    expect([refused.statusCode, refused.json<{ code: string }>().code, refused.json<{ action: string }>().action]).to.deep.equal([422, "EXPIRED", "ignore"]);
    expect(await api.client.operation(machineFuture.paymentId)).to.equal(undefined);

    // termsFor takes the deadline from the chain's latest block: an hour of chain time is accepted.
    const chainFuture = await signedPay(api.scenario, await termsFor(api.scenario, 0, 0));
    expect((await submit(chainFuture.op)).statusCode).to.equal(202);
  });
});
