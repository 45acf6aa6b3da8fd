/**
 * Signed pay operations for the load generators, signed as a payer's wallet would sign them: the
 * EIP-712 payment digest (= payment id) signed with libsecp256k1, so signing stays cheap next to the
 * system under test. The node refuses any that is not exactly right (BAD_SIGNATURE), so a wrong
 * signature here cannot go unnoticed.
 */
import { createRequire } from "node:module";
import { randomBytes } from "node:crypto";

import { hexlify } from "ethers";
import type * as Secp256k1 from "secp256k1";

import { paymentIdOf, termsToJson, type EscrowContext, type EscrowOperationInput, type PaymentTerms } from "../../core/operations/index.js";
import type { Cluster } from "./cluster.js";

const require = createRequire(import.meta.url);
const secp256k1 = require("secp256k1") as typeof Secp256k1;

/** r ‖ s ‖ v (27/28) of `digest` signed with `privateKey` (both 0x hex). */
export function signDigest(digest: string, privateKey: string): string {
  const { signature, recid } = secp256k1.ecdsaSign(Buffer.from(digest.slice(2), "hex"), Buffer.from(privateKey.slice(2), "hex"));
  return `0x${Buffer.from(signature).toString("hex")}${(27 + recid).toString(16)}`;
}

export interface PayParty {
  payer: { address: string; privateKey: string };
  merchant: string;
  token: string;
  feeBps: number;
}

/** A signed `pay` of `amount` in wire form, with its payment id (= operation id). */
export function signedPay(party: PayParty, ctx: EscrowContext, payDeadline: bigint, amount = 100n): { id: string; op: EscrowOperationInput } {
  const terms: PaymentTerms = {
    payer: party.payer.address,
    merchant: party.merchant,
    token: party.token,
    amount,
    orderId: hexlify(randomBytes(32)),
    feeBps: party.feeBps,
    direct: false,
    payDeadline,
    fulfilmentPeriod: 7 * 86_400,
    autoReleasePeriod: 3 * 86_400,
    refundPeriod: 30 * 86_400,
    nonce: BigInt(hexlify(randomBytes(32))),
  };
  const id = paymentIdOf(terms, ctx);
  return { id, op: { kind: "pay", terms: termsToJson(terms), signature: signDigest(id, party.payer.privateKey) } };
}

/**
 * Signs the `i`-th CNY pay of a cluster's scenario: payers and merchants taken in turn, 1% fee, a pay
 * deadline an hour from when the signer was made.
 */
export function clusterPaySigner(scenario: Cluster["net"]["scenario"]): (i: number) => { id: string; op: EscrowOperationInput } {
  const deployment = scenario.deployment;
  const ctx: EscrowContext = { chainId: BigInt(deployment.chainId), escrow: deployment.contracts.escrow };
  const token = deployment.tokens["CNY"]?.address;
  if (!token) throw new Error("no CNY token");
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 3_600);
  return (i) => {
    const payer = scenario.payers[i % scenario.payers.length] as { address: string; privateKey: string };
    const merchant = (scenario.merchants[i % scenario.merchants.length] as { address: string }).address;
    return signedPay({ payer, merchant, token, feeBps: 100 }, ctx, deadline);
  };
}
