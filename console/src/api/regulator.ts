/**
 * What the regulator console and the arbiter view read from and send to their node: payments and
 * their histories, alerts, settlement cycles and proofs, reserves, token events and accounts, reports,
 * and signed operations (a regulator's freeze, an arbiter's resolution). Schemas hold the fields the
 * pages read; unknown fields are let through (the node's contract may grow).
 */
import { z } from "zod";

import { nodeCall, nodeText } from "./node.ts";

const amount = z.string().regex(/^\d+$/);
const event = z.object({ event: z.string(), blockNumber: z.number(), txHash: z.string(), timestamp: z.number(), args: z.record(z.string(), z.union([z.string(), z.boolean()])), relayer: z.string().optional() });
export type ChainEvent = z.infer<typeof event>;
export const paymentRecord = z.object({
  paymentId: z.string(),
  payer: z.string(),
  merchant: z.string(),
  token: z.string(),
  amount,
  status: z.string(),
  refunded: amount,
  payerInstitution: z.string(),
  merchantInstitution: z.string(),
  paidAt: z.number(),
  events: z.array(event),
});
export type PaymentRecord = z.infer<typeof paymentRecord>;
const paymentPage = z.object({ items: z.array(paymentRecord), next: z.string().optional() });
const auditStep = z.object({
  id: z.string(),
  kind: z.string(),
  signer: z.string().nullable(),
  signature: z.string().nullable(),
  origin: z.string(),
  relayer: z.string().nullable(),
  txHash: z.string().nullable(),
  blockNumber: z.number().nullable(),
  timestamp: z.number().nullable(),
  outcome: z.string(),
  error: z.object({ code: z.string() }).loose().optional(),
  reason: z.string().nullable().optional(),
  reasonText: z.string().nullable().optional(),
});
export type AuditStep = z.infer<typeof auditStep>;

export const alertRecord = z.object({
  id: z.string(),
  rule: z.string(),
  category: z.enum(["aml", "reserves"]),
  account: z.string(),
  token: z.string(),
  paymentIds: z.array(z.string()),
  amount: amount.optional(),
  threshold: amount.optional(),
  at: z.number(),
  reportedBy: z.array(z.string()),
  ack: z.object({ by: z.string(), atMs: z.number(), note: z.string() }).optional(),
});
export type AlertRecord = z.infer<typeof alertRecord>;
const alertPage = z.object({ items: z.array(alertRecord), next: z.string().optional() });

const summary = z.object({ merkleRoot: z.string(), recordCount: amount, grossAmount: amount, feeAmount: amount });
export const cycleState = z.object({
  cycleId: z.string(),
  start: z.number(),
  end: z.number(),
  status: z.string(),
  summary,
  finalized: z.object({ merkleRoot: z.string(), matches: z.boolean(), attestationCount: z.number(), finalizedAt: z.number(), txHash: z.string().optional() }).optional(),
});
export type CycleState = z.infer<typeof cycleState>;
const cycleView = cycleState.extend({ attestations: z.array(z.object({ institution: z.string(), signer: z.string(), signature: z.string(), origin: z.string() })) });
export type CycleView = z.infer<typeof cycleView>;
export const settlementRecord = z.object({ cycleId: z.string(), recordId: z.string(), kind: z.number(), kindName: z.string(), account: z.string(), counterparty: z.string(), token: z.string(), amount, fee: amount });
export type SettlementRecord = z.infer<typeof settlementRecord>;
const recordProof = z.object({ cycleId: z.string(), root: z.string(), leafEncoding: z.array(z.string()), leaf: z.array(z.string()), leafHash: z.string(), proof: z.array(z.string()), record: settlementRecord });
export type RecordProof = z.infer<typeof recordProof>;

const custodianReserves = z.object({ custodian: z.string(), outstanding: amount, reserves: amount, ratio: z.string().nullable(), stale: z.boolean(), belowMinRatio: z.boolean(), attestedAt: z.number().nullable() });
const reserves = z.object({
  asOf: z.object({ blockNumber: z.number(), timestamp: z.number() }),
  minRatioBps: z.number(),
  tokens: z.array(z.object({ symbol: z.string(), token: z.string(), decimals: z.number(), totalSupply: amount, outstanding: amount, reserves: amount, ratio: z.string().nullable(), custodians: z.array(custodianReserves) })),
});
export type Reserves = z.infer<typeof reserves>;
const tokenSummary = z.object({ token: z.string(), symbol: z.string(), name: z.string(), decimals: z.number() });
export type TokenSummary = z.infer<typeof tokenSummary>;
const tokenAccount = z.object({ token: z.string(), account: z.string(), balance: amount, frozen: z.boolean() });
const tokenEvents = z.object({ events: z.array(event) });
const operation = z.object({ id: z.string(), kind: z.string(), status: z.string(), op: z.record(z.string(), z.unknown()), execution: z.object({ blockNumber: z.number(), txHash: z.string() }).loose().optional(), error: z.object({ code: z.string() }).loose().optional() });
export type StoredOperation = z.infer<typeof operation>;
const paymentView = z.object({ paymentId: z.string(), payment: paymentRecord.nullable(), operations: z.array(operation) });
const accepted = z.object({ id: z.string(), status: z.literal("accepted") });
const disputeNote = z.object({ id: z.string(), merchant: z.string(), text: z.string(), evidence: z.array(z.string()), createdAtMs: z.number(), receivedAtMs: z.number() });
export type DisputeNote = z.infer<typeof disputeNote>;
// reasonText: the payer's words, when the node received them with the dispute.
const disputeView = z.object({ payment: paymentRecord, reason: z.string().nullable(), reasonText: z.string().nullable().optional(), disputedAt: z.number().nullable(), notes: z.array(disputeNote) });
const history = z.object({ paymentId: z.string(), payment: paymentRecord.nullable(), operations: z.array(auditStep), events: z.array(event), disputeNotes: z.array(disputeNote).default([]) });
export type PaymentHistory = z.infer<typeof history>;
export type DisputeView = z.infer<typeof disputeView>;
const disputePage = z.object({ items: z.array(disputeView), next: z.string().optional() });

export interface AuditFilter {
  account?: string;
  merchant?: string;
  institution?: string;
  from?: number;
  to?: number;
}

const query = (values: Record<string, string | number | undefined>) => {
  const q = new URLSearchParams();
  for (const [name, value] of Object.entries(values)) if (value !== undefined && value !== "") q.set(name, String(value));
  const text = q.toString();
  return text ? `?${text}` : "";
};
const enc = encodeURIComponent;

export const regulatorApi = {
  auditPayments: (filter: AuditFilter, cursor?: string) => nodeCall(paymentPage, `/v1/audit/payments${query({ ...filter, cursor, limit: 50 })}`),
  history: (id: string) => nodeCall(history, `/v1/audit/payments/${enc(id)}`),
  alerts: (filter: { status?: string; category?: string; account?: string }, cursor?: string) => nodeCall(alertPage, `/v1/alerts${query({ ...filter, cursor, limit: 100 })}`),
  alert: (id: string) => nodeCall(alertRecord, `/v1/alerts/${enc(id)}`),
  acknowledge: (id: string, note: string) => nodeCall(alertRecord, `/v1/alerts/${enc(id)}/ack`, { method: "POST", body: { note } }),
  cycles: (cursor?: string) => nodeCall(z.object({ items: z.array(cycleState), next: z.string().optional() }), `/v1/cycles${query({ cursor, limit: 20 })}`),
  cycle: (id: string) => nodeCall(cycleView, `/v1/cycles/${enc(id)}`),
  records: (id: string) => nodeCall(z.object({ items: z.array(settlementRecord), next: z.string().optional() }), `/v1/cycles/${enc(id)}/records?limit=500`),
  proof: (id: string, kind: string, recordId: string) => nodeCall(recordProof, `/v1/cycles/${enc(id)}/proof${query({ kind, recordId })}`),
  statementCsv: (id: string, party: { merchant?: string; institution?: string }) => nodeText(`/v1/cycles/${enc(id)}/statement${query({ ...party, format: "csv" })}`),
  statementJson: (id: string, party: { merchant?: string; institution?: string }) => nodeText(`/v1/cycles/${enc(id)}/statement${query({ ...party, format: "json" })}`),
  reserves: () => nodeCall(reserves, "/v1/reserves"),
  tokens: () => nodeCall(z.object({ tokens: z.array(tokenSummary) }).loose(), "/v1/tokens"),
  tokenEvents: (token: string) => nodeCall(tokenEvents, `/v1/tokens/${enc(token)}/events?limit=500`),
  tokenAccount: (token: string, account: string) => nodeCall(tokenAccount, `/v1/tokens/${enc(token)}/accounts/${enc(account)}`),
  report: (name: "aml" | "reserves", format: "json" | "csv") => nodeText(`/v1/reports/${name}?format=${format}`),
  payments: (cursor?: string) => nodeCall(paymentPage, `/v1/payments${query({ cursor, limit: 500 })}`),
  disputes: (status: "open" | "resolved", cursor?: string) => nodeCall(disputePage, `/v1/disputes${query({ status, cursor, limit: 20 })}`),
  payment: (id: string) => nodeCall(paymentView, `/v1/payments/${enc(id)}`),
  operation: (id: string) => nodeCall(operation, `/v1/operations/${enc(id)}`),
  submit: (op: Record<string, unknown>) => nodeCall(accepted, "/v1/operations", { method: "POST", body: op }),
};
