/**
 * redeem — a holder (a merchant, through the gateway that keeps its key) burns its own balance for a
 * bank payout drawn on a custodian's reserves. Signed by the holder, so no allowance to anyone is
 * needed; the bank reference is redeemed at most once, and the custodian's bank pays only once the
 * `Redeemed` event carrying it is final.
 */
import { z } from "zod";

import { nonceUsed } from "./descriptor.js";
import { TOKEN_REFUSALS, signedArgsOf, signedCallArgs, type TokenOperationDescriptor } from "./token.js";
import { eip712Struct, field } from "./typed-data.js";
import { addressSchema, bytes32Schema, positiveAmount, signedFields } from "./wire.js";

const schema = z.strictObject({
  kind: z.literal("redeem"),
  token: addressSchema,
  holder: addressSchema,
  custodian: addressSchema,
  amount: positiveAmount(256, "amount must be positive"),
  bankRef: bytes32Schema,
  ...signedFields,
});

/** A parsed redemption. */
export type RedeemOperation = z.output<typeof schema>;

/** The redeem operation. */
export const redeem = {
  kind: "redeem",
  contract: "token",
  schema,
  struct: eip712Struct("Redeem", [
    field("holder", "address"),
    field("custodian", "address"),
    field("amount", "uint256"),
    field("bankRef", "bytes32"),
    field("nonce", "uint256"),
    field("deadline", "uint256"),
  ]),
  message: (op) => ({ holder: op.holder, custodian: op.custodian, amount: op.amount, bankRef: op.bankRef, nonce: op.nonce, deadline: op.deadline }),
  signer: "holder",
  signerAccount: (op) => op.holder,
  movedAccount: (op) => op.holder,
  functionName: "redeemWithSig",
  callArgs: (op) => [op.holder, op.custodian, op.amount, op.bankRef, ...signedCallArgs(op)],
  fromCall: (token, args) => ({
    kind: "redeem",
    token,
    holder: String(args[0]),
    custodian: String(args[1]),
    amount: args[2] as bigint,
    bankRef: String(args[3]),
    ...signedArgsOf(args, 4),
  }),
  executedBy: "Redeemed",
  alreadyExecuted: nonceUsed,
  refusals: [...TOKEN_REFUSALS, "ACCOUNT_NOT_PERMITTED", "ACCOUNT_FROZEN", "NOT_CUSTODIAN"],
} as const satisfies TokenOperationDescriptor<RedeemOperation>;
