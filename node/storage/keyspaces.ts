/**
 * Every LevelDB keyspace (sublevel) of a node, in one place. Keys are strings; values JSON.
 * Nothing outside node/storage opens or reads these directly. The repositories get them through a
 * StorageContext (defined here, so that repositories and db.ts do not import each other).
 *
 * | sublevel      | key                                              | value                      |
 * | ------------- | ------------------------------------------------ | -------------------------- |
 * | ops           | operation id                                     | StoredOperation            |
 * | opsByPayment  | paymentId ! operation id                         | "" (index)                 |
 * | opsByStatus   | status ! receivedAtMs(16 digits) ! operation id  | "" (index)                 |
 * | payments      | payment id                                       | PaymentRecord              |
 * | byMerchant    | merchant ! paidAt(12 digits) ! payment id        | "" (index)                 |
 * | byPayer       | payer ! paidAt(12 digits) ! payment id           | "" (index)                 |
 * | byInstitution | institution ! paidAt(12 digits) ! payment id     | "" (index)                 |
 * | byTime        | paidAt(12 digits) ! payment id                   | "" (index)                 |
 * | meta          | name (e.g. "indexer.cursor")                     | JSON value                 |
 * | risk          | counter key (e.g. "payer!<addr>!<day>")          | { amount, count, times }   |
 * | nonces        | signer ! nonce; token ops: token ! signer ! nonce | operation id (seen nonces) |
 * | gossipOutbox  | operation id                                     | "" (taken on the API, not yet gossiped) |
 * | cycles        | cycleId(20 digits)                               | CycleState                 |
 * | cycleRecords  | cycleId(20 digits) ! index in tree order(8)      | RecordJson                 |
 * | cycleAttestations | cycleId(20 digits) ! merkleRoot ! institution | AttestationRecord         |
 * | cycleAlerts   | cycleId(20 digits) ! alert id                    | SettlementAlert            |
 * | alerts        | alert id                                         | AlertRecord (compliance)   |
 * | alertsByTime  | at(12 digits) ! alert id                         | "" (index)                 |
 * | changes       | seq(16 digits); "~epoch"                         | Change (the change feed); the feed's epoch |
 * | audit         | "e!" seq(16 digits); "head"                      | AuditEntry; the log's head (core/audit/log.ts) |
 * | disputes      | "open"/"resolved" ! disputedAt or resolvedAt(12 digits) ! payment id | "" (index, disputes.ts) |
 * | disputeNotes  | payment id ! createdAtMs(16 digits) ! note id    | StoredDisputeNote (a merchant's signed note) |
 *
 * `audit` is backed up and restored with the state: the record of who downloaded backups, acknowledged
 * alerts and issued or revoked credentials must outlive the machine (a restored log still verifies).
 *
 * `changes` (changes.ts) is derived from the other keyspaces' changes: it is opened with them and
 * written in their batches, but neither backed up nor checksummed (KEYSPACES lists the rest); nor is
 * `gossipOutbox`, written in the same batch as the operations it names and cleared once they are gossiped.
 */
import type { StorageContext as LevelContext, Sublevel, WriteOp } from "../../core/storage/level.js";

export const KEYSPACES = [
  "ops",
  "opsByPayment",
  "opsByStatus",
  "payments",
  "byMerchant",
  "byPayer",
  "byInstitution",
  "byTime",
  "meta",
  "risk",
  "nonces",
  "cycles",
  "cycleRecords",
  "cycleAttestations",
  "cycleAlerts",
  "alerts",
  "alertsByTime",
  "tokens",
  "tokenFrozen",
  "tokenEvents",
  "balances",
  "audit",
  "disputes",
  "disputeNotes",
] as const;

/** The change feed's keyspace: not backed up, restored or checksummed (a restored node starts a new feed). */
export const FEED_KEYSPACES = ["changes"] as const;

/**
 * What this node must still publish: not backed up, restored or checksummed (a backup's content, and
 * so its checksum, stays independent of this node's publishing; a restored node gets from its peers
 * what they accepted, and relays what it holds).
 */
export const OUTBOX_KEYSPACES = ["gossipOutbox"] as const;

/**
 * People who sign in to the node's API and their sessions (users.ts): kept on this machine only, never
 * in a backup (a backup leaves the machine; password hashes and sealed TOTP secrets stay). A restored
 * node enrols its people again; the audit log, which is backed up, keeps what they did.
 *
 * | sublevel      | key                 | value                      |
 * | ------------- | ------------------- | -------------------------- |
 * | users         | user id             | NodeUserRecord             |
 * | usersByEmail  | e-mail (lower case) | user id                    |
 * | sessions      | SHA-256 of token    | NodeSessionRecord          |
 */
export const LOCAL_KEYSPACES = ["users", "usersByEmail", "sessions"] as const;

/** A keyspace of the node's state (backed up and checksummed). */
export type StateKeyspace = (typeof KEYSPACES)[number];
export type Keyspace = StateKeyspace | (typeof FEED_KEYSPACES)[number] | (typeof OUTBOX_KEYSPACES)[number] | (typeof LOCAL_KEYSPACES)[number];

/** What the node's repositories get from the database. */
export type StorageContext = LevelContext<Keyspace>;
export type { Sublevel, WriteOp };

/** One stored record in its raw form (backup/restore). */
export interface SnapshotRecord {
  keyspace: StateKeyspace;
  key: string;
  value: string;
}

/** Separator inside composite keys (sorts below every hex digit and letter). */
export const SEP = "!";

/** Fixed-width decimal so that lexicographic order is numeric order. */
export function pad(value: number, width: number): string {
  return value.toString().padStart(width, "0");
}

/** Key range of every key starting with `prefix` (a non-empty string). */
export function prefixRange(prefix: string): { gte: string; lt: string } {
  return { gte: prefix, lt: prefix.slice(0, -1) + String.fromCharCode(prefix.charCodeAt(prefix.length - 1) + 1) };
}

// Token keyspaces (the token indexer's, node/storage/tokens.ts), in KEYSPACES above:
//
// | sublevel      | key                                              | value                      |
// | ------------- | ------------------------------------------------ | -------------------------- |
// | tokens        | token                                            | TokenRecord                |
// | tokenFrozen   | token ! account                                  | FrozenAccountRecord        |
// | tokenEvents   | token ! block(12 digits) ! logIndex(6 digits)    | TokenEventRecord           |
// | meta          | "tokens.cursor"                                  | last block token-indexed   |
//
// The balance mirror (the balance indexer's, node/storage/balances.ts), in KEYSPACES above:
//
// | sublevel      | key                                              | value                      |
// | ------------- | ------------------------------------------------ | -------------------------- |
// | balances      | token ! account                                  | AccountFunds               |
// | meta          | "balances.cursor"                                | last block mirrored        |
