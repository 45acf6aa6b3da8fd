/**
 * release — anyone releases a fulfilled payment once its auto-release time has come: what is held goes
 * to the merchant, less the fee. Unsigned (no actor, no nonce), so its id is a hash of the payment id:
 * one release per payment, whoever sends it; nodes ignore one that is not due yet (NOT_DUE), so a
 * premature release never takes that id.
 */
import { concat, keccak256, toUtf8Bytes } from "ethers";
import { z } from "zod";

import { PAYMENT_STATUSES } from "../protocol/eip712.js";
import { RECEIPT_REFUSALS } from "./descriptor.js";
import type { EscrowOperationDescriptor } from "./escrow.js";
import { paymentTermsSchema } from "./terms.js";

const schema = z.strictObject({ kind: z.literal("release"), terms: paymentTermsSchema });

/** A parsed release. */
export type ReleaseOperation = z.output<typeof schema>;

const RELEASE_PREFIX = toUtf8Bytes("settlenet.release:");
const RELEASED = PAYMENT_STATUSES.indexOf("released");

/** The release operation. */
export const release = {
  kind: "release",
  contract: "escrow",
  contractKind: 3,
  schema,
  struct: undefined,
  signer: "none",
  createsPayment: false,
  consumesNonce: false,
  operationId: (_op, paymentId) => keccak256(concat([RELEASE_PREFIX, paymentId])),
  operationIdOfPayment: (paymentId) => keccak256(concat([RELEASE_PREFIX, paymentId])),
  deadline: () => undefined,
  contractFields: () => ({}),
  fromContract: (item) => ({ kind: "release", terms: item.terms }),
  executedBy: [{ event: "PaymentReleased" }],
  repeatable: false,
  // Without a nonce, a second release meets the payment Released already (InvalidPaymentStatus(id, status)).
  alreadyExecuted: (refusal) => refusal.code === "InvalidPaymentStatus" && Number(refusal.args?.[1]) === RELEASED,
  refusals: [...RECEIPT_REFUSALS, "UNKNOWN_PAYMENT", "NOT_DUE"],
} as const satisfies EscrowOperationDescriptor<ReleaseOperation>;
