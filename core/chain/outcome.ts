/**
 * What the chain did with a relayed operation or a cycle finalization, decoded from its revert data.
 * The relay, the indexer and settlement all decode here, so every node records the same outcome for
 * the same revert.
 */
import { Interface, isError, type ErrorDescription } from "ethers";

import { loadArtifact } from "../protocol/artifacts.js";
import { alreadyExecuted, type OperationKind } from "../operations/index.js";
import type { OperationFailure } from "../records.js";

/** What a transaction does on-chain: an operation of one kind, or the finalization of a cycle. */
export type ChainAction = OperationKind | "finalize";

export type ChainOutcome =
  | { kind: "executed" }
  /** Refused because it already ran (by this node or another): success, nothing to do again. */
  | { kind: "alreadyExecuted"; code: string }
  | { kind: "failed"; error: OperationFailure }
  /** Reverted without data (out of gas inside a batch, or a bare revert): sending it again may work. */
  | { kind: "retry" };

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
  if (meansAlreadyExecuted(action, failure)) return { kind: "alreadyExecuted", code: failure.code };
  return { kind: "failed", error: failure };
}

/** An operation's own descriptor says which refusals mean it ran already; a cycle is finalized once. */
function meansAlreadyExecuted(action: ChainAction, failure: OperationFailure): boolean {
  return action === "finalize" ? failure.code === "CycleAlreadyFinalized" : alreadyExecuted(action, failure);
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
