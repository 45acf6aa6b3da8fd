/**
 * The institution console's calls on its node (operator role), with schemas of the fields its pages
 * read (the node API contract in core/api pulls in server-only modules).
 */
import { z } from "zod";

import { nodeCall } from "./node.ts";

const health = z.object({ ready: z.boolean(), role: z.string(), peerId: z.string(), operator: z.string(), chain: z.object({ head: z.number().nullable(), indexed: z.number().nullable(), registry: z.number() }), peers: z.number() });
const peers = z.object({ peers: z.array(z.object({ peerId: z.string(), operator: z.string().optional(), name: z.string().optional() })) });
const metricsSummary = z.object({
  atMs: z.number(),
  metrics: z.array(z.object({ name: z.string(), type: z.string(), values: z.array(z.object({ labels: z.record(z.string(), z.string()), value: z.number() })) })),
});
export type MetricsSummary = z.infer<typeof metricsSummary>;
const failedOperation = z.object({
  id: z.string(),
  kind: z.string(),
  paymentId: z.string(),
  receivedAtMs: z.number(),
  txHash: z.string().optional(),
  error: z.object({ code: z.string(), message: z.string(), args: z.array(z.string()).optional() }).optional(),
});
export type FailedOperation = z.infer<typeof failedOperation>;
const account = z.object({ address: z.string(), kind: z.string(), status: z.string(), kycLevel: z.number(), feeBps: z.number(), institution: z.string(), payoutAccount: z.string().optional() });
export type RegistryAccount = z.infer<typeof account>;
const onboarding = z.object({ results: z.array(z.object({ changed: z.boolean(), summary: z.string(), txHash: z.string().optional() })), account });
export type OnboardingResult = z.infer<typeof onboarding>;
const riskRules = z.object({ version: z.number(), source: z.string(), rulesHash: z.string().optional(), signer: z.string().optional(), signed: z.unknown().optional() });
export type RiskRulesView = z.infer<typeof riskRules>;
const auditEntry = z.object({
  seq: z.number(),
  atMs: z.number(),
  prevHash: z.string(),
  hash: z.string(),
  actor: z.string(),
  role: z.string(),
  action: z.string(),
  target: z.string().optional(),
  details: z.record(z.string(), z.unknown()).optional(),
});
export type AuditEntry = z.infer<typeof auditEntry>;
const auditPage = z.object({ entries: z.array(auditEntry), next: z.number().optional(), head: z.object({ seq: z.number(), hash: z.string() }) });
export type AuditPage = z.infer<typeof auditPage>;
const nodeUser = z.object({ id: z.string(), email: z.string(), role: z.string(), createdAtMs: z.number(), createdBy: z.string(), lockedUntilMs: z.number().optional(), disabledAtMs: z.number().optional() });
export type NodeUserRow = z.infer<typeof nodeUser>;

export const institutionApi = {
  health: () => nodeCall(health, "/health"),
  peers: async () => (await nodeCall(peers, "/v1/peers")).peers,
  metrics: () => nodeCall(metricsSummary, "/v1/admin/metrics-summary"),
  failedOperations: async () => (await nodeCall(z.object({ operations: z.array(failedOperation) }), "/v1/admin/failed-operations?limit=100")).operations,
  account: (address: string) => nodeCall(account, `/v1/admin/accounts/${encodeURIComponent(address)}`),
  registerMerchant: (body: { address: string; kycLevel: number; feeBps: number; payoutAccount: string }) => nodeCall(onboarding, "/v1/admin/merchants", { method: "POST", body }),
  updateMerchant: (address: string, body: { kycLevel?: number; feeBps?: number; payoutAccount?: string }) => nodeCall(onboarding, `/v1/admin/merchants/${encodeURIComponent(address)}`, { method: "PUT", body }),
  registerCustomer: (body: { address: string; kycLevel: number }) => nodeCall(onboarding, "/v1/admin/customers", { method: "POST", body }),
  setStatus: (address: string, status: "active" | "suspended") => nodeCall(onboarding, `/v1/admin/accounts/${encodeURIComponent(address)}/status`, { method: "PUT", body: { status } }),
  riskRules: () => nodeCall(riskRules, "/v1/admin/risk-rules"),
  putRiskRules: (signed: unknown) => nodeCall(riskRules, "/v1/admin/risk-rules", { method: "PUT", body: signed }),
  auditLog: (after?: number) => nodeCall(auditPage, `/v1/admin/audit?limit=1000${after === undefined ? "" : `&after=${after}`}`),
  users: async () => (await nodeCall(z.object({ users: z.array(nodeUser) }), "/v1/admin/users")).users,
  createUser: (body: { email: string; role: string; password: string }) => nodeCall(z.object({ user: nodeUser, otpauthUri: z.string() }), "/v1/admin/users", { method: "POST", body }),
  setUserDisabled: (id: string, disabled: boolean) => nodeCall(nodeUser, `/v1/admin/users/${encodeURIComponent(id)}/${disabled ? "disable" : "enable"}`, { method: "POST" }),
  removeUser: (id: string) => nodeCall(z.object({ id: z.string(), removed: z.literal(true) }), `/v1/admin/users/${encodeURIComponent(id)}`, { method: "DELETE" }),
};

/** A metric's values summed (over the label sets `match` keeps). */
export function metricTotal(summary: MetricsSummary | undefined, name: string, match: (labels: Record<string, string>) => boolean = () => true): number {
  return summary?.metrics.find((m) => m.name === name)?.values.filter((v) => match(v.labels)).reduce((sum, v) => sum + v.value, 0) ?? 0;
}

/** JSON with keys sorted at every level (the node's audit log hashes entries in this form). */
export function canonicalJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonicalJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${canonicalJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}

const GENESIS = "0".repeat(64);

/** Checks the audit chain here, in the browser: numbering, each link, each entry's SHA-256 and the head. */
export async function verifyAuditChain(entries: AuditEntry[], head: { seq: number; hash: string }): Promise<{ ok: true; entries: number } | { ok: false; brokenAt: number; reason: string }> {
  let prev = GENESIS;
  let expected = 1;
  for (const entry of entries) {
    if (entry.seq > head.seq) break;
    if (entry.seq !== expected) return { ok: false, brokenAt: entry.seq, reason: "numbering" };
    if (entry.prevHash !== prev) return { ok: false, brokenAt: entry.seq, reason: "link" };
    const { hash, ...body } = entry;
    const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", new TextEncoder().encode(canonicalJson(body))));
    const hex = [...digest].map((b) => b.toString(16).padStart(2, "0")).join("");
    if (hex !== hash) return { ok: false, brokenAt: entry.seq, reason: "hash" };
    prev = hash;
    expected += 1;
  }
  if (expected - 1 !== head.seq || prev !== head.hash) return { ok: false, brokenAt: expected, reason: "head" };
  return { ok: true, entries: head.seq };
}
