/**
 * freeze — a regulator freezes or unfreezes an account on the token: a frozen account can neither send
 * nor receive it (so it can neither pay nor be paid in that currency).
 */
import { z } from "zod";

import { nonceUsed } from "./descriptor.js";
import { TOKEN_REFUSALS, signedArgsOf, signedCallArgs, type TokenOperationDescriptor } from "./token.js";
import { eip712Struct, field } from "./typed-data.js";
import { addressSchema, bytes32Schema, signedFields } from "./wire.js";

const schema = z.strictObject({
  kind: z.literal("freeze"),
  token: addressSchema,
  account: addressSchema,
  frozen: z.boolean(),
  reason: bytes32Schema,
  ...signedFields,
});

/** A parsed freeze (or unfreeze, `frozen: false`). */
export type FreezeOperation = z.output<typeof schema>;

/** The freeze operation. */
export const freeze = {
  kind: "freeze",
  contract: "token",
  schema,
  struct: eip712Struct("Freeze", [field("account", "address"), field("frozen", "bool"), field("reason", "bytes32"), field("nonce", "uint256"), field("deadline", "uint256")]),
  message: (op) => ({ account: op.account, frozen: op.frozen, reason: op.reason, nonce: op.nonce, deadline: op.deadline }),
  signer: "regulator",
  functionName: "setFrozenWithSig",
  callArgs: (op) => [op.account, op.frozen, op.reason, ...signedCallArgs(op)],
  fromCall: (token, args) => ({ kind: "freeze", token, account: String(args[0]), frozen: Boolean(args[1]), reason: String(args[2]), ...signedArgsOf(args, 3) }),
  executedBy: "FreezeChanged",
  alreadyExecuted: nonceUsed,
  refusals: [...TOKEN_REFUSALS, "NOT_REGULATOR"],
} as const satisfies TokenOperationDescriptor<FreezeOperation>;
