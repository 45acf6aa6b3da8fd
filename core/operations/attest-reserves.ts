/**
 * attestReserves — the custodian's independent reserve attestor (named per custodian in the registry:
 * its bank or auditor) states the custodian's reserve account balance as of a time, in numbered
 * statements; later mints are capped by the latest one. A statement below the outstanding supply is
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
  custodian: addressSchema,
  amount: uintString(256),
  asOf: uintString(64),
  sequence: uintString(64),
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
  struct: eip712Struct("AttestReserves", [
    field("custodian", "address"),
    field("amount", "uint256"),
    field("asOf", "uint64"),
    field("sequence", "uint64"),
    field("statementHash", "bytes32"),
    field("nonce", "uint256"),
    field("deadline", "uint256"),
  ]),
  message: (op) => ({ custodian: op.custodian, amount: op.amount, asOf: op.asOf, sequence: op.sequence, statementHash: op.statementHash, nonce: op.nonce, deadline: op.deadline }),
  signer: "attestor",
  functionName: "attestReserveStatementWithSig",
  callArgs: (op) => [op.custodian, op.amount, op.asOf, op.sequence, op.statementHash, ...signedCallArgs(op)],
  fromCall: (token, args) => ({
    kind: "attestReserves",
    token,
    custodian: String(args[0]),
    amount: args[1] as bigint,
    asOf: args[2] as bigint,
    sequence: args[3] as bigint,
    statementHash: String(args[4]),
    ...signedArgsOf(args, 5),
  }),
  executedBy: "ReservesAttested",
  alreadyExecuted: nonceUsed,
  refusals: [...TOKEN_REFUSALS, "NOT_RESERVE_ATTESTOR"],
} as const satisfies TokenOperationDescriptor<AttestReservesOperation>;
