/**
 * Releases and reclaims before they are due, against a real node (in this process, real chain and
 * LevelDB): ignored at validation with NOT_DUE (not rejected: the sender is not at fault), nothing
 * stored, so the payment's one release id stays free and the release sent once it is due executes; and
 * a release whose execution failed (here: the token paused) does not block the one sent after.
 */
import { expect } from "chai";

import { bearer } from "../../../core/api/auth.js";
import { signEscrowOperation, termsToJson, type EscrowOperationInput, type PaymentTerms } from "../../../core/operations/index.js";
import { waitFor } from "../../helpers/network.js";
import { operationIdOfInput, signedPay, termsFor } from "../../helpers/operations.js";
import { startApiNode, type ApiNode } from "../../core/api/fixture.js";

describe("node validation: releases and reclaims before they are due", function () {
  this.timeout(180_000);
  let api: ApiNode;

  before(async function () {
    api = await startApiNode();
  });
  after(async function () {
    await api?.stop();
  });

  const context = () => ({ chainId: BigInt(api.scenario.deployment.chainId), escrow: api.scenario.deployment.contracts.escrow });
  const chainTime = async () => (await api.chain.provider.getBlock("latest"))!.timestamp;
  const submit = (op: EscrowOperationInput) =>
    api.node.api.inject({ method: "POST", url: "/v1/operations", headers: { authorization: bearer(api.credentials.gateway) }, payload: op });
  const executed = (id: string) => waitFor(`${id} executed`, async () => (await api.client.operation(id))?.status === "executed", 60_000, 100);
  const indexedAs = (paymentId: string, status: string) =>
    waitFor(`payment ${status}`, async () => (await api.client.payment(paymentId))?.payment?.status === status, 60_000, 100);
  const mineAt = async (timestamp: number) => {
    await api.chain.provider.send("evm_setNextBlockTimestamp", [timestamp]);
    await api.chain.provider.send("evm_mine", []);
  };

  async function paid(terms: PaymentTerms): Promise<string> {
    const { op, paymentId } = await signedPay(api.scenario, terms);
    expect((await submit(op)).statusCode).to.equal(202);
    await executed(paymentId);
    await indexedAs(paymentId, "held");
    return paymentId;
  }

  it("ignores a release before the auto-release time (NOT_DUE, nothing stored), then executes the one sent once due", async function () {
    const terms = await termsFor(api.scenario, 0, 0, { autoReleasePeriod: 600 });
    const paymentId = await paid(terms);
    const release: EscrowOperationInput = { kind: "release", terms: termsToJson(terms) };
    const releaseId = operationIdOfInput(api.scenario, release);

    // Held, not fulfilled: not due.
    const early = await submit(release);
    expect([early.statusCode, early.json<{ code: string; action: string }>().code, early.json<{ action: string }>().action]).to.deep.equal([422, "NOT_DUE", "ignore"]);

    const merchant = api.scenario.merchants[0]!;
    const fulfil = await signEscrowOperation(merchant, { kind: "markFulfilled", terms: termsToJson(terms), nonce: "1", deadline: String((await chainTime()) + 3_600) }, context());
    expect((await submit(fulfil)).statusCode).to.equal(202);
    await indexedAs(paymentId, "fulfilled");
    const releaseAt = (await api.client.payment(paymentId))!.payment!.deadline;

    // Fulfilled, one second before the release time in chain time: still not due, and not stored.
    await mineAt(releaseAt - 1);
    const tooSoon = await submit(release);
    expect([tooSoon.statusCode, tooSoon.json<{ code: string }>().code]).to.deep.equal([422, "NOT_DUE"]);
    expect(await api.client.operation(releaseId)).to.equal(undefined);

    // Due (the latest block is at the release time): accepted under the same id and executed.
    await mineAt(releaseAt);
    const due = await submit(release);
    expect(due.statusCode, due.body).to.equal(202);
    await executed(releaseId);
    await indexedAs(paymentId, "released");
  });

  it("takes a release again after its execution failed, and executes the later one", async function () {
    const terms = await termsFor(api.scenario, 2 % api.scenario.payers.length, 0, { autoReleasePeriod: 600 });
    const paymentId = await paid(terms);
    const merchant = api.scenario.merchants[0]!;
    const fulfil = await signEscrowOperation(merchant, { kind: "markFulfilled", terms: termsToJson(terms), nonce: "2", deadline: String((await chainTime()) + 3_600) }, context());
    expect((await submit(fulfil)).statusCode).to.equal(202);
    await indexedAs(paymentId, "fulfilled");
    await mineAt((await api.client.payment(paymentId))!.payment!.deadline);

    const release: EscrowOperationInput = { kind: "release", terms: termsToJson(terms) };
    const releaseId = operationIdOfInput(api.scenario, release);
    const token = api.scenario.token.connect(api.scenario.admin);
    await (await token.pause()).wait();
    try {
      expect((await submit(release)).statusCode).to.equal(202);
      await waitFor("the release to fail", async () => (await api.client.operation(releaseId))?.status === "failed", 60_000, 100);
    } finally {
      await (await token.unpause()).wait();
    }
    const again = await submit(release);
    expect(again.statusCode, again.body).to.equal(202);
    await executed(releaseId);
    await indexedAs(paymentId, "released");
    // Accepted once more, never twice: a third one is a duplicate now that it executed.
    expect((await submit(release)).json<{ code: string }>().code).to.equal("DUPLICATE");
  });

  it("ignores a reclaim until the fulfilment deadline has passed in chain time, then executes it", async function () {
    const terms = await termsFor(api.scenario, 1, 0, { fulfilmentPeriod: 600 });
    const paymentId = await paid(terms);
    const deadline = (await api.client.payment(paymentId))!.payment!.deadline;
    const payer = api.scenario.payers[1]!;
    const reclaim = (nonce: string) =>
      signEscrowOperation(payer, { kind: "reclaim", terms: termsToJson(terms), nonce, deadline: String(deadline + 3_600) }, context());

    await mineAt(deadline);
    const early = await submit(await reclaim("7"));
    expect([early.statusCode, early.json<{ code: string; action: string }>().code, early.json<{ action: string }>().action]).to.deep.equal([422, "NOT_DUE", "ignore"]);
    // Nothing of it was stored: not even its nonce is taken.
    await mineAt(deadline + 1);
    const op = await reclaim("7");
    const due = await submit(op);
    expect(due.statusCode, due.body).to.equal(202);
    await executed(operationIdOfInput(api.scenario, op));
    await indexedAs(paymentId, "reclaimed");
  });
});
