/**
 * attestReserves — a custodian institution of the token records its reserves at its bank (amount and
 * statement hash); later mints are capped by it. An attestation below the outstanding supply is
 * recorded as the truth and blocks mints until reserves recover.
 */
import { z } from "zod";

import { nonceUsed } from "./descriptor.js";
import { TOKEN_REFUSALS, signedArgsOf, signedCallArgs, type TokenOperationDescriptor } from "./token.js";
import { eip712Struct, field } from "./typed-data.js";
import { addressSchema, bytes32Schema, signedFields, uintString } from "./wire.js";

const schema = z.strictObject({
  kind: z.literal("attestReserves"),
  token: addressSchema,
  amount: uintString(256),
  statementHash: bytes32Schema,
  ...signedFields,
});

/** A parsed attestReserves. */
export type AttestReservesOperation = z.output<typeof schema>;

/** The attestReserves operation. */
export const attestReserves = {
  kind: "attestReserves",
  contract: "token",
  schema,
  struct: eip712Struct("AttestReserves", [field("amount", "uint256"), field("statementHash", "bytes32"), field("nonce", "uint256"), field("deadline", "uint256")]),
  message: (op) => ({ amount: op.amount, statementHash: op.statementHash, nonce: op.nonce, deadline: op.deadline }),
  signer: "custodian",
  functionName: "attestReservesWithSig",
  callArgs: (op) => [op.amount, op.statementHash, ...signedCallArgs(op)],
  fromCall: (token, args) => ({ kind: "attestReserves", token, amount: args[0] as bigint, statementHash: String(args[1]), ...signedArgsOf(args, 2) }),
  executedBy: "ReservesAttested",
  alreadyExecuted: nonceUsed,
  refusals: [...TOKEN_REFUSALS, "NOT_CUSTODIAN"],
} as const satisfies TokenOperationDescriptor<AttestReservesOperation>;
