/**
 * Records the gateway persists. Money is a decimal string in minor units; times are unix
 * milliseconds where the name says `Ms`. API views (what merchants see) live with their routes
 * (routes/<resource>/schemas.ts and views.ts).
 */
import type { PaymentStatusName } from "../../core/protocol/eip712.js";
import type { EscrowOperationInput } from "../../core/operations/index.js";
import type { SealedSecret } from "./secrets.js";

/** A merchant served by this gateway; the gateway holds its on-chain signing key. */
export interface MerchantRecord {
  id: string;
  name: string;
  /** The merchant's registered on-chain address (checksummed). */
  address: string;
  /** Its private key, sealed under the master key (context `merchant:<id>`). */
  signingKey: SealedSecret;
  status: "active" | "suspended";
  createdAtMs: number;
}

/** An API key of a merchant. Valid while not revoked and (after a rotation) before `expiresAtMs`. */
export interface ApiKeyRecord {
  keyId: string;
  merchantId: string;
  /** The HMAC secret, sealed under the master key (context `apiKey:<keyId>`). */
  secret: SealedSecret;
  createdAtMs: number;
  /** Set when a rotation retired this key: it stays valid until then (the overlap window). */
  expiresAtMs?: number;
  revokedAtMs?: number;
}

/** What an Idempotency-Key recorded: the response to replay (older versions also stored requests in flight). */
export interface IdempotencyRecord {
  merchantId: string;
  key: string;
  /** sha256 over method, path and body: the same key with another request is refused. */
  fingerprint: string;
  /** Only "complete" is written now; an "in_progress" record was left by an earlier version's process and is disregarded. */
  state: "in_progress" | "complete";
  /** The process that held an in-progress record (earlier versions). */
  owner?: string;
  createdAtMs: number;
  expiresAtMs: number;
  /**
   * The recorded answer. A body that carries a secret (a webhook endpoint's whsec_) is kept only
   * sealed under the master key (`sealedBody`, `body` empty), so the replay still gives the secret
   * but the database never holds it in plaintext.
   */
  response?: { status: number; contentType: string; body: string; sealedBody?: SealedSecret };
}

/** Order lifecycle as the gateway reports it (on-chain statuses plus the steps before and beside them). */
export const ORDER_STATUSES = [
  "awaiting_authorization",
  "processing",
  "held",
  "fulfilled",
  "disputed",
  "released",
  "refunded",
  "resolved",
  "reclaimed",
  "cancelled",
  "expired",
  "failed",
] as const;
export type OrderStatus = (typeof ORDER_STATUSES)[number];

/** Statuses that come straight from the escrow's payment status. */
export const ON_CHAIN_ORDER_STATUSES: Record<Exclude<PaymentStatusName, "none">, OrderStatus> = {
  held: "held",
  fulfilled: "fulfilled",
  disputed: "disputed",
  released: "released",
  refunded: "refunded",
  resolved: "resolved",
  reclaimed: "reclaimed",
};

/** An operation the gateway submitted for an order, as the node last reported it. */
export type SubmittedStatus = "pending" | "executed" | "failed";

export interface SubmittedOperation {
  operationId: string;
  submittedAtMs: number;
  status: SubmittedStatus;
  error?: { code: string; message: string };
  /** Where the chain executed it, once the node knows (its indexer or relayer). */
  execution?: OperationExecution;
}

/** The transaction and block an operation was executed in (chain time in unix seconds). */
export interface OperationExecution {
  txHash: string;
  blockNumber: number;
  timestamp: number;
}

export interface RefundRecord extends SubmittedOperation {
  id: string;
  amount: string;
  reason: string;
}

export interface OnChainState {
  status: string;
  amount: string;
  refunded: string;
  /** Meaning follows the status (fulfilment deadline, release time, end of refund window); unix seconds. */
  deadline: number;
}

/** A merchant's order: the payment terms the payer signs plus what happened to them. */
export interface OrderRecord {
  /** Gateway payment id (`pay_…`), what the API uses. */
  id: string;
  merchantId: string;
  merchantOrderId: string;
  /** Canonical hash of the create request: the same merchantOrderId with another body is a conflict. */
  requestHash: string;
  status: OrderStatus;
  amount: string;
  currency: string;
  description: string | null;
  mode: "escrow" | "direct";
  /** The signed terms in their JSON wire form; their EIP-712 digest is `paymentId`. */
  terms: EscrowOperationInput["terms"];
  /** On-chain payment id. */
  paymentId: string;
  createdAtMs: number;
  updatedAtMs: number;
  expiresAtMs: number;
  authorization?: SubmittedOperation & { signature: string };
  fulfilment?: SubmittedOperation;
  /** The `release` the gateway's keeper submitted once the auto-release time passed (keeper.ts). */
  autoRelease?: SubmittedOperation;
  refunds: RefundRecord[];
  cancelledAtMs?: number;
  cancelReason?: string;
  /** The escrow's state when the gateway last looked. */
  onChain?: OnChainState;
  /** The last refusal of an operation for this order. */
  lastError?: { code: string; message: string; atMs: number };
  /**
   * When the reconciler compares the order with the node unless the change feed settles it first
   * (domain/orders.ts `checkTimeOf`); absent when nothing is awaited.
   */
  checkAtMs?: number;
  /** When the reconciler last compared the order with the node. */
  checkedAtMs?: number;
}

/** What a dashboard user may do (routes/dashboard, plugins/app/session.ts). */
export const USER_ROLES = ["owner", "operator", "read-only"] as const;
export type UserRole = (typeof USER_ROLES)[number];

/** A dashboard user of one merchant. E-mail addresses are unique across the gateway (sign-in names no merchant). */
export interface UserRecord {
  id: string;
  merchantId: string;
  /** Lower case. */
  email: string;
  role: UserRole;
  /** "invited" until the invitation is accepted (no password or TOTP yet). */
  status: "invited" | "active";
  /** scrypt hash (core/auth/passwords.ts). */
  password?: { alg: "scrypt"; N: number; r: number; p: number; salt: string; hash: string };
  /** The base32 TOTP secret, sealed under the master key (context `user-totp:<id>`). */
  totp?: SealedSecret;
  /** The TOTP step of the last accepted code: that code and earlier ones are refused. */
  totpLastStep?: number;
  /** Consecutive failed sign-ins since the last success or lock-out. */
  failures: number;
  lockedUntilMs?: number;
  createdAtMs: number;
}

/** A signed-in session; its key is the SHA-256 of the cookie's token (the token itself is never stored). */
export interface SessionRecord {
  userId: string;
  merchantId: string;
  createdAtMs: number;
  lastSeenMs: number;
  /** Absolute expiry, whatever the activity. */
  expiresAtMs: number;
}

/** A pending invitation; its key is the SHA-256 of the one-time token. */
export interface InvitationRecord {
  userId: string;
  merchantId: string;
  expiresAtMs: number;
}
