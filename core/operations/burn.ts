/**
 * burn — a custodian institution of the token burns from an account for a bank payout (spending that
 * account's allowance to the custodian's signer when it is another account).
 */
import { z } from "zod";

import { nonceUsed } from "./descriptor.js";
import { TOKEN_REFUSALS, signedArgsOf, signedCallArgs, type TokenOperationDescriptor } from "./token.js";
import { eip712Struct, field } from "./typed-data.js";
import { addressSchema, bytes32Schema, positiveAmount, signedFields } from "./wire.js";

const schema = z.strictObject({
  kind: z.literal("burn"),
  token: addressSchema,
  from: addressSchema,
  amount: positiveAmount(256, "amount must be positive"),
  bankRef: bytes32Schema,
  ...signedFields,
});

/** A parsed burn. */
export type BurnOperation = z.output<typeof schema>;

/** The burn operation. */
export const burn = {
  kind: "burn",
  contract: "token",
  schema,
  struct: eip712Struct("Burn", [field("from", "address"), field("amount", "uint256"), field("bankRef", "bytes32"), field("nonce", "uint256"), field("deadline", "uint256")]),
  message: (op) => ({ from: op.from, amount: op.amount, bankRef: op.bankRef, nonce: op.nonce, deadline: op.deadline }),
  signer: "custodian",
  movedAccount: (op) => op.from,
  functionName: "burnWithSig",
  callArgs: (op) => [op.from, op.amount, op.bankRef, ...signedCallArgs(op)],
  fromCall: (token, args) => ({ kind: "burn", token, from: String(args[0]), amount: args[1] as bigint, bankRef: String(args[2]), ...signedArgsOf(args, 3) }),
  executedBy: "Burned",
  alreadyExecuted: nonceUsed,
  refusals: [...TOKEN_REFUSALS, "ACCOUNT_NOT_PERMITTED", "ACCOUNT_FROZEN", "NOT_CUSTODIAN"],
} as const satisfies TokenOperationDescriptor<BurnOperation>;
