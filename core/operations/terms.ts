/**
 * Payment terms: what a payer signs to pay (the EIP-712 `Payment` struct of PaymentEscrow). Their
 * digest under the escrow's domain is the payment id, which every escrow operation refers to.
 */
import { z } from "zod";

import { escrowDomain } from "../protocol/eip712.js";
import { domainSeparatorOf, eip712Struct, field, structDigest } from "./typed-data.js";
import { addressSchema, bytes32Schema, positiveAmount, uintNumber, uintString } from "./wire.js";

/** The terms on the wire: money, deadline and nonce as decimal strings; fee and periods as JSON numbers. */
export const paymentTermsSchema = z.strictObject({
  payer: addressSchema,
  merchant: addressSchema,
  token: addressSchema,
  // The escrow keeps amounts in 96 bits.
  amount: positiveAmount(96, "amount must be positive"),
  orderId: bytes32Schema,
  feeBps: uintNumber(10_000),
  direct: z.boolean(),
  payDeadline: uintString(64),
  fulfilmentPeriod: uintNumber(0xffffffff),
  autoReleasePeriod: uintNumber(0xffffffff),
  refundPeriod: uintNumber(0xffffffff),
  nonce: uintString(256),
});

/** Payment terms as TypeScript values (money in bigint minor units). */
export type PaymentTerms = z.output<typeof paymentTermsSchema>;
/** Payment terms in their JSON wire form. */
export type PaymentTermsInput = z.input<typeof paymentTermsSchema>;

/** `Payment(address payer,...,uint256 nonce)`: the struct a payer signs (PaymentEscrow.PAYMENT_TYPEHASH). */
export const PAYMENT_STRUCT = eip712Struct("Payment", [
  field("payer", "address"),
  field("merchant", "address"),
  field("token", "address"),
  field("amount", "uint256"),
  field("orderId", "bytes32"),
  field("feeBps", "uint16"),
  field("direct", "bool"),
  field("payDeadline", "uint64"),
  field("fulfilmentPeriod", "uint32"),
  field("autoReleasePeriod", "uint32"),
  field("refundPeriod", "uint32"),
  field("nonce", "uint256"),
]);

/** The `Payment` struct in the form ethers' signTypedData takes. */
export const PAYMENT_TYPES = PAYMENT_STRUCT.types;

/** Chain context that scopes escrow operation ids and signatures. */
export interface EscrowContext {
  chainId: bigint;
  escrow: string;
}

/** The escrow's EIP-712 domain separator. */
export function escrowDomainSeparator(ctx: EscrowContext): Buffer {
  return domainSeparatorOf(escrowDomain(ctx.chainId, ctx.escrow));
}

/** Payment id: the EIP-712 digest of the terms (what PaymentEscrow.paymentIdOf returns). */
export function paymentIdOf(terms: PaymentTerms, ctx: EscrowContext): string {
  return structDigest(escrowDomainSeparator(ctx), PAYMENT_STRUCT, terms);
}

/** JSON form of terms (bigints as decimal strings) for the wire. */
export function termsToJson(terms: PaymentTerms): PaymentTermsInput {
  return {
    ...terms,
    amount: terms.amount.toString(),
    payDeadline: terms.payDeadline.toString(),
    nonce: terms.nonce.toString(),
  };
}
