/**
 * Every refusal code of an operation, with its gossip action per path and its HTTP status: the one
 * list the node's validators, its outcome mapper, the node API docs and the gateway share.
 */
import { ValidationAction } from "../errors.js";

type Action = ValidationAction;
const { IGNORE, REJECT } = ValidationAction;

interface CodeSpec {
  /** Action on the gossip path (what the forwarding peer's score sees). */
  readonly gossip: Action;
  /** Action on the API path (ignore = nothing wrong with the request, e.g. an idempotent repeat). */
  readonly api: Action;
  /** HTTP status of the API answer. */
  readonly http: number;
  readonly summary: string;
}

/**
 * Every validation refusal code with its gossip action per path and its HTTP status: the one list
 * the API docs, the validators and the outcome mapper share. `api: ignore` means nothing is wrong
 * with the request (an idempotent repeat, a stale operation) but it is not accepted again.
 */
export const OPERATION_CODES = {
  MALFORMED: { gossip: REJECT, api: REJECT, http: 400, summary: "not UTF-8 JSON, or fails the wire schema (unknown field, money as a JSON number, ...)" },
  BAD_ADDRESS: { gossip: REJECT, api: REJECT, http: 400, summary: "an address whose mixed case is not its EIP-55 checksum (all lower-case and all upper-case are accepted)" },
  DUPLICATE: { gossip: IGNORE, api: IGNORE, http: 409, summary: "an operation with this id is already stored (its status is at GET /operations/{id})" },
  ALREADY_EXECUTED: { gossip: IGNORE, api: IGNORE, http: 409, summary: "the payment is already executed on-chain" },
  UNSUPPORTED_TOKEN: { gossip: REJECT, api: REJECT, http: 422, summary: "the token is not a registered settlement token" },
  UNKNOWN_MERCHANT: { gossip: REJECT, api: REJECT, http: 422, summary: "the merchant is not a registered merchant" },
  MERCHANT_SUSPENDED: { gossip: REJECT, api: REJECT, http: 422, summary: "the merchant is suspended" },
  UNKNOWN_PAYER: { gossip: REJECT, api: REJECT, http: 422, summary: "the payer is not a registered customer or merchant" },
  PAYER_SUSPENDED: { gossip: REJECT, api: REJECT, http: 422, summary: "the payer is suspended" },
  FEE_MISMATCH: { gossip: REJECT, api: REJECT, http: 422, summary: "terms.feeBps differs from the merchant's registered fee" },
  ACCOUNT_FROZEN: { gossip: REJECT, api: REJECT, http: 403, summary: "the payer or the merchant is frozen on the token" },
  UNKNOWN_PAYMENT: { gossip: IGNORE, api: REJECT, http: 404, summary: "not a pay, and its payment is neither indexed nor pending on this node" },
  NONCE_USED: { gossip: IGNORE, api: IGNORE, http: 409, summary: "another stored operation of the signer used this nonce" },
  EXPIRED: { gossip: IGNORE, api: IGNORE, http: 422, summary: "the deadline (payDeadline for pay) has passed" },
  NOT_DUE: { gossip: IGNORE, api: IGNORE, http: 422, summary: "a release before the payment's auto-release time, or a reclaim before its fulfilment deadline has passed, in this node's view of the chain (send it again once due)" },
  // Never sent on gossip: only the API path checks a payer's funds (a peer's mirror may lag or lead this node's).
  PAYER_INSUFFICIENT_BALANCE: {
    gossip: IGNORE,
    api: REJECT,
    http: 422,
    summary: "a pay whose amount, with the payer's other pending payments, exceeds the payer's token balance (the node's mirror, confirmed by a chain read): nothing was stored; the same signature may be sent again once the payer is funded",
  },
  PAYER_ALLOWANCE_MISSING: {
    gossip: IGNORE,
    api: REJECT,
    http: 422,
    summary: "a pay whose amount, with the payer's other pending payments, exceeds the payer's allowance to the escrow: nothing was stored; the payer approves the escrow (or signs a permit), then the same signature may be sent again",
  },
  BLACKLISTED: { gossip: REJECT, api: REJECT, http: 403, summary: "the payer or the merchant is on the configured blacklist" },
  AMOUNT_OVER_LIMIT: { gossip: REJECT, api: REJECT, http: 422, summary: "a single payment above maxPaymentAmount" },
  PAYER_DAILY_LIMIT: { gossip: IGNORE, api: REJECT, http: 422, summary: "the payer's UTC-day total would exceed payerDailyLimit" },
  MERCHANT_DAILY_LIMIT: { gossip: IGNORE, api: REJECT, http: 422, summary: "the merchant's UTC-day total would exceed merchantDailyLimit" },
  // IGNORE on gossip: nodes apply a new risk-rules document and learn a level change at slightly
  // different moments, so a peer that accepted under the newer view has done nothing wrong.
  KYC_LIMIT_EXCEEDED: { gossip: IGNORE, api: REJECT, http: 422, summary: "a customer's payment above the single-payment limit of its KYC level in this token" },
  KYC_DAILY_LIMIT_EXCEEDED: { gossip: IGNORE, api: REJECT, http: 422, summary: "a customer's UTC-day total in this token would exceed the daily limit of its KYC level" },
  VELOCITY_LIMIT: { gossip: IGNORE, api: REJECT, http: 429, summary: "the payer's payments within the velocity window would exceed the count" },
  BAD_SIGNATURE: { gossip: REJECT, api: REJECT, http: 422, summary: "signature malformed, high-s, or not by the expected signer (e.g. signed for another chain)" },
  REASON_MISMATCH: { gossip: REJECT, api: REJECT, http: 422, summary: "a dispute's reasonText whose keccak256 (of its UTF-8 bytes) is not the signed reason" },
  NOT_ARBITER: { gossip: REJECT, api: REJECT, http: 403, summary: "a resolve not signed by an arbiter" },
  NOT_CUSTODIAN: { gossip: REJECT, api: REJECT, http: 403, summary: "a mint or burn not signed by the custodian key of an active custodian institution of the token" },
  NOT_RESERVE_ATTESTOR: { gossip: REJECT, api: REJECT, http: 403, summary: "a reserve attestation not signed by the reserve attestor the registry names for its custodian" },
  NOT_REGULATOR: { gossip: REJECT, api: REJECT, http: 403, summary: "a freeze not signed by a regulator" },
  ACCOUNT_NOT_PERMITTED: { gossip: IGNORE, api: REJECT, http: 422, summary: "a mint's recipient or a burn's source is not a registered, active participant" },
  INTERNAL: { gossip: IGNORE, api: IGNORE, http: 500, summary: "this node failed to validate it (storage, bug); never the sender's fault" },
  RELAY_BACKLOG: {
    gossip: IGNORE,
    api: IGNORE,
    http: 503,
    summary: "the node's relay lags behind (admission control): nothing was stored; submit the same operations again after the `Retry-After` seconds",
  },
} as const satisfies Record<string, CodeSpec>;

export type OperationCode = keyof typeof OPERATION_CODES;

/** True if `code` is one of OPERATION_CODES. */
export function isOperationCode(code: string): code is OperationCode {
  return Object.hasOwn(OPERATION_CODES, code);
}

