/**
 * mint — a custodian institution of the token mints to an account against a confirmed bank deposit;
 * the custodian's outstanding supply may not exceed its latest attested reserves.
 */
import { z } from "zod";

import { nonceUsed } from "./descriptor.js";
import { TOKEN_REFUSALS, signedArgsOf, signedCallArgs, type TokenOperationDescriptor } from "./token.js";
import { eip712Struct, field } from "./typed-data.js";
import { addressSchema, bytes32Schema, positiveAmount, signedFields } from "./wire.js";

const schema = z.strictObject({
  kind: z.literal("mint"),
  token: addressSchema,
  to: addressSchema,
  amount: positiveAmount(256, "amount must be positive"),
  bankRef: bytes32Schema,
  ...signedFields,
});

/** A parsed mint. */
export type MintOperation = z.output<typeof schema>;

/** The mint operation. */
export const mint = {
  kind: "mint",
  contract: "token",
  schema,
  struct: eip712Struct("Mint", [field("to", "address"), field("amount", "uint256"), field("bankRef", "bytes32"), field("nonce", "uint256"), field("deadline", "uint256")]),
  message: (op) => ({ to: op.to, amount: op.amount, bankRef: op.bankRef, nonce: op.nonce, deadline: op.deadline }),
  signer: "custodian",
  movedAccount: (op) => op.to,
  functionName: "mintWithSig",
  callArgs: (op) => [op.to, op.amount, op.bankRef, ...signedCallArgs(op)],
  fromCall: (token, args) => ({ kind: "mint", token, to: String(args[0]), amount: args[1] as bigint, bankRef: String(args[2]), ...signedArgsOf(args, 3) }),
  executedBy: "Minted",
  alreadyExecuted: nonceUsed,
  refusals: [...TOKEN_REFUSALS, "ACCOUNT_NOT_PERMITTED", "ACCOUNT_FROZEN", "NOT_CUSTODIAN"],
} as const satisfies TokenOperationDescriptor<MintOperation>;
