import type { StorageContext as LevelContext, Sublevel, WriteOp } from "../../core/storage/level.js";

/**
 * Every LevelDB keyspace (sublevel) of the gateway, in one place. Keys are strings; values JSON.
 * Nothing outside gateway/storage opens or reads these directly.
 *
 * | sublevel          | key                                                 | value                   |
 * | ----------------- | --------------------------------------------------- | ----------------------- |
 * | merchants         | merchant id                                         | MerchantRecord          |
 * | merchantsByAddr   | on-chain merchant address (lower case)              | merchant id (unique)    |
 * | apiKeys           | key id                                              | ApiKeyRecord            |
 * | apiKeysByMerchant | merchant id ! key id                                | "" (index)              |
 * | nonces            | key id ! request nonce                              | { expiresAtMs }         |
 * | noncesByExpiry    | expiresAtMs(16 digits) ! key id ! nonce             | "" (index, for pruning) |
 * | idempotency       | merchant id ! Idempotency-Key                       | IdempotencyRecord       |
 * | idempotencyByExpiry | expiresAtMs(16) ! merchant id ! Idempotency-Key   | "" (index, for pruning) |
 * | orders            | gateway payment id (pay_…)                          | OrderRecord             |
 * | ordersByTime      | merchant id ! createdAtMs(16 digits) ! payment id   | "" (index)              |
 * | ordersByOrderId   | merchant id ! merchantOrderId                       | payment id (unique)     |
 * | ordersByStatus    | merchant id ! status ! createdAtMs(16) ! payment id | "" (index)              |
 * | ordersByPayment   | on-chain payment id (lower case)                    | gateway payment id      |
 * | ordersCheck       | checkAtMs(16) ! payment id                          | "" (the reconciler's worklist) |
 * | ordersRelease     | auto-release time, unix s(12) ! payment id (fulfilled orders) | "" (the keeper's candidates) |
 * | meta              | name (e.g. "schema.version", "feed.cursor")         | JSON value              |
 * | payouts           | payout id (po_…)                                    | PayoutRecord            |
 * | topups            | top-up id (tu_…)                                    | TopupRecord             |
 * | moneyTransfers    | transfer id (tr_…)                                  | TransferRecord          |
 * | moneyByMerchant   | merchant id ! kind ! createdAtMs(16) ! id           | "" (index)              |
 * | moneyOpen         | kind ! id (payouts and top-ups not yet final)       | "" (resumed at start)   |
 * | moneyBankRefs     | bank transfer reference (bt_…)                      | "payout:<id>" / "topup:<id>" |
 * | transfersByReference | merchant id ! merchant's transfer reference      | transfer id (unique)    |
 * | payerActions      | operation id (confirm/dispute digest, lower case)   | PayerActionRecord       |
 * | payerActionsByOrder | gateway payment id ! submittedAtMs(16) ! op id    | "" (index)              |
 * | payerActionsOpen  | operation id                                        | "" (orders to sync)     |
 * | events            | event id (evt_…)                                    | EventRecord             |
 * | eventsByMerchant  | merchant id ! createdAtMs(16) ! event id            | "" (index, event log)   |
 * | outbox            | createdAtMs(16) ! event id                          | "" (not yet fanned out) |
 * | webhookEndpoints  | endpoint id (we_…)                                  | WebhookEndpointRecord   |
 * | webhookEndpointsByMerchant | merchant id ! endpoint id                  | "" (index)              |
 * | webhookDeliveries | endpoint id ! event id                              | DeliveryRecord          |
 * | webhookDeliveriesByEndpoint | endpoint id ! createdAtMs(16) ! event id  | "" (index, delivery log)|
 * | webhookQueue      | nextAttemptAtMs(16) ! endpoint id ! event id        | "" (pending attempts)   |
 * | reconcile         | atMs(16) ! repair id                                | ReconcileRecord         |
 * | audit             | e!seq(16) / head (core/audit/log.ts)                | AuditEntry / head       |
 * | users             | dashboard user id (usr_…)                           | UserRecord              |
 * | usersByEmail      | e-mail (lower case)                                 | user id (unique)        |
 * | usersByMerchant   | merchant id ! user id                               | "" (index)              |
 * | sessions          | sha256(session token), hex                          | SessionRecord           |
 * | sessionsByUser    | user id ! sha256(session token)                     | "" (ended with the user)|
 * | invitations       | sha256(invitation token), hex                       | InvitationRecord        |
 * | invitationsByUser | user id                                             | sha256(invitation token)|
 *
 * Events (with their `outbox` entry) and repair records are written in the same synced batch as the
 * order change that causes them (storage/orders.ts `update`, given them by domain/orders.ts), so an
 * event is never lost nor sent for a change that did not happen; payout events join the payout's
 * batch the same way (storage/money.ts).
 */
export const KEYSPACES = [
  "merchants",
  "merchantsByAddr",
  "apiKeys",
  "apiKeysByMerchant",
  "nonces",
  "noncesByExpiry",
  "idempotency",
  "idempotencyByExpiry",
  "orders",
  "ordersByTime",
  "ordersByOrderId",
  "ordersByStatus",
  "ordersByPayment",
  "ordersCheck",
  "ordersRelease",
  "meta",
  "payouts",
  "topups",
  "moneyTransfers",
  "moneyByMerchant",
  "moneyOpen",
  "moneyBankRefs",
  "transfersByReference",
  "payerActions",
  "payerActionsByOrder",
  "payerActionsOpen",
  "events",
  "eventsByMerchant",
  "outbox",
  "webhookEndpoints",
  "webhookEndpointsByMerchant",
  "webhookDeliveries",
  "webhookDeliveriesByEndpoint",
  "webhookQueue",
  "reconcile",
  "audit",
  "users",
  "usersByEmail",
  "usersByMerchant",
  "sessions",
  "sessionsByUser",
  "invitations",
  "invitationsByUser",
] as const;

export type Keyspace = (typeof KEYSPACES)[number];

/** What the gateway's repositories get from the database. */
export type StorageContext = LevelContext<Keyspace>;
export type { Sublevel, WriteOp };

/** Separator inside composite keys (identifiers that go into keys never contain it). */
export const SEP = "!";

/** Fixed-width decimal so that lexicographic order is numeric order. */
export function pad(value: number, width: number): string {
  return value.toString().padStart(width, "0");
}

/** Key range of every key starting with `prefix`. */
export function prefixRange(prefix: string): { gte: string; lt: string } {
  return { gte: prefix, lt: `${prefix}\uffff` };
}
