/**
 * A pay its payer cannot fund is refused on the API (two institution nodes as real processes on a real
 * chain, payers funded with a small balance): above the balance, above the balance less the payer's
 * pending pays (in one batch and across calls) or its pending redemption, and without an allowance to
 * the escrow. Nothing refused
 * is stored on any node, and the same signed pay is taken once the payer is funded.
 */
import { expect } from "chai";
import { MaxUint256, Signature } from "ethers";

import type { EscrowOperationInput } from "../../core/operations/index.js";
import { PERMIT_TYPES, tokenDomain } from "../../core/protocol/eip712.js";
import { getJson, launchNetwork, metricTotal, postJson, waitFor, waitForOperation, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { signedPay, termsFor } from "../helpers/operations.js";
import { randomRef, signedTokenOp, tokenOperationIdOf } from "../helpers/tokens.js";

/** What each payer is minted at onboarding (minor units). */
const FUNDS = 5_000n;

interface BatchAnswer {
  results: { id?: string; status: "accepted" | "refused"; code?: string }[];
}

describe("a pay its payer cannot fund is refused on the API and leaves no trace (real processes)", function () {
  this.timeout(180_000);
  let net: TestNetwork;
  let entry: NodeHandle;

  before(async function () {
    net = await launchNetwork({ institutions: 2, regulator: false, payers: 3, merchants: 1, payerFunds: FUNDS });
    entry = net.nodes[0] as NodeHandle;
  });
  after(async function () {
    await net?.stop();
  });

  const submit = <T = unknown>(body: unknown, node = entry) => postJson<T>(`${node.apiUrl}/v1/operations`, body);
  const pay = async (payer: number, amount: bigint) => signedPay(net.scenario, await termsFor(net.scenario, payer, 0, { amount }));

  async function expectRefused(op: EscrowOperationInput, paymentId: string, code: string): Promise<void> {
    const answer = await submit<{ code: string; status: number }>(op);
    expect({ status: answer.status, code: answer.body.code }).to.deep.equal({ status: 422, code });
    for (const node of net.nodes) expect((await getJson(`${node.apiUrl}/v1/operations/${paymentId}`)).status, node.name).to.equal(404);
  }

  it("refuses a pay above the payer's balance (PAYER_INSUFFICIENT_BALANCE), then takes the same signature once the payer is funded", async function () {
    const s = net.scenario;
    const { op, paymentId } = await pay(0, FUNDS + 1n);
    await expectRefused(op, paymentId, "PAYER_INSUFFICIENT_BALANCE");
    expect((await s.contracts.escrow.paymentOf(paymentId)).status).to.equal(0n);

    const custodian = s.institutions[0];
    const payer = s.payers[0];
    if (!custodian || !payer) throw new Error("scenario incomplete");
    const mint = await signedTokenOp(s, custodian, { kind: "mint", to: payer.address, amount: "1", bankRef: randomRef() });
    expect((await submit(mint)).status).to.equal(202);
    await waitForOperation(net.nodes, tokenOperationIdOf(s, mint));

    expect((await submit(op)).status).to.equal(202);
    await waitForOperation(net.nodes, paymentId);
    expect(await s.token.balanceOf(payer.address)).to.equal(0n);
  });

  it("counts the payer's pending pays against its balance, within one batch and across calls", async function () {
    const s = net.scenario;
    const half = FUNDS / 2n;
    const [a, b, c] = [await pay(1, half), await pay(1, half), await pay(1, 1n)];
    const answer = await submit<BatchAnswer>({ operations: [a.op, b.op, c.op] });
    expect(answer.status).to.equal(202);
    expect(answer.body.results.map((r) => r.code ?? r.status)).to.deep.equal(["accepted", "accepted", "PAYER_INSUFFICIENT_BALANCE"]);
    // Whether or not the first two are on-chain yet, nothing is left for another pay.
    await expectRefused(c.op, c.paymentId, "PAYER_INSUFFICIENT_BALANCE");
    await waitForOperation(net.nodes, a.paymentId);
    await waitForOperation(net.nodes, b.paymentId);
    // Executed: refused once the entry node's mirror holds the block, whatever the pending debits say (a
    // relay that finds its pay already executed cannot tell the block, and the node then lets a pay
    // through rather than refuse one the chain would take).
    const executedBy = await s.chain.provider.getBlockNumber();
    await waitFor("the entry node's mirror to hold the executions", async () => (await metricTotal(entry, "settlenet_balance_mirror_block")) >= executedBy);
    await expectRefused(c.op, c.paymentId, "PAYER_INSUFFICIENT_BALANCE");
    expect(await s.token.balanceOf(s.payers[1]?.address ?? "")).to.equal(0n);
  });

  it("counts the payer's pending redemption against its balance: the pay after it in one batch is refused, a pay within what is left is taken", async function () {
    const s = net.scenario;
    const custodian = s.institutions[0];
    const payer = s.payers[0];
    if (!custodian || !payer) throw new Error("scenario incomplete");
    const before = await s.token.balanceOf(payer.address);
    const mint = await signedTokenOp(s, custodian, { kind: "mint", to: payer.address, amount: "1000", bankRef: randomRef() });
    expect((await submit(mint)).status).to.equal(202);
    const [minted] = await waitForOperation([entry], tokenOperationIdOf(s, mint));
    const funded = before + 1_000n;
    // Once its mirror holds the mint, the node judges from the mirror less what is pending.
    await waitFor("the entry node's mirror to hold the mint's block", async () => (await metricTotal(entry, "settlenet_balance_mirror_block")) >= (minted?.execution?.blockNumber ?? Infinity));

    const redeem = await signedTokenOp(s, payer, { kind: "redeem", holder: payer.address, custodian: custodian.address, amount: (funded - 400n).toString(), bankRef: randomRef() });
    const [over, within] = [await pay(0, 401n), await pay(0, 400n)];
    const answer = await submit<BatchAnswer>({ operations: [redeem, over.op] });
    expect(answer.status).to.equal(202);
    expect(answer.body.results.map((r) => r.code ?? r.status)).to.deep.equal(["accepted", "PAYER_INSUFFICIENT_BALANCE"]);
    expect((await submit(within.op)).status).to.equal(202);
    await waitForOperation(net.nodes, tokenOperationIdOf(s, redeem));
    await waitForOperation(net.nodes, within.paymentId);
    expect(await s.token.balanceOf(payer.address)).to.equal(0n);
    await expectRefused(over.op, over.paymentId, "PAYER_INSUFFICIENT_BALANCE");
  });

  it("refuses a pay whose payer no longer allows the escrow to take it (PAYER_ALLOWANCE_MISSING)", async function () {
    const s = net.scenario;
    const payer = s.payers[2];
    if (!payer) throw new Error("scenario incomplete");
    const escrow = s.deployment.contracts.escrow;
    const token = await s.token.getAddress();
    // The payer withdraws its allowance with a permit of 0, sent by the governance key.
    const nonce = await s.token.nonces(payer.address);
    const deadline = BigInt((await s.chain.provider.getBlock("latest"))?.timestamp ?? 0) + 3_600n;
    const domain = tokenDomain(BigInt(s.deployment.chainId), token, await s.token.name());
    const signature = Signature.from(await payer.signTypedData(domain, PERMIT_TYPES, { owner: payer.address, spender: escrow, value: 0n, nonce, deadline }));
    const withdrawn = await (await s.token.connect(s.admin).permit(payer.address, escrow, 0n, deadline, signature.v, signature.r, signature.s)).wait();
    expect(await s.token.allowance(payer.address, escrow)).to.equal(0n);
    // Until its mirror has the permit's block, the node takes the pay (the chain refuses it): it never refuses on a guess.
    await waitFor("the entry node's mirror to hold the permit's block", async () => (await metricTotal(entry, "settlenet_balance_mirror_block")) >= (withdrawn?.blockNumber ?? Infinity));

    const { op, paymentId } = await pay(2, 100n);
    await expectRefused(op, paymentId, "PAYER_ALLOWANCE_MISSING");

    const again = Signature.from(await payer.signTypedData(domain, PERMIT_TYPES, { owner: payer.address, spender: escrow, value: MaxUint256, nonce: nonce + 1n, deadline }));
    await (await s.token.connect(s.admin).permit(payer.address, escrow, MaxUint256, deadline, again.v, again.r, again.s)).wait();
    // The mirror may still hold the withdrawn allowance: its shortfall is checked on-chain, which has it back.
    expect((await submit(op)).status).to.equal(202);
    await waitForOperation(net.nodes, paymentId);
  });
});
