/** Builds signed operations in their JSON wire form from a deployed scenario, as a payer's wallet or a merchant would. */
import { hexlify, randomBytes, type Signer } from "ethers";

import {
  escrowOperationSchema,
  operationIdOf,
  paymentIdOf,
  signEscrowOperation,
  termsToJson,
  type EscrowOperationInput,
  type PaymentTerms,
  type PaymentTermsInput,
} from "../../core/operations/index.js";
import type { Scenario } from "./chain.js";

let nonce = BigInt(Date.now()) * 1000n;

/** Payment terms from payer `payerIndex` to merchant `merchantIndex` (defaults: 100.00, escrow, 1 h to pay). */
export async function termsFor(s: Scenario, payerIndex = 0, merchantIndex = 0, overrides: Partial<PaymentTerms> = {}): Promise<PaymentTerms> {
  const payer = s.payers[payerIndex];
  const merchant = s.merchants[merchantIndex];
  if (!payer || !merchant) throw new Error("no such payer or merchant");
  // Chain time only when the deadline is not given (a batch of pays reads it once: signedPays).
  const now = overrides.payDeadline === undefined ? await chainNow(s) : 0n;
  nonce += 1n;
  return {
    payer: payer.address,
    merchant: merchant.address,
    token: await s.token.getAddress(),
    amount: 100_00n,
    orderId: hexlify(randomBytes(32)),
    feeBps: 100,
    direct: false,
    payDeadline: now + 3_600n,
    fulfilmentPeriod: 86_400,
    autoReleasePeriod: 86_400,
    refundPeriod: 86_400,
    nonce,
    ...overrides,
  };
}

/**
 * Well-formed payment terms in wire form, for tests that store or validate operations without a chain
 * (placeholder addresses, 10.00, payable until 2030, one-minute periods); `overrides` set what the test
 * is about.
 */
export function wireTerms(overrides: Partial<PaymentTermsInput> = {}): PaymentTermsInput {
  return {
    payer: "0x" + "11".repeat(20),
    merchant: "0x" + "22".repeat(20),
    token: "0x" + "33".repeat(20),
    amount: "1000",
    orderId: "0x" + "44".repeat(32),
    feeBps: 100,
    direct: false,
    payDeadline: "1900000000",
    fulfilmentPeriod: 60,
    autoReleasePeriod: 60,
    refundPeriod: 60,
    nonce: "1",
    ...overrides,
  };
}

/** The latest block's timestamp: deadlines are chain time. */
async function chainNow(s: Scenario): Promise<bigint> {
  return BigInt((await s.chain.provider.getBlock("latest"))?.timestamp ?? Math.floor(Date.now() / 1000));
}

function context(s: Scenario) {
  return { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow };
}

/** A pay operation signed by the terms' payer (which must be one of the scenario's payers). */
export async function signedPay(s: Scenario, terms: PaymentTerms): Promise<{ op: EscrowOperationInput; paymentId: string }> {
  const payer = s.payers.find((p) => p.address === terms.payer);
  if (!payer) throw new Error("payer not in scenario");
  const ctx = context(s);
  return { op: await signEscrowOperation(payer, { kind: "pay", terms: termsToJson(terms) }, ctx), paymentId: paymentIdOf(terms, ctx) };
}

/** `count` signed pays spread over every payer and merchant of the scenario (pay i: payer i mod n, merchant i mod m). */
export async function signedPays(s: Scenario, count: number, offset = 0): Promise<{ op: EscrowOperationInput; paymentId: string }[]> {
  const pays: { op: EscrowOperationInput; paymentId: string }[] = [];
  const payDeadline = (await chainNow(s)) + 3_600n;
  for (let i = offset; i < offset + count; i++) pays.push(await signedPay(s, await termsFor(s, i % s.payers.length, i % s.merchants.length, { payDeadline })));
  return pays;
}

/** PaymentPaid events on the scenario's escrow per payment id (lower case): more than 1 means paid twice. */
export async function paidCounts(s: Scenario): Promise<Map<string, number>> {
  const escrow = s.contracts.escrow;
  const logs = await escrow.queryFilter(escrow.filters.PaymentPaid(), s.deployment.deploymentBlock);
  const counts = new Map<string, number>();
  for (const log of logs) {
    const id = String(log.args[0]).toLowerCase();
    counts.set(id, (counts.get(id) ?? 0) + 1);
  }
  return counts;
}

/**
 * A pay over `terms` signed by `signer` under the escrow domain of `chainId` (defaults: the scenario's
 * chain): with another signer or another chain id it is a forgery the nodes must refuse.
 */
export async function forgedPay(s: Scenario, terms: PaymentTerms, signer: Signer, chainId?: bigint): Promise<{ op: EscrowOperationInput; paymentId: string }> {
  const ctx = context(s);
  const op = await signEscrowOperation(signer, { kind: "pay", terms: termsToJson(terms) }, { ...ctx, chainId: chainId ?? ctx.chainId });
  return { op, paymentId: paymentIdOf(terms, ctx) };
}

/** A confirm signed by `signer` (the payer, for a valid one). */
export async function signedConfirm(s: Scenario, terms: PaymentTerms, signer: Signer, opNonce: bigint, deadlineSeconds = 3_600n): Promise<EscrowOperationInput> {
  // Deadlines are chain time, as the contracts and the nodes judge them.
  const deadline = BigInt((await s.chain.provider.getBlock("latest"))?.timestamp ?? Math.floor(Date.now() / 1000)) + deadlineSeconds;
  return signEscrowOperation(signer, { kind: "confirm", terms: termsToJson(terms), nonce: opNonce.toString(), deadline: deadline.toString() }, context(s));
}

/** The operation id (EIP-712 digest) the nodes compute for a wire-form operation. */
export function operationIdOfInput(s: Scenario, op: EscrowOperationInput): string {
  return operationIdOf(escrowOperationSchema.parse(op), context(s));
}
