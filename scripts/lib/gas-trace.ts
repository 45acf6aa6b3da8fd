/**
 * Attributes a mined transaction's gas to call frames and opcode classes, from the opcode trace
 * (`debug_traceTransaction` struct logs). Every unit of execution gas lands in exactly one frame and
 * one category, so the parts add up to the receipt's gasUsed (with the transaction's base and
 * calldata cost and any storage refund as separate lines).
 */
import type { Interface } from "ethers";

/** One step of a `debug_traceTransaction` struct-log trace. */
export interface StructLog {
  op: string;
  gas: number;
  gasCost: number;
  depth: number;
  stack?: string[];
  refund?: number;
}

export interface StructLogTrace {
  gas: number;
  failed: boolean;
  structLogs: StructLog[];
}

/** Where a frame's own gas went. `call` is the CALL opcode's cost (account access, memory) of entering it. */
export const CATEGORIES = ["storage", "events", "hashing", "precompile", "call", "compute"] as const;
export type Category = (typeof CATEGORIES)[number];

export interface CallFrame {
  /** Called address, lower case (the transaction's target for the root). */
  address: string;
  /** Function selector read from the callee's dispatcher, if it has one. */
  selector?: string;
  /** Gas this frame cost its caller, including the call opcode; for the root, the execution gas. */
  inclusive: number;
  /** The frame's own gas by category (excludes its children). */
  own: Record<Category, number>;
  children: CallFrame[];
}

export interface TxGas {
  gasUsed: number;
  /** Transaction base cost (21,000) plus calldata, derived as gasUsed − execution + refund. */
  intrinsic: number;
  /** Storage refund granted at the end (already subtracted in gasUsed). */
  refund: number;
  root: CallFrame;
}

const CALL_OPS = new Set(["CALL", "STATICCALL", "DELEGATECALL", "CALLCODE"]);
const STORAGE_OPS = new Set(["SLOAD", "SSTORE", "TLOAD", "TSTORE"]);

function emptyOwn(): Record<Category, number> {
  return { storage: 0, events: 0, hashing: 0, precompile: 0, call: 0, compute: 0 };
}

function categoryOf(op: string): Category {
  if (STORAGE_OPS.has(op)) return "storage";
  if (op.startsWith("LOG")) return "events";
  if (op === "KECCAK256" || op === "SHA3") return "hashing";
  return "compute";
}

const toAddress = (word: string) => "0x" + BigInt(word).toString(16).padStart(40, "0").slice(-40);

/** Builds the call tree of one traced transaction. `to` is the transaction's target. */
export function callTree(trace: StructLogTrace, to: string, gasUsed: number): TxGas {
  const steps = trace.structLogs;
  const first = steps[0];
  const last = steps[steps.length - 1];
  if (!first || !last) throw new Error("empty trace");
  const root: CallFrame = { address: to.toLowerCase(), inclusive: 0, own: emptyOwn(), children: [] };
  // Open frames, innermost last, each with the gas its caller had at the call and the gas it started with.
  // The first SHR of a frame is its dispatcher's `calldataload(0) >> 224`: the next step's stack top is the selector.
  const open: { frame: CallFrame; callGas: number; startGas: number; lastStep: StructLog; dispatched: boolean }[] = [
    { frame: root, callGas: first.gas, startGas: first.gas, lastStep: first, dispatched: false },
  ];
  for (let i = 0; i < steps.length; i++) {
    const step = steps[i] as StructLog;
    const next = steps[i + 1];
    // Returning to a caller closes every frame deeper than this step.
    while (open.length > step.depth) {
      const closed = open.pop();
      if (!closed) break;
      const leftover = closed.lastStep.gas - closed.lastStep.gasCost;
      closed.frame.inclusive = closed.callGas - step.gas;
      closed.frame.own.call = closed.frame.inclusive - (closed.startGas - leftover);
    }
    const current = open[open.length - 1];
    if (!current) throw new Error("trace frames out of order");
    current.lastStep = step;
    if (!current.dispatched && step.op === "SHR" && next && next.depth === step.depth && next.stack) {
      const top = next.stack[next.stack.length - 1];
      if (top !== undefined && BigInt(top) <= 0xffffffffn) {
        current.frame.selector = "0x" + BigInt(top).toString(16).padStart(8, "0");
      }
      current.dispatched = true;
    }
    if (CALL_OPS.has(step.op)) {
      const target = step.stack?.[step.stack.length - 2];
      const child: CallFrame = { address: target ? toAddress(target) : "unknown", inclusive: 0, own: emptyOwn(), children: [] };
      current.frame.children.push(child);
      if (next && next.depth === step.depth + 1) {
        open.push({ frame: child, callGas: step.gas, startGas: next.gas, lastStep: next, dispatched: false });
      } else {
        // A precompile or an account without code: no steps of its own.
        child.inclusive = step.gas - (next ? next.gas : step.gas - step.gasCost);
        child.own.precompile = child.inclusive;
      }
      continue;
    }
    current.frame.own[categoryOf(step.op)] += step.gasCost;
  }
  const execution = first.gas - (last.gas - last.gasCost);
  root.inclusive = execution;
  const refund = last.refund ?? 0;
  const tree = { gasUsed, intrinsic: gasUsed - execution + refund, refund, root };
  const accounted = sumOwn(root);
  if (accounted !== execution) throw new Error(`trace attribution is off: ${accounted} of ${execution} gas`);
  return tree;
}

function sumOwn(frame: CallFrame): number {
  return CATEGORIES.reduce((sum, c) => sum + frame.own[c], 0) + frame.children.reduce((sum, c) => sum + sumOwn(c), 0);
}

/** Names contracts by address and functions by selector. */
export interface Naming {
  contracts: Map<string, { name: string; iface?: Interface }>;
}

export function frameName(frame: CallFrame, naming: Naming): string {
  const known = naming.contracts.get(frame.address);
  if (!known) return frame.address;
  const fn = frame.selector && known.iface?.getFunction(frame.selector);
  return fn ? `${known.name}.${fn.name}` : known.name;
}

/** A call tree with same-named siblings merged (gas summed, `count` calls). */
export interface MergedFrame {
  name: string;
  count: number;
  inclusive: number;
  own: Record<Category, number>;
  children: MergedFrame[];
}

export function mergeFrames(frames: CallFrame[], naming: Naming): MergedFrame[] {
  const byName = new Map<string, { merged: MergedFrame; kids: CallFrame[] }>();
  for (const frame of frames) {
    const name = frameName(frame, naming);
    let entry = byName.get(name);
    if (!entry) {
      entry = { merged: { name, count: 0, inclusive: 0, own: emptyOwn(), children: [] }, kids: [] };
      byName.set(name, entry);
    }
    entry.merged.count += 1;
    entry.merged.inclusive += frame.inclusive;
    for (const c of CATEGORIES) entry.merged.own[c] += frame.own[c];
    entry.kids.push(...frame.children);
  }
  return [...byName.values()].map(({ merged, kids }) => ({ ...merged, children: mergeFrames(kids, naming) }));
}

/** Fetches the opcode trace of a mined transaction (stack on, memory and storage off). */
export async function traceTransaction(
  send: (method: string, params: unknown[]) => Promise<unknown>,
  hash: string,
): Promise<StructLogTrace> {
  return (await send("debug_traceTransaction", [hash, { disableStack: false, disableMemory: true, disableStorage: true }])) as StructLogTrace;
}

/** Every frame of a tree with its caller's name (undefined for the root). */
export function flatten(root: CallFrame, naming: Naming): { frame: CallFrame; name: string; caller?: string }[] {
  const out: { frame: CallFrame; name: string; caller?: string }[] = [];
  const walk = (frame: CallFrame, caller?: string) => {
    const name = frameName(frame, naming);
    out.push(caller === undefined ? { frame, name } : { frame, name, caller });
    for (const child of frame.children) walk(child, name);
  };
  walk(root);
  return out;
}

/** Execution gas by contract and category, over all frames (a contract's `call` is the cost of entering it). */
export function byContract(root: CallFrame, naming: Naming): Map<string, Record<Category, number>> {
  const totals = new Map<string, Record<Category, number>>();
  for (const { frame, name } of flatten(root, naming)) {
    const contract = name.split(".")[0] as string;
    const entry = totals.get(contract) ?? emptyOwn();
    for (const c of CATEGORIES) entry[c] += frame.own[c];
    totals.set(contract, entry);
  }
  return totals;
}
