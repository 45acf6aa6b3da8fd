/**
 * What the chain did with a relayed operation or a cycle finalization, decoded from its revert data.
 * The relay, the indexer and settlement all decode here, so every node records the same outcome for
 * the same revert.
 */
import { Interface, isError, type ErrorDescription } from "ethers";

import { loadArtifact } from "../protocol/artifacts.js";
import { PAYMENT_STATUSES, type PaymentStatusName } from "../protocol/eip712.js";
import type { AnyOperationKindName } from "../protocol/operations.js";
import type { OperationFailure } from "../records.js";

/** What a transaction does on-chain: an operation of one kind, or the finalization of a cycle. */
export type ChainAction = AnyOperationKindName | "finalize";

export type ChainOutcome =
  | { kind: "executed" }
  /** Refused because it already ran (by this node or another): success, nothing to do again. */
  | { kind: "alreadyExecuted"; code: string }
  | { kind: "failed"; error: OperationFailure }
  /** Reverted without data (out of gas inside a batch, or a bare revert): sending it again may work. */
  | { kind: "retry" };

/** A custom error meaning "already executed"; `status` narrows InvalidPaymentStatus to the payment status it reports. */
interface AlreadyExecutedRule {
  error: string;
  status?: PaymentStatusName;
}

// A signed action's nonce is checked before the payment's status, so a second execution of the same
// signed operation always fails on its nonce.
const NONCE_USED: readonly AlreadyExecutedRule[] = [{ error: "NonceAlreadyUsed" }];

/** Per action, the refusals that mean it already ran. */
const ALREADY_EXECUTED: Record<ChainAction, readonly AlreadyExecutedRule[]> = {
  // A payment id is paid at most once.
  pay: [{ error: "PaymentAlreadyExists" }],
  markFulfilled: NONCE_USED,
  confirm: NONCE_USED,
  // Release is unsigned (no nonce): a second release finds the payment released.
  release: [{ error: "InvalidPaymentStatus", status: "released" }],
  refund: NONCE_USED,
  dispute: NONCE_USED,
  resolve: NONCE_USED,
  reclaim: NONCE_USED,
  mint: NONCE_USED,
  burn: NONCE_USED,
  attestReserves: NONCE_USED,
  freeze: NONCE_USED,
  finalize: [{ error: "CycleAlreadyFinalized" }],
};

let interfaces: Interface[] | undefined;

/** The contracts whose custom errors can surface in a relayed call (the escrow bubbles up token and registry errors). */
function contractInterfaces(): Interface[] {
  interfaces ??= (["PaymentEscrow", "SettlementToken", "SettlementLedger", "ParticipantRegistry"] as const).map((name) => new Interface(loadArtifact(name).abi));
  return interfaces;
}

/** Decodes revert data into a failure: the custom error's name and arguments, REVERTED / PANIC, or UNKNOWN_REVERT. */
export function decodeRevert(data: string): OperationFailure {
  let described: ErrorDescription | null = null;
  for (const iface of contractInterfaces()) {
    try {
      described = iface.parseError(data);
    } catch {
      described = null;
    }
    if (described) break;
  }
  if (!described) return { code: "UNKNOWN_REVERT", message: "reverted with undecodable data", args: [data] };
  const decoded = described;
  const args = decoded.fragment.inputs.map((_, i) => String(decoded.args[i]));
  if (decoded.name === "Error") return { code: "REVERTED", message: args[0] ?? "", args };
  if (decoded.name === "Panic") return { code: "PANIC", message: `panic ${args[0] ?? ""}`, args };
  return { code: decoded.name, message: `${decoded.name}(${args.join(", ")})`, args };
}

/** The outcome of `action` given its revert data; no data (undefined) means it executed. */
export function outcomeOf(action: ChainAction, revertData: string | undefined): ChainOutcome {
  if (revertData === undefined) return { kind: "executed" };
  if (revertData === "0x" || revertData === "") return { kind: "retry" };
  const failure = decodeRevert(revertData);
  if (ALREADY_EXECUTED[action].some((rule) => meansAlreadyExecuted(rule, failure))) return { kind: "alreadyExecuted", code: failure.code };
  return { kind: "failed", error: failure };
}

function meansAlreadyExecuted(rule: AlreadyExecutedRule, failure: OperationFailure): boolean {
  if (rule.error !== failure.code) return false;
  if (rule.status === undefined) return true;
  return PAYMENT_STATUSES[Number(failure.args?.[1])] === rule.status;
}

/** The failure recorded when an item keeps reverting without data after its retries. */
export function revertedWithoutData(): OperationFailure {
  return { code: "REVERT_WITHOUT_REASON", message: "reverted on-chain without data", args: [] };
}

/** Revert data (at least a selector) of a failed call or gas estimation, if the chain node returned any. */
export function revertDataOf(error: unknown): string | undefined {
  if (!isError(error, "CALL_EXCEPTION")) return undefined;
  const data = error.data;
  return typeof data === "string" && data.length >= 10 ? data : undefined;
}
