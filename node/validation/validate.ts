/**
 * The validation core shared by the HTTP submit path and the gossip path. Checks run cheapest first:
 *
 *   schema → id → seen → registry state → nonce and deadline → risk rules → signature
 *
 * Each refusal is an OperationError whose code is listed, with its gossip action and HTTP status,
 * in OPERATION_CODES (the one list the API docs and the outcome mapper share). Refusals that depend
 * on this node's local view (cumulative limits, a payment not yet seen) are IGNORE on the gossip
 * path, so the forwarding peer is not penalised, and REJECT on the API path.
 */

import { OperationError, ValidationAction } from "../errors.js";
import {
  expectedSigner,
  isTokenOperation,
  operationDigests,
  operationSchema,
  type EscrowOperation,
  type Operation,
} from "../protocol/operations.js";
import type { ValidatedOperation, ValidationContext } from "../services.js";
import type { RiskEngine } from "./risk.js";
import { recoverSigner } from "./signature.js";
import { validateTokenOperation } from "./token.js";

/** Where an operation arrived: a client of this node's API, or a peer. */
export type ValidationPath = "api" | "gossip";

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
  MALFORMED: { gossip: REJECT, api: REJECT, http: 400, summary: "not UTF-8 JSON, or fails the wire schema (unknown field, money as a JSON number, bad address, ...)" },
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
  BLACKLISTED: { gossip: REJECT, api: REJECT, http: 403, summary: "the payer or the merchant is on the configured blacklist" },
  AMOUNT_OVER_LIMIT: { gossip: REJECT, api: REJECT, http: 422, summary: "a single payment above maxPaymentAmount" },
  PAYER_DAILY_LIMIT: { gossip: IGNORE, api: REJECT, http: 422, summary: "the payer's UTC-day total would exceed payerDailyLimit" },
  MERCHANT_DAILY_LIMIT: { gossip: IGNORE, api: REJECT, http: 422, summary: "the merchant's UTC-day total would exceed merchantDailyLimit" },
  VELOCITY_LIMIT: { gossip: IGNORE, api: REJECT, http: 429, summary: "the payer's payments within the velocity window would exceed the count" },
  BAD_SIGNATURE: { gossip: REJECT, api: REJECT, http: 422, summary: "signature malformed, high-s, or not by the expected signer (e.g. signed for another chain)" },
  NOT_ARBITER: { gossip: REJECT, api: REJECT, http: 403, summary: "a resolve not signed by an arbiter" },
  NOT_CUSTODIAN: { gossip: REJECT, api: REJECT, http: 403, summary: "a mint, burn or reserve attestation not signed by an active custodian institution of the token" },
  NOT_REGULATOR: { gossip: REJECT, api: REJECT, http: 403, summary: "a freeze not signed by a regulator" },
  ACCOUNT_NOT_PERMITTED: { gossip: IGNORE, api: REJECT, http: 422, summary: "a mint's recipient or a burn's source is not a registered, active participant" },
  INTERNAL: { gossip: IGNORE, api: IGNORE, http: 500, summary: "this node failed to validate it (storage, bug); never the sender's fault" },
} as const satisfies Record<string, CodeSpec>;

export type OperationCode = keyof typeof OPERATION_CODES;

/** True if `code` is one of OPERATION_CODES. */
export function isOperationCode(code: string): code is OperationCode {
  return Object.hasOwn(OPERATION_CODES, code);
}

/** The OperationError for `code` on `path`, with the action the table gives. */
export function refusal(code: OperationCode, path: ValidationPath, message: string, meta: Record<string, unknown> = {}): OperationError {
  return new OperationError(OPERATION_CODES[code][path], code, message, meta);
}

/**
 * Validates one operation (its JSON wire form, or the JSON text/bytes) arriving on `path`. Resolves
 * with the parsed operation, its id and its signer; throws an OperationError with a code from
 * OPERATION_CODES. Does not store anything or count it towards risk totals: the caller does both
 * once the operation is accepted (`risk.record`).
 */
export async function validateOperation(
  input: unknown,
  ctx: ValidationContext,
  path: ValidationPath,
  risk: RiskEngine,
): Promise<ValidatedOperation> {
  const parsed = parse(input, path);
  if (isTokenOperation(parsed)) return validateTokenOperation(parsed, ctx, path);
  const op = parsed;
  const { id, paymentId } = operationDigests(op, ctx);

  if (await ctx.storage.operations.has(id)) throw refusal("DUPLICATE", path, `operation ${id} already received`, { id });

  await checkRegistryState(op, id, paymentId, ctx, path);

  const now = ctx.nowSeconds();
  const expected = expectedSigner(op);
  if (op.kind !== "pay" && op.kind !== "release" && expected !== "arbiter" && expected !== null) {
    await checkNonce(expected, op.nonce, ctx, path);
  }
  const deadline = op.kind === "pay" ? op.terms.payDeadline : op.kind === "release" ? undefined : op.deadline;
  // The contracts revert only when block.timestamp > deadline.
  if (deadline !== undefined && BigInt(now) > deadline) {
    throw refusal("EXPIRED", path, `deadline ${deadline} has passed (now ${now})`, { deadline: deadline.toString(), now });
  }

  risk.check(op, now, path);

  if (op.kind === "release") return { id, paymentId, op, signer: null };
  const signer = recoverSigner(id, op.signature);
  if (expected === "arbiter") {
    if (!ctx.registry.isArbiter(signer)) throw refusal("NOT_ARBITER", path, `resolve signed by ${signer}, not an arbiter`, { signer });
    // Only now is the signer known whose nonce space the resolve uses.
    if (op.kind !== "pay") await checkNonce(signer, op.nonce, ctx, path);
  } else if (signer !== expected) {
    throw refusal("BAD_SIGNATURE", path, `signed by ${signer}, expected ${String(expected)}`, { signer, expected });
  }
  return { id, paymentId, op, signer };
}

// ---------------------------------------------------------------- steps

const utf8 = new TextDecoder("utf-8", { fatal: true });

function parse(input: unknown, path: ValidationPath): Operation {
  let value = input;
  if (typeof input === "string" || input instanceof Uint8Array) {
    try {
      value = JSON.parse(typeof input === "string" ? input : utf8.decode(input));
    } catch (error) {
      throw refusal("MALFORMED", path, "operation is not UTF-8 JSON", { reason: (error as Error).message });
    }
  }
  const result = operationSchema.safeParse(value);
  if (!result.success) {
    const issues = result.error.issues.map((issue) => ({ path: issue.path.map(String).join("."), code: issue.code, message: issue.message }));
    throw refusal("MALFORMED", path, `operation does not match the schema: ${issues.map((i) => i.path || "(root)").join(", ")}`, { issues });
  }
  return result.data;
}

async function checkRegistryState(
  op: EscrowOperation,
  id: string,
  paymentId: string,
  ctx: ValidationContext,
  path: ValidationPath,
): Promise<void> {
  const { registry } = ctx;
  const { terms } = op;
  if (op.kind !== "pay") {
    if (await ctx.storage.payments.get(paymentId)) return;
    const pay = await ctx.storage.operations.get(paymentId);
    if (pay && pay.status !== "failed") return;
    throw refusal("UNKNOWN_PAYMENT", path, `payment ${paymentId} is neither indexed nor pending here`, { paymentId, id });
  }
  if (!registry.isSettlementToken(terms.token)) {
    throw refusal("UNSUPPORTED_TOKEN", path, `token ${terms.token} is not a settlement token`, { token: terms.token });
  }
  const merchant = registry.account(terms.merchant);
  if (!merchant || merchant.kind !== "merchant") {
    throw refusal("UNKNOWN_MERCHANT", path, `${terms.merchant} is not a registered merchant`, { merchant: terms.merchant });
  }
  if (!merchant.active) throw refusal("MERCHANT_SUSPENDED", path, `merchant ${terms.merchant} is suspended`, { merchant: terms.merchant });
  const payer = registry.account(terms.payer);
  if (!payer || (payer.kind !== "customer" && payer.kind !== "merchant")) {
    throw refusal("UNKNOWN_PAYER", path, `${terms.payer} is not a registered customer or merchant`, { payer: terms.payer });
  }
  if (!payer.active) throw refusal("PAYER_SUSPENDED", path, `payer ${terms.payer} is suspended`, { payer: terms.payer });
  if (terms.feeBps !== merchant.feeBps) {
    throw refusal("FEE_MISMATCH", path, `fee ${terms.feeBps} bps differs from the merchant's ${merchant.feeBps} bps`, {
      feeBps: terms.feeBps,
      merchantFeeBps: merchant.feeBps,
    });
  }
  for (const account of [terms.payer, terms.merchant]) {
    if (registry.isFrozen(terms.token, account)) {
      throw refusal("ACCOUNT_FROZEN", path, `${account} is frozen on ${terms.token}`, { account, token: terms.token });
    }
  }
  if (await ctx.storage.payments.get(paymentId)) {
    throw refusal("ALREADY_EXECUTED", path, `payment ${paymentId} is already on-chain`, { paymentId });
  }
}

async function checkNonce(signer: string, nonce: bigint, ctx: ValidationContext, path: ValidationPath): Promise<void> {
  if (await ctx.storage.operations.nonceSeen(signer, nonce)) {
    throw refusal("NONCE_USED", path, `nonce ${nonce} of ${signer} is already used`, { signer, nonce: nonce.toString() });
  }
}

// ---------------------------------------------------------------- digests
