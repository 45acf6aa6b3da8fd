/**
 * Settlement resource of the node API: cycles (state, attestations, records), Merkle inclusion proofs
 * of finalized cycles' records, statements per merchant or institution, and settlement alerts.
 */
import { z } from "zod";

import { RECORD_KINDS, type RecordKindName } from "../settlement/kinds.js";
import { address, amount, cycleId, formatQuery, hex32, integer, pageOf, pageQuery, problemResponses, route, text } from "./common.js";

/** A settlement record in JSON (a leaf of the cycle's Merkle tree): money and the cycle id as decimal strings. */
export const recordJsonSchema = z.strictObject({
  cycleId,
  recordId: hex32,
  kind: integer.describe("Record kind code (released 0, refunded 1, resolved 2, reclaimed 3, deposit 4, payout 5, merchantTotals 6, institutionTotals 7, directPayment 8)"),
  kindName: z.string(),
  account: address,
  counterparty: address,
  token: address,
  amount,
  fee: amount,
});

/** A cycle summary in JSON: what institutions sign (the EIP-712 `Cycle` message). */
export const cycleSummaryJsonSchema = z.strictObject({
  cycleId,
  merkleRoot: hex32,
  recordCount: amount,
  grossAmount: amount,
  feeAmount: amount,
  totalsHash: hex32,
});

/** Life of a cycle in one node. */
export const cycleStatusSchema = z
  .enum(["built", "attested", "diverged", "finalized"])
  .describe("built: records built and checked, this node does not attest (regulator); attested: this node signed and gossiped its attestation; diverged: this node's views disagree, it did not sign (see the alert); finalized: finalized on-chain (see finalized.matches)");

export const cycleStateSchema = z.strictObject({
  cycleId,
  start: integer.describe("Chain-time window [start, end), unix seconds"),
  end: integer,
  fromBlock: integer,
  toBlock: integer,
  status: cycleStatusSchema,
  summary: cycleSummaryJsonSchema.describe("This node's summary of the cycle"),
  builtAtMs: integer,
  quorumSeenAtMs: integer.optional().describe("When this node first saw a quorum of attestations of its summary"),
  finalized: z
    .strictObject({ merkleRoot: hex32, matches: z.boolean(), attestationCount: integer, finalizedAt: integer, txHash: hex32.optional() })
    .optional()
    .describe("The on-chain finalization, once seen; `matches` is false when its root is not this node's"),
  alertId: z.string().optional().describe("The alert that explains a divergence"),
});

/** An institution's signed attestation of a cycle summary, as this node stored it. */
export const attestationSchema = z.strictObject({
  institution: address,
  signer: address,
  summary: cycleSummaryJsonSchema,
  signature: z.string(),
  receivedAtMs: integer,
  origin: z.enum(["self", "gossip"]),
});

export type CycleStatus = z.infer<typeof cycleStatusSchema>;
export type CycleState = z.infer<typeof cycleStateSchema>;
export type AttestationRecord = z.infer<typeof attestationSchema>;

export const cycleViewSchema = cycleStateSchema.extend({ attestations: z.array(attestationSchema) });
export type CycleView = z.infer<typeof cycleViewSchema>;

const kindNames = Object.keys(RECORD_KINDS) as [RecordKindName, ...RecordKindName[]];
const cycleParams = z.strictObject({ id: cycleId });
const pageOnly = z.strictObject(pageQuery);

/** A Merkle inclusion proof of one record of a finalized cycle. */
export const recordProofSchema = z.strictObject({
  cycleId,
  root: hex32,
  leafEncoding: z.array(z.string()),
  record: recordJsonSchema,
  leaf: z.array(z.string()).describe("Leaf values in encoding order (numbers as decimal strings), ready for StandardMerkleTree.verify"),
  leafHash: hex32,
  proof: z.array(hex32),
});
export type RecordProof = z.infer<typeof recordProofSchema>;

export const statementTotalsSchema = z.strictObject({
  token: address,
  gross: amount.describe("Settled to the merchant(s): released, direct payments and the merchant share of resolutions"),
  fee: amount,
  net: amount.describe("gross − fee"),
  refunded: amount,
  reclaimed: amount,
  payments: integer.describe("Settled payments (released, direct, resolved)"),
  deposits: amount,
  payouts: amount,
});

/** The statement of one merchant or institution in one cycle, from the cycle's records. */
export const statementSchema = z.strictObject({
  cycleId,
  party: z.strictObject({ type: z.enum(["merchant", "institution"]), account: address }),
  cycle: z.strictObject({
    start: integer,
    end: integer,
    status: z.string(),
    merkleRoot: hex32,
    finalized: z.boolean(),
    finalizedRoot: hex32.optional(),
  }),
  records: z.array(recordJsonSchema).describe("The records the statement covers (movement records and the party's totals records)"),
  totals: z.array(statementTotalsSchema).describe("Per token, recomputed from the movement records"),
});

export const statementQuery = z.strictObject({ merchant: address.optional(), institution: address.optional(), format: formatQuery });

/** One record two views of a cycle disagree on (absent on one side when it exists only on the other). */
export const recordDifferenceSchema = z.strictObject({
  kind: z.string(),
  recordId: z.string(),
  local: recordJsonSchema.optional(),
  reference: recordJsonSchema.optional(),
});

/** A settlement alert: this node's view of a cycle disagrees with the chain, a peer's attestation or the finalized root. */
export const settlementAlertSchema = z.strictObject({
  id: z.string(),
  cycleId,
  type: z.enum(["RECORDS_DIFFER", "ATTESTED_ROOT_DIFFERS", "FINALIZED_ROOT_DIFFERS"]),
  raisedAtMs: integer,
  localRoot: hex32,
  otherRoot: hex32.optional(),
  institution: address.optional().describe("The institution whose attestation differs"),
  records: z.array(recordDifferenceSchema),
});

export type RecordDifference = z.infer<typeof recordDifferenceSchema>;
export type SettlementAlert = z.infer<typeof settlementAlertSchema>;

export const settlementRoutes = {
  listCycles: route("GET", "/v1/cycles", {
    operationId: "listCycles",
    tags: ["settlement"],
    summary: "Settlement cycles this node built, newest first",
    querystring: pageOnly,
    response: { 200: pageOf(cycleStateSchema), ...problemResponses },
  }),
  getCycle: route("GET", "/v1/cycles/:id", {
    operationId: "getCycle",
    tags: ["settlement"],
    summary: "One cycle: state, summary, finalization and every attestation this node holds",
    description: "404 CYCLE_NOT_FOUND when this node has no such cycle (not closed yet, or empty).",
    params: cycleParams,
    response: { 200: cycleViewSchema, ...problemResponses },
  }),
  listCycleRecords: route("GET", "/v1/cycles/:id/records", {
    operationId: "listCycleRecords",
    tags: ["settlement"],
    summary: "A cycle's records in tree order",
    params: cycleParams,
    querystring: pageOnly,
    response: { 200: pageOf(recordJsonSchema), ...problemResponses },
  }),
  getRecordProof: route("GET", "/v1/cycles/:id/proof", {
    operationId: "getRecordProof",
    tags: ["settlement"],
    summary: "Merkle inclusion proof of a record of a finalized cycle",
    description:
      "Verifies with @openzeppelin/merkle-tree and with SettlementLedger.verifyRecord / verifyLeaf. 409 CYCLE_NOT_FINALIZED before finalization, 409 CYCLE_DIVERGED when this node's records do not give the finalized root, 404 RECORD_NOT_FOUND.",
    params: cycleParams,
    querystring: z.strictObject({ kind: z.enum(kindNames), recordId: hex32 }),
    response: { 200: recordProofSchema, ...problemResponses },
  }),
  getStatement: route("GET", "/v1/cycles/:id/statement", {
    operationId: "getStatement",
    tags: ["settlement"],
    summary: "Statement of a merchant or an institution (exactly one) in a cycle, in JSON or CSV",
    params: cycleParams,
    querystring: statementQuery,
    response: {
      200: {
        description: "The statement; CSV (LF line ends): one `record` row per record, then one `total` row per token",
        content: { "application/json": { schema: statementSchema }, "text/csv": { schema: text("Statement CSV") } },
      },
      ...problemResponses,
    },
  }),
  listSettlementAlerts: route("GET", "/v1/settlement/alerts", {
    operationId: "listSettlementAlerts",
    tags: ["settlement"],
    summary: "Settlement alerts, newest cycle first, optionally of one cycle",
    querystring: z.strictObject({ cycle: cycleId.optional(), ...pageQuery }),
    response: { 200: pageOf(settlementAlertSchema), ...problemResponses },
  }),
};
