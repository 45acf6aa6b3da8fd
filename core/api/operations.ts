/**
 * Operations resource of the node API: submitting signed operations (one, or a batch validated,
 * stored and gossiped together) and reading one operation's life in the node.
 */
import { z } from "zod";

import type { SettlenetError } from "../errors.js";
import { ESCROW_OPERATION_KINDS, TOKEN_OPERATION_KINDS, operationSchema, type OperationInput, type OperationKind } from "../operations/index.js";
import { address, hex32, integer, problemResponses, problemSchema, route } from "./common.js";

/** Most operations in one batch submission (a node may be configured lower). */
export const MAX_BATCH = 500;
/** A batch with more operations than the node takes: 413, refused before any validation, nothing stored. */
export const BATCH_TOO_LARGE = "BATCH_TOO_LARGE";

/**
 * The code of a submission refused by admission control: 503, a `Retry-After` header in seconds, and
 * nothing stored (send the same operations again after that long). It refuses the whole request.
 */
export const RELAY_BACKLOG = "RELAY_BACKLOG";
/**
 * What people's roles may submit: a regulator its freezes, an arbiter its resolutions (each signed with
 * that person's own key). A request holding another kind is refused whole with 403
 * OPERATION_KIND_FORBIDDEN before anything is validated or stored. The gateway submits any kind.
 */
export const OPERATION_KIND_FORBIDDEN = "OPERATION_KIND_FORBIDDEN";
export const SUBMITTABLE_KINDS: Readonly<Record<string, readonly OperationKind[]>> = { regulator: ["freeze"], arbiter: ["resolve"] };

/** The header of a RELAY_BACKLOG answer saying after how many seconds to try again. */
export const RETRY_AFTER_HEADER = "retry-after";

const { $schema: _dialect, ...operationJsonSchema } = z.toJSONSchema(operationSchema, { io: "input", target: "draft-2020-12" });

/**
 * Schemas the node's OpenAPI document lists once under components.schemas: the protocol's operation
 * schema (wire form), referenced wherever an operation travels.
 */
export const NODE_API_COMPONENTS: Record<string, Record<string, unknown>> = {
  Operation: { ...operationJsonSchema, description: "A signed operation in its JSON wire form (money, nonces and deadlines as decimal strings)" },
};
const operationDocs = { $ref: "#/components/schemas/Operation" };

const isObject = (value: unknown): value is Record<string, unknown> => typeof value === "object" && value !== null && !Array.isArray(value);

/**
 * A submitted operation. Only its being a JSON object is checked here: the node's validation core
 * parses it, so a malformed operation is a coded refusal (MALFORMED) counted like every other.
 */
const submittedOperation = z.custom<OperationInput>(isObject, "expected a JSON object").meta(operationDocs);
/** An item of a batch: anything, refused on its own if it is not an operation. */
const batchItem = z.custom<OperationInput>(() => true).meta(operationDocs);

/** An operation as the node stored it: exactly as received (the validation core accepted it then). */
export const signedOperationSchema = z
  .custom<OperationInput>((value) => isObject(value) && typeof value["kind"] === "string", "expected an operation")
  .meta(operationDocs);

/** Every operation kind a node accepts. */
export const operationKindSchema = z.enum([...ESCROW_OPERATION_KINDS, ...TOKEN_OPERATION_KINDS] as [OperationKind, ...OperationKind[]]);

/** Life of an operation inside one node. */
export const operationStatusSchema = z
  .enum(["accepted", "submitted", "executed", "failed"])
  .describe(
    "accepted: validated and durably stored, waiting to be relayed or seen executed; submitted: sent on-chain by this node (txHash), not yet seen executed; executed: seen executed on-chain by any relayer (final); failed: reverted on-chain with `error` (final)",
  );

/** Why an operation failed on-chain. */
export const operationFailureSchema = z.strictObject({
  code: z.string().describe("The contract's custom error name (e.g. PaymentExpired) or a node code"),
  message: z.string(),
  args: z.array(z.string()).optional().describe("Decoded custom error arguments as strings"),
});

/** Where the chain executed an operation (from the indexer). */
export const executionSchema = z.strictObject({ txHash: hex32, blockNumber: integer, relayer: address, timestamp: integer });

/** An operation as one node stores it. */
export const storedOperationSchema = z.strictObject({
  id: hex32.describe("Operation id: its EIP-712 signing digest"),
  kind: operationKindSchema,
  paymentId: hex32.describe("The payment it acts on; the zero hash for token operations"),
  op: signedOperationSchema,
  signer: address.nullable().describe("Recovered signer (checksummed); null for release"),
  origin: z.enum(["api", "gossip"]).describe("Where this node first received it"),
  status: operationStatusSchema,
  receivedAtMs: integer,
  updatedAtMs: integer,
  txHash: hex32.optional().describe("This node's relay transaction, if it relayed it"),
  execution: executionSchema.optional(),
  error: operationFailureSchema.optional(),
});

/** Body of POST /v1/operations: one operation, or `{ operations: [...] }`. */
export function submitBodySchema(maxBatch = MAX_BATCH) {
  return z.union([z.strictObject({ operations: z.array(batchItem).min(1).max(maxBatch) }), submittedOperation]);
}

export const acceptedSchema = z.strictObject({ id: hex32, status: z.literal("accepted") });

/** One operation's result in a batch answer. */
export const batchResultSchema = z.union([
  acceptedSchema,
  z.strictObject({
    id: hex32.optional().describe("Absent when the operation could not be parsed"),
    status: z.literal("refused"),
    code: z.string(),
    problem: problemSchema,
  }),
]);

/** The answer to a batch: counts and one result per operation, in order. */
export const batchAnswerSchema = z.strictObject({ accepted: integer, refused: integer, results: z.array(batchResultSchema) });
export type BatchAnswer = z.infer<typeof batchAnswerSchema>;

/**
 * What the node's validation core decided for one submitted operation: accepted with its id, or
 * refused with a coded error (the API turns it into a problem document).
 */
export type SubmitOutcome = { accepted: true; id: string } | { accepted: false; id?: string; error: SettlenetError };

export const operationRoutes = {
  submitOperations: route("POST", "/v1/operations", {
    operationId: "submitOperations",
    tags: ["operations"],
    summary: "Submit one signed operation, or a batch",
    description: `A single operation is answered 202 \`{id, status: "accepted"}\` once it is validated, durably stored and handed to the peers, or refused with a problem document whose status and code come from the table of operation codes. A batch (\`{"operations": [...]}\`, at most ${MAX_BATCH}; a larger one is refused whole with 413 \`${BATCH_TOO_LARGE}\` before any validation) is validated, stored and gossiped together and answered with one result per operation: 202 if any was accepted, 422 if none. While the node's relay lags behind, the whole request is refused before anything is stored: 503 \`${RELAY_BACKLOG}\` with a \`Retry-After\` header (seconds); send the same operations again after that long. A regulator may submit only \`freeze\` and an arbiter only \`resolve\` operations (else 403 \`${OPERATION_KIND_FORBIDDEN}\`, nothing stored); a regulator node accepts only freezes, which it gossips for the institutions to relay.`,
    body: submitBodySchema(),
    response: {
      202: z.union([acceptedSchema, batchAnswerSchema]),
      422: z.union([batchAnswerSchema, problemSchema]),
      503: problemSchema.describe(`${RELAY_BACKLOG} (admission control, with a Retry-After header in seconds; nothing stored) or NOT_READY`),
      ...problemResponses,
    },
  }),
  getOperation: route("GET", "/v1/operations/:id", {
    operationId: "getOperation",
    tags: ["operations"],
    summary: "One operation as this node stores it (status, relay, execution, failure)",
    params: z.strictObject({ id: hex32 }),
    response: { 200: storedOperationSchema, ...problemResponses },
  }),
};
