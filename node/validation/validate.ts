/**
 * The validation core shared by the HTTP submit path and the gossip path, for a group of operations
 * at a time. Checks run cheapest first:
 *
 *   schema → id → dispute text against its signed reason → seen → registry state → nonce and deadline → risk rules → signature (the group's
 *   signatures together, in the verifier's worker threads) → the signer's role and nonce
 *
 * What each kind needs (who signs, whether it creates a payment or uses a nonce, its deadline) comes
 * from its descriptor in core/operations. Each refusal is an OperationError whose code is listed, with
 * its gossip action and HTTP status, in OPERATION_CODES (core/protocol/codes.ts: the one list the API
 * docs and the outcome mapper share). Refusals that depend on this node's local view (cumulative
 * limits, a payment not yet seen) are IGNORE on the gossip path, so the forwarding peer is not
 * penalised, and REJECT on the API path.
 */

import {
  escrowDescriptorFor,
  isTokenOperation,
  operationDigests,
  operationSchema,
  type DecodedOperation,
  type EscrowOperation,
  type EscrowOperationDescriptor,
  type Operation,
} from "../../core/operations/index.js";
import { disputeReasonMatches } from "../../core/operations/dispute.js";
import { BAD_ADDRESS_ISSUE } from "../../core/operations/wire.js";
import type { ValidatedOperation, ValidationContext } from "../services.js";
import { nonceRefusal, refusal, type ValidationPath } from "./refusal.js";
import type { RiskEngine } from "./risk.js";
import { InlineVerifier, type SignatureVerifier } from "./signature.js";
import { prepareTokenOperation } from "./token.js";

/** One operation of a group: its JSON wire form (or that as text or bytes), or one decoded from a gossip message. */
export type GroupItem = { input: unknown } | DecodedOperation;

/** What validating a group needs besides the context: the risk rules and the signature verifier. */
export interface ValidationModules {
  risk: RiskEngine;
  signatures: SignatureVerifier;
}

/**
 * An operation that passed every check that does not need its signer: its id (computed once, and the
 * digest its signature covers), the signature to recover, and the checks that need the signer.
 */
export interface PreparedOperation {
  id: string;
  paymentId: string;
  op: Operation;
  /** Absent for unsigned kinds (release). */
  signature?: string | Uint8Array;
  finish(signer: string | null): Promise<ValidatedOperation>;
}

/**
 * Validates a group of operations arriving together on `path`: each operation's cheap checks (schema,
 * id, seen, registry, nonce, deadline, risk) run first, then the signatures of all that passed are
 * recovered in one call to the verifier (worker threads), then the checks that need the signer. One
 * settled result per item, in order: the group never fails as a whole. Nothing is stored or counted
 * towards risk totals: the caller does both for what it accepts.
 */
export async function validateGroup(
  items: readonly GroupItem[],
  ctx: ValidationContext,
  path: ValidationPath,
  modules: ValidationModules,
): Promise<PromiseSettledResult<ValidatedOperation>[]> {
  const prepared = await Promise.allSettled(items.map((item) => prepare(item, ctx, path, modules.risk)));
  const signed: number[] = [];
  const signatures: { digest: string; signature: string | Uint8Array }[] = [];
  prepared.forEach((result, i) => {
    if (result.status === "fulfilled" && result.value.signature !== undefined) {
      signed[i] = signatures.length;
      signatures.push({ digest: result.value.id, signature: result.value.signature });
    }
  });
  // A verifier failure (a worker died) is this node's fault: each operation it held is INTERNAL.
  const recovered = signatures.length === 0 ? [] : await modules.signatures.recover(signatures).catch((error: unknown) => signatures.map(() => error));
  return Promise.allSettled(
    prepared.map(async (result, i) => {
      if (result.status === "rejected") throw result.reason;
      const slot = signed[i];
      if (slot === undefined) return result.value.finish(null);
      const signer = recovered[slot];
      if (typeof signer !== "string") throw signer;
      return result.value.finish(signer);
    }),
  );
}

/**
 * Validates one operation (its JSON wire form, or the JSON text/bytes) arriving on `path`. Resolves
 * with the parsed operation, its id and its signer; throws an OperationError with a code from
 * OPERATION_CODES. Recovers the signature on the calling thread unless a verifier is given.
 */
export async function validateOperation(
  input: unknown,
  ctx: ValidationContext,
  path: ValidationPath,
  risk: RiskEngine,
  signatures: SignatureVerifier = inline,
): Promise<ValidatedOperation> {
  const [result] = await validateGroup([{ input }], ctx, path, { risk, signatures });
  if (result?.status !== "fulfilled") throw result?.reason;
  return result.value;
}

const inline = new InlineVerifier();

/** The checks of one operation that need no signer, cheapest first. */
async function prepare(item: GroupItem, ctx: ValidationContext, path: ValidationPath, risk: RiskEngine): Promise<PreparedOperation> {
  let parsed: Operation;
  let signatureBytes: Uint8Array | undefined;
  if ("input" in item) {
    parsed = parse(item.input, path);
  } else if ("error" in item) {
    throw refusal("MALFORMED", path, item.error.message, item.error.meta);
  } else {
    parsed = item.op;
    signatureBytes = item.signature;
  }
  if (isTokenOperation(parsed)) return prepareTokenOperation(parsed, ctx, path, signatureBytes);
  const op = parsed;
  const descriptor = escrowDescriptorFor(op);
  const { id, paymentId } = operationDigests(op, ctx);
  // The text is not signed: it is taken only as the words the signed reason hashes.
  if (op.kind === "dispute" && op.reasonText !== undefined && !disputeReasonMatches(op.reasonText, op.reason)) {
    throw refusal("REASON_MISMATCH", path, "reasonText does not hash to the signed reason", { id, reason: op.reason });
  }

  if (await ctx.storage.operations.has(id)) {
    // A release's id is fixed per payment: one whose execution failed must not block a later one (the
    // escrow still releases once at most). Every other operation is signed once and stays refused.
    const retry = op.kind === "release" && (await ctx.storage.operations.get(id))?.status === "failed";
    if (!retry) {
      // The same dispute again, now with the payer's words (the first copy came without): keep them. Nothing runs again.
      const attached = op.kind === "dispute" && op.reasonText !== undefined && (await ctx.storage.operations.attachReasonText(id, op.reasonText));
      throw refusal("DUPLICATE", path, `operation ${id} already received`, { id, ...(attached ? { reasonTextAttached: true } : {}) });
    }
  }

  await checkRegistryState(op, descriptor, id, paymentId, ctx, path);
  if (op.kind === "release" || op.kind === "reclaim") await checkDue(op.kind, paymentId, ctx, path);

  const now = ctx.nowSeconds();
  // The payer or merchant the terms name; an arbiter is known only from the signature.
  const expected = descriptor.signer === "payer" ? op.terms.payer : descriptor.signer === "merchant" ? op.terms.merchant : undefined;
  const nonce = descriptor.consumesNonce && "nonce" in op ? op.nonce : undefined;
  if (expected !== undefined && nonce !== undefined) await checkNonce(expected, nonce, id, ctx, path);
  const deadline = descriptor.deadline(op);
  // The contracts revert only when block.timestamp > deadline.
  if (deadline !== undefined && (BigInt(now) > deadline || (await passedOnFreshRead(deadline, ctx)))) {
    throw refusal("EXPIRED", path, `deadline ${deadline} has passed (now ${now})`, { deadline: deadline.toString(), now });
  }

  risk.check(op, now, path);

  if (descriptor.signer === "none" || !("signature" in op)) return { id, paymentId, op, finish: async () => ({ id, paymentId, op, signer: null }) };
  return {
    id,
    paymentId,
    op,
    signature: signatureBytes ?? op.signature,
    async finish(signer) {
      if (signer === null) throw refusal("BAD_SIGNATURE", path, "no signer was recovered");
      if (descriptor.signer === "arbiter") {
        if (!ctx.registry.isArbiter(signer)) throw refusal("NOT_ARBITER", path, `${op.kind} signed by ${signer}, not an arbiter`, { signer });
        // Only now is the signer known whose nonce space the operation uses.
        if (nonce !== undefined) await checkNonce(signer, nonce, id, ctx, path);
      } else if (signer !== expected) {
        throw refusal("BAD_SIGNATURE", path, `signed by ${signer}, expected ${String(expected)}`, { signer, expected });
      }
      return { id, paymentId, op, signer };
    },
  };
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
    if (issues.some((issue) => issue.message === BAD_ADDRESS_ISSUE)) throw refusal("BAD_ADDRESS", path, "an address's mixed case is not its EIP-55 checksum", { issues });
    throw refusal("MALFORMED", path, `operation does not match the schema: ${issues.map((i) => i.path || "(root)").join(", ")}`, { issues });
  }
  return result.data;
}

async function checkRegistryState(
  op: EscrowOperation,
  descriptor: EscrowOperationDescriptor<EscrowOperation>,
  id: string,
  paymentId: string,
  ctx: ValidationContext,
  path: ValidationPath,
): Promise<void> {
  const { registry } = ctx;
  const { terms } = op;
  if (!descriptor.createsPayment) {
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

/**
 * A release or reclaim that the escrow would refuse as not due yet (ReleaseNotDue, ReclaimNotDue) is
 * ignored here instead of being accepted, stored, gossiped and relayed to fail: by the node's mirror of
 * the payment (its status and deadline) and the chain's time (the latest block's timestamp; the next
 * block's is at least that). Not the sender's fault in gossip terms (its view may be ahead of ours).
 */
async function checkDue(kind: "release" | "reclaim", paymentId: string, ctx: ValidationContext, path: ValidationPath): Promise<void> {
  const payment = await ctx.storage.payments.get(paymentId);
  // A payment still to be indexed (its pay pending) is neither fulfilled nor past any deadline here.
  if (!payment) throw refusal("NOT_DUE", path, `payment ${paymentId} is not indexed yet: ${kind} is not due`, { paymentId });
  const meta = { paymentId, paymentStatus: payment.status, deadline: payment.deadline };
  if (kind === "release" && payment.status === "held") throw refusal("NOT_DUE", path, `payment ${paymentId} is not fulfilled yet`, meta);
  // Other states are the escrow's to judge (already released, disputed...): only the time is checked here.
  if (payment.status !== (kind === "release" ? "fulfilled" : "held") || !ctx.chainNowSeconds) return;
  // The escrow releases at block.timestamp >= releaseAt and reclaims at block.timestamp > the fulfilment deadline.
  const due = (now: number | undefined) => now === undefined || (kind === "release" ? now >= payment.deadline : now > payment.deadline);
  let chainNow = await ctx.chainNowSeconds(false);
  // The polled time may lag a block the sender has seen: read the chain before refusing (rare: only near the deadline).
  if (!due(chainNow)) chainNow = await ctx.chainNowSeconds(true);
  if (!due(chainNow)) throw refusal("NOT_DUE", path, `${kind} of ${paymentId} is due at chain time ${payment.deadline} (latest block ${chainNow})`, { ...meta, chainNow });
}

async function checkNonce(signer: string, nonce: bigint, id: string, ctx: ValidationContext, path: ValidationPath): Promise<void> {
  if (await ctx.storage.operations.nonceSeen(signer, nonce)) {
    throw await nonceRefusal(signer, nonce, id, ctx, path);
  }
}


/**
 * Whether a deadline the chain-time estimate still allows has passed by the chain's latest block read
 * now. Asked only where this machine's clock says it has passed: after an idle spell the estimate can
 * lag (it counts from a block that was already old when read), while a clock that runs ahead must not
 * refuse what the contracts would take.
 */
async function passedOnFreshRead(deadline: bigint, ctx: ValidationContext): Promise<boolean> {
  if (BigInt(Math.floor(Date.now() / 1000)) <= deadline || !ctx.chainNowSeconds) return false;
  const fresh = await ctx.chainNowSeconds(true);
  return fresh !== undefined && BigInt(fresh) > deadline;
}
