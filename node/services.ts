/**
 * Interfaces between the node's modules. Each module takes `(options, modules)` and depends only on
 * these, so tests build them from real parts (LevelDB in a temp dir, a local chain, loopback libp2p).
 */
import type { Logger } from "pino";

import type { Operation } from "../core/operations/index.js";
import type { PaymentStatusName } from "../core/protocol/eip712.js";
import type { ListOptions, Page, PaymentRecord, StoredOperation, OperationStatus, OperationFailure } from "../core/records.js";
import type { FeedPage, FeedPosition } from "./storage/changes.js";

export type { Logger };

// ------------------------------------------------------------------ registry mirror (node/chain/registry-view.ts)

export type { AccountKindName } from "../core/protocol/registry.js";
import type { AccountKindName } from "../core/protocol/registry.js";

export interface AccountInfo {
  kind: AccountKindName;
  active: boolean;
  kycLevel: number;
  feeBps: number;
  /** Institution id that opened the account (itself for institutions). */
  institution: string;
}

export interface NodeOperator {
  /** Operator id (first account). */
  id: string;
  /** Current signing key. */
  signer: string;
  peerId: string;
  name: string;
  regulator: boolean;
  active: boolean;
}

/** In-memory mirror of ParticipantRegistry and token freeze state; synchronous reads for validation. */
export interface RegistryView {
  account(address: string): AccountInfo | undefined;
  isFrozen(token: string, account: string): boolean;
  isArbiter(address: string): boolean;
  /** True if `address` holds REGULATOR_ROLE (what SettlementToken.setFrozen requires). */
  isRegulator(address: string): boolean;
  /** True if institution id `institution` is a custodian of `token` (SettlementToken.CustodianChanged). */
  isCustodian(token: string, institution: string): boolean;
  /** Custodian institution ids of `token`. */
  custodiansOf(token: string): string[];
  /** The institution whose current signing key is `signer` (as registry.institutionOfSigner), active or not. */
  institutionOfSigner(signer: string): NodeOperator | undefined;
  /**
   * The institution for which `key` may act as custodian (as registry.custodianInstitutionOf, active or
   * not): the one whose custodian key it is, or whose operator key it is while it has no custodian key.
   */
  custodianInstitutionOf(key: string): NodeOperator | undefined;
  /** The reserve attestor the registry names for institution `institution` (ReserveAttestorSet), if any. */
  reserveAttestorOf(institution: string): string | undefined;
  isSettlementToken(token: string): boolean;
  /** Node operators (institutions and regulators), active or not. */
  operators(): NodeOperator[];
  /** Active institutions sorted by id. */
  activeInstitutions(): NodeOperator[];
  /** Peer ids allowed to connect: active institutions and active regulator nodes. */
  allowedPeerIds(): ReadonlySet<string>;
  /** Catch up with the chain now. */
  refresh(): Promise<void>;
  /** Called after every refresh that changed something. */
  onChange(listener: () => void): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

// ------------------------------------------------------------------ storage (node/storage/*)

export interface OperationRepository {
  get(id: string): Promise<StoredOperation | undefined>;
  has(id: string): Promise<boolean>;
  /** Several operations by id, in order (undefined where unknown). */
  getMany(ids: string[]): Promise<(StoredOperation | undefined)[]>;
  /**
   * Atomic, synced: the operations, their indexes and their (signer, nonce) marks; with `gossip`, also
   * their gossip-outbox entries (operations this node must still publish); removes those of `published`.
   */
  putAccepted(ops: StoredOperation[], options?: { gossip?: boolean; published?: readonly string[] }): Promise<void>;
  /** Up to `limit` operations in the gossip outbox. */
  listUnpublished(limit: number): Promise<StoredOperation[]>;
  /** Takes operations out of the gossip outbox once they are handed to the gossip network. */
  markPublished(ids: string[]): Promise<void>;
  /** Atomic, synced status change (moves the status index). */
  update(id: string, patch: Partial<Pick<StoredOperation, "status" | "txHash" | "execution" | "error">>): Promise<StoredOperation>;
  /** Many status changes in one atomic, synced batch; NOT_FOUND (and nothing written) if an id is unknown. */
  updateMany(updates: { id: string; patch: Partial<Pick<StoredOperation, "status" | "txHash" | "execution" | "error">> }[]): Promise<StoredOperation[]>;
  /**
   * Keeps the payer's words with a stored dispute that came without them: atomic, synced, nothing else
   * changes (no status move, no change record). True if attached; false if `id` is no dispute, already
   * has a text, or `text` does not hash to its signed reason.
   */
  attachReasonText(id: string, text: string): Promise<boolean>;
  listByStatus(status: OperationStatus, limit: number): Promise<StoredOperation[]>;
  /** Up to `limit` ids (with receipt times) in `status` received before `beforeMs`, oldest first (index keys only). */
  listReceivedBefore(status: OperationStatus, beforeMs: number, limit: number): Promise<{ id: string; receivedAtMs: number }[]>;
  listByPayment(paymentId: string): Promise<StoredOperation[]>;
  /** Visits every stored operation received at or after `sinceMs` (bounded memory); walk before anything writes. */
  forEachReceivedSince(sinceMs: number, visit: (op: StoredOperation) => void, pageSize?: number, statuses?: readonly OperationStatus[]): Promise<void>;
  /** True if (signer, nonce) was already used by a stored operation; `token` selects that token's nonce space. */
  nonceSeen(signer: string, nonce: bigint, token?: string): Promise<boolean>;
}

export interface PaymentRepository {
  get(paymentId: string): Promise<PaymentRecord | undefined>;
  listByMerchant(merchant: string, options: ListOptions): Promise<Page<PaymentRecord>>;
  listByPayer(payer: string, options: ListOptions): Promise<Page<PaymentRecord>>;
  listByInstitution(institution: string, options: ListOptions): Promise<Page<PaymentRecord>>;
  listByTime(options: ListOptions): Promise<Page<PaymentRecord>>;
}

/** What one indexer step writes, atomically: payments, executed/failed operations and the cursor. */
export interface IndexBatch {
  payments: PaymentRecord[];
  operations: { id: string; status: Extract<OperationStatus, "executed" | "failed">; execution?: StoredOperation["execution"]; error?: OperationFailure }[];
  cursor: number;
}

/** The change feed (node/storage/changes.ts). */
export interface ChangeFeed {
  /** The newest sequence number given out. */
  readonly latest: number;
  cursor(seq: number): string;
  /** FEED_CURSOR_EXPIRED for a cursor of another feed. */
  position(cursor: string): FeedPosition;
  /** FEED_CURSOR_EXPIRED when the changes after `after` are no longer kept or `after` is beyond the newest. */
  page(after: FeedPosition | undefined, limit: number): Promise<FeedPage>;
  /** Resolves once a change after `after` is recorded, after `ms`, or when `signal` aborts. */
  waitAfter(after: number, ms: number, signal?: AbortSignal): Promise<void>;
}

export interface Storage {
  operations: OperationRepository;
  payments: PaymentRepository;
  changes: ChangeFeed;
  /** Last fully indexed block, or undefined before the first run. */
  getCursor(): Promise<number | undefined>;
  applyIndexBatch(batch: IndexBatch): Promise<void>;
  getMeta<T>(name: string): Promise<T | undefined>;
  putMeta(name: string, value: unknown): Promise<void>;
  close(): Promise<void>;
}

// ------------------------------------------------------------------ validation (node/validation/*)

import type { RiskRules } from "../core/protocol/risk-rules.js";
export type { RiskRules };

export interface ValidationContext {
  chainId: bigint;
  escrow: string;
  registry: RegistryView;
  storage: Storage;
  rules: RiskRules;
  nowSeconds(): number;
  /** The latest block's timestamp (`fresh`: read from the chain now, else as last polled; undefined: unknown); releases and reclaims fall due by it. */
  chainNowSeconds?: (fresh: boolean) => Promise<number | undefined>;
  /** Settlement token names (their EIP-712 domain names) by lower-case address; token operations need them. */
  tokenNames?: ReadonlyMap<string, string>;
}

/** An operation that passed validation. */
export interface ValidatedOperation {
  id: string;
  /** The zero hash for token operations. */
  paymentId: string;
  op: Operation;
  signer: string | null;
}

// ------------------------------------------------------------------ relay (node/relay/*)

export interface Relayer {
  /**
   * Accepted operations this node should relay (origin api) or watch for failover (origin gossip);
   * `parsed[i]`, when given, is `ops[i]` as validation parsed it.
   */
  enqueue(ops: StoredOperation[], parsed?: readonly Operation[]): void;
  /** The indexer saw these operation ids finalised on-chain. */
  settled(ids: string[]): void;
  start(): Promise<void>;
  stop(): Promise<void>;
}

export interface Modules {
  logger: Logger;
}

export type { PaymentStatusName };
