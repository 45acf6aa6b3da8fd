/**
 * The dashboard's API client: sign-in on /dashboard/api, then /v1 with the session cookie. The CSRF
 * token lives only in this module's memory (never in storage a script from elsewhere could read);
 * every request that changes state sends it in x-csrf-token. Answers are parsed with schemas of the
 * fields the pages read (the gateway's own route schemas pull in server-only modules).
 */
import { z } from "zod";

import { checkoutView } from "../../../gateway/routes/checkout/schemas.js";
import { ApiError, call, type CallOptions } from "./http.ts";

export { ApiError } from "./http.ts";

let csrfToken: string | undefined;

/** A payment's states, as the gateway's wire schemas name them. */
const ORDER_STATUSES = checkoutView.shape.status.options;

const ROLES = ["owner", "operator", "read-only"] as const;
export const user = z.object({ id: z.string(), merchantId: z.string(), email: z.string(), role: z.enum(ROLES), status: z.enum(["invited", "active"]) });
export type DashboardUser = z.infer<typeof user>;
const sessionView = z.object({ user, csrfToken: z.string(), expiresAt: z.string() });
const enrolmentView = z.object({ user, otpauthUri: z.string() });

const execution = z.object({ txHash: z.string(), blockNumber: z.number(), executedAt: z.string() });
const submitted = z.object({
  operationId: z.string(),
  status: z.enum(["pending", "executed", "failed"]),
  submittedAt: z.string(),
  error: z.object({ code: z.string(), message: z.string() }).optional(),
  execution: execution.nullable(),
});
const refund = submitted.extend({ id: z.string(), amount: z.string(), reason: z.string() });
export const payment = z.object({
  id: z.string(),
  merchantOrderId: z.string(),
  status: z.enum(ORDER_STATUSES),
  amount: z.string(),
  currency: z.string(),
  description: z.string().nullable(),
  mode: z.enum(["escrow", "direct"]),
  payer: z.string(),
  merchant: z.string(),
  paymentId: z.string(),
  feeBps: z.number(),
  refundedAmount: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
  expiresAt: z.string(),
  authorization: submitted.nullable(),
  fulfilment: submitted.nullable(),
  autoRelease: submitted.nullable().optional(),
  refunds: z.array(refund),
  onChain: z.object({ status: z.string(), amount: z.string(), refunded: z.string(), deadline: z.string() }).nullable(),
  lastError: z.object({ code: z.string(), message: z.string(), at: z.string() }).nullable(),
});
export type Payment = z.infer<typeof payment>;
export type PaymentStatus = Payment["status"];
export const PAYMENT_STATUSES = ORDER_STATUSES;
const paymentList = z.object({ items: z.array(payment), nextCursor: z.string().nullable() });
const refundResult = z.object({ refund, payment });

const key = z.object({ keyId: z.string(), createdAt: z.string(), expiresAt: z.string().optional(), revokedAt: z.string().optional() });
export type ApiKey = z.infer<typeof key>;
const keyList = z.object({ items: z.array(key) });
const issuedKey = z.object({ keyId: z.string(), secret: z.string() });
const revokedKey = z.object({ keyId: z.string(), revokedAt: z.string() });

const endpoint = z.object({ id: z.string(), url: z.string(), description: z.string().nullable(), eventTypes: z.array(z.string()), status: z.string(), createdAt: z.string() });
export type Endpoint = z.infer<typeof endpoint>;
const endpointList = z.object({ items: z.array(endpoint) });
const createdEndpoint = endpoint.extend({ secret: z.string() });
const delivery = z.object({
  endpointId: z.string(),
  eventId: z.string(),
  eventType: z.string(),
  status: z.string(),
  createdAt: z.string(),
  attemptCount: z.number(),
  attempts: z.array(z.object({ at: z.string(), statusCode: z.number().nullable(), error: z.string().nullable(), succeeded: z.boolean() })),
});
export type Delivery = z.infer<typeof delivery>;
const deliveryList = z.object({ items: z.array(delivery), nextCursor: z.string().nullable() });
const event = z.object({ id: z.string(), type: z.string(), createdAt: z.string(), data: z.object({ id: z.string().optional() }).loose() });
export type DashboardEvent = z.infer<typeof event>;
const eventList = z.object({ items: z.array(event), nextCursor: z.string().nullable() });
const deleted = z.object({ id: z.string(), deleted: z.literal(true) });
const balance = z.object({
  balances: z.array(z.object({ currency: z.string(), available: z.string(), heldInEscrow: z.string(), pendingPayouts: z.string(), pendingTopups: z.string() })),
});
export type Balance = z.infer<typeof balance>;
const payout = z.object({ id: z.string(), status: z.string(), stage: z.string(), amount: z.string(), currency: z.string(), account: z.string(), createdAt: z.string() });
export type Payout = z.infer<typeof payout>;
const payoutList = z.object({ items: z.array(payout), nextCursor: z.string().nullable() });

const disputeNote = z.object({ id: z.string(), text: z.string(), evidence: z.array(z.string()), createdAt: z.string() });
export type DisputeNote = z.infer<typeof disputeNote>;
const dispute = z.object({ payment, reason: z.string().nullable(), openedAt: z.string().nullable(), notes: z.array(disputeNote) });
export type Dispute = z.infer<typeof dispute>;
const disputeList = z.object({ items: z.array(dispute), nextCursor: z.string().nullable() });
const failure = z.object({ code: z.string(), message: z.string() });
const topup = z.object({ id: z.string(), status: z.enum(["pending", "completed", "failed"]), stage: z.string(), amount: z.string(), currency: z.string(), account: z.string(), failure: failure.nullable(), createdAt: z.string() });
export type Topup = z.infer<typeof topup>;
const topupList = z.object({ items: z.array(topup), nextCursor: z.string().nullable() });
const transfer = z.object({
  id: z.string(),
  status: z.enum(["pending", "executed", "failed"]),
  reference: z.string(),
  to: z.string(),
  amount: z.string(),
  currency: z.string(),
  fee: z.string(),
  netAmount: z.string(),
  description: z.string().nullable(),
  error: failure.optional(),
  createdAt: z.string(),
});
export type Transfer = z.infer<typeof transfer>;
const transferList = z.object({ items: z.array(transfer), nextCursor: z.string().nullable() });
const reportBreak = z.object({ kind: z.string(), subject: z.string(), ref: z.string(), gateway: z.string().nullable(), chain: z.string().nullable(), bank: z.string().nullable(), detail: z.string() });
export type ReportBreak = z.infer<typeof reportBreak>;
const threeWay = z.object({
  generatedAt: z.string(),
  counts: z.object({ orders: z.number(), transfers: z.number(), payouts: z.number(), topups: z.number(), chainPayments: z.number(), chainTokenEvents: z.number(), bankTransfers: z.number() }),
  chainEventsTruncated: z.boolean(),
  breaks: z.array(reportBreak),
});
export type ThreeWay = z.infer<typeof threeWay>;

const page = (cursor?: string, limit = 20) => `limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`;

/** A signed-in request: the cookie goes along, and the CSRF token on anything but a read. */
function session<S extends z.ZodType>(schema: S, path: string, options: CallOptions = {}): Promise<z.infer<S>> {
  const method = options.method ?? "GET";
  const headers = { ...options.headers, ...(method !== "GET" && csrfToken ? { "x-csrf-token": csrfToken } : {}) };
  return call(schema, path, { ...options, headers, credentials: "same-origin" });
}

/** A signed-in read of a text answer (CSV); refusals are thrown as ApiError like every other call's. */
async function sessionText(path: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(path, { credentials: "same-origin", headers: { accept: "text/csv, application/problem+json" } });
  } catch (error) {
    throw new ApiError("NETWORK", 0, (error as Error).message);
  }
  if (response.ok) return response.text();
  const problem = z.object({ code: z.string(), title: z.string().optional() }).loose().safeParse(await response.json().catch(() => undefined));
  if (problem.success) throw new ApiError(problem.data.code, response.status, problem.data.title ?? problem.data.code, problem.data);
  throw new ApiError("UNEXPECTED_ANSWER", response.status, `HTTP ${response.status}`);
}

/** A state-changing /v1 call that moves money or changes a payment carries one Idempotency-Key per confirmed action. */
const once = (idempotencyKey: string) => ({ "idempotency-key": idempotencyKey });

export interface PaymentFilter {
  status?: PaymentStatus;
  from?: string;
  to?: string;
  merchantOrderId?: string;
}

export const dashboardApi = {
  async session(): Promise<DashboardUser> {
    const answer = await session(sessionView, "/dashboard/api/session");
    csrfToken = answer.csrfToken;
    return answer.user;
  },
  async signIn(body: { email: string; password: string; totp: string }): Promise<DashboardUser> {
    const answer = await session(sessionView, "/dashboard/api/session", { method: "POST", body });
    csrfToken = answer.csrfToken;
    return answer.user;
  },
  async signOut(): Promise<void> {
    await session(z.unknown(), "/dashboard/api/session", { method: "DELETE" });
    csrfToken = undefined;
  },
  acceptInvitation: (token: string, password: string) => session(enrolmentView, "/dashboard/api/invitations/accept", { method: "POST", body: { token, password } }),

  payments(filter: PaymentFilter, cursor?: string, limit = 20) {
    const query = new URLSearchParams({ limit: String(limit) });
    for (const [name, value] of Object.entries(filter)) if (value) query.set(name, value);
    if (cursor) query.set("cursor", cursor);
    return session(paymentList, `/v1/payments?${query.toString()}`);
  },
  payment: (id: string) => session(payment, `/v1/payments/${encodeURIComponent(id)}`),
  fulfil: (id: string, idempotencyKey: string) => session(payment, `/v1/payments/${encodeURIComponent(id)}/fulfilment`, { method: "POST", body: {}, headers: once(idempotencyKey) }),
  refund: (id: string, body: { amount: string; reason: string }, idempotencyKey: string) =>
    session(refundResult, `/v1/payments/${encodeURIComponent(id)}/refunds`, { method: "POST", body, headers: once(idempotencyKey) }),
  cancel: (id: string, idempotencyKey: string) => session(payment, `/v1/payments/${encodeURIComponent(id)}/cancel`, { method: "POST", body: {}, headers: once(idempotencyKey) }),

  balance: () => session(balance, "/v1/balance"),
  payouts: (cursor?: string) => session(payoutList, `/v1/payouts?limit=20${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
  disputes: (status: "disputed" | "resolved", cursor?: string) => session(disputeList, `/v1/disputes?status=${status}&${page(cursor)}`),
  addDisputeNote: (id: string, body: { text: string; evidence: string[] }, idempotencyKey: string) =>
    session(disputeNote, `/v1/disputes/${encodeURIComponent(id)}/notes`, { method: "POST", body, headers: once(idempotencyKey) }),
  topups: (cursor?: string) => session(topupList, `/v1/topups?${page(cursor)}`),
  createTopup: (body: { amount: string; currency: string; account: string }, idempotencyKey: string) => session(topup, "/v1/topups", { method: "POST", body, headers: once(idempotencyKey) }),
  transfers: (cursor?: string) => session(transferList, `/v1/transfers?${page(cursor)}`),
  createTransfer: (body: { to: string; amount: string; currency: string; reference: string; description?: string }, idempotencyKey: string) =>
    session(transfer, "/v1/transfers", { method: "POST", body, headers: once(idempotencyKey) }),
  threeWay: () => session(threeWay, "/v1/reports/threeway"),
  threeWayCsv: () => sessionText("/v1/reports/threeway?format=csv"),
  statementCsv: (cycle: string) => sessionText(`/v1/statements?cycle=${encodeURIComponent(cycle)}&format=csv`),

  keys: () => session(keyList, "/dashboard/api/keys"),
  createKey: () => session(issuedKey, "/dashboard/api/keys", { method: "POST" }),
  rotateKeys: () => session(issuedKey, "/dashboard/api/keys/rotate", { method: "POST", body: {} }),
  revokeKey: (keyId: string) => session(revokedKey, `/dashboard/api/keys/${encodeURIComponent(keyId)}/revoke`, { method: "POST" }),

  endpoints: () => session(endpointList, "/v1/webhook-endpoints"),
  createEndpoint: (url: string, idempotencyKey: string) => session(createdEndpoint, "/v1/webhook-endpoints", { method: "POST", body: { url }, headers: once(idempotencyKey) }),
  rotateEndpointSecret: (id: string, idempotencyKey: string) =>
    session(createdEndpoint, `/v1/webhook-endpoints/${encodeURIComponent(id)}/secret/rotate`, { method: "POST", body: {}, headers: once(idempotencyKey) }),
  deleteEndpoint: (id: string) => session(deleted, `/v1/webhook-endpoints/${encodeURIComponent(id)}`, { method: "DELETE" }),
  deliveries: (id: string) => session(deliveryList, `/v1/webhook-endpoints/${encodeURIComponent(id)}/deliveries?limit=10`),
  events: (cursor?: string, limit = 20) => session(eventList, `/v1/events?limit=${limit}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`),
  deliveriesOf: (endpointId: string, limit: number) => session(deliveryList, `/v1/webhook-endpoints/${encodeURIComponent(endpointId)}/deliveries?limit=${limit}`),
  redeliver: (eventId: string, idempotencyKey: string, endpointId?: string) =>
    session(z.unknown(), `/v1/events/${encodeURIComponent(eventId)}/redeliver`, { method: "POST", body: endpointId ? { endpointId } : {}, headers: once(idempotencyKey) }),
};
