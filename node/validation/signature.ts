/**
 * Signer recovery for groups of operations. Recovery (libsecp256k1 plus two keccak256 per signature)
 * is most of the CPU a valid operation costs, so it runs in worker threads, one per core by default:
 * a group is packed into one buffer of digests and signatures (signature-worker.ts has the layout),
 * split into at most one chunk per worker, transferred (not copied) and answered the same way. The
 * main thread keeps the event loop for I/O and the cheap checks, and recovers small groups itself
 * (`inlineMax`): a round trip to a worker costs CPU of its own (the post, waking the thread, the answer).
 */
import { availableParallelism } from "node:os";
import { Worker } from "node:worker_threads";

import type { Logger } from "pino";
import type { Counter, Registry } from "prom-client";

import { OperationError, SettlenetError, ValidationAction } from "../../core/errors.js";
import { counterOf } from "../metrics.js";
import { ITEM_BYTES, NATIVE_RECOVERY, RECOVERY_STATUS, RESULT_BYTES, recoverInto, type RecoveryRequest, type RecoveryResponse, type StopRequest } from "./signature-worker.js";

/** True when recovery runs in native libsecp256k1 and native keccak (the node logs a warning otherwise). */
export const NATIVE_SECP256K1 = NATIVE_RECOVERY;

/** One signature to recover: the 32-byte digest it signs (0x hex) and the 65-byte r ‖ s ‖ v signature (0x hex or bytes). */
export interface SignatureItem {
  digest: string;
  signature: string | Uint8Array;
}

/** The checksummed signer of an item, or the BAD_SIGNATURE refusal (REJECT: the signature is the sender's fault). */
export type Recovery = string | OperationError;

/** Recovers signers of groups of signatures. */
export interface SignatureVerifier {
  /** One result per item, in order. */
  recover(items: readonly SignatureItem[]): Promise<Recovery[]>;
  /** Worker threads in use (0: on the calling thread). */
  readonly workers: number;
  /** CPU (user + system, µs) the worker threads have used so far, as they last reported it (0 without workers). */
  workerCpuMicros(): number;
  close(): Promise<void>;
}

const HEX_SIGNATURE = /^0x[0-9a-fA-F]{130}$/;
const HEX_DIGEST = /^0x[0-9a-fA-F]{64}$/;

function badSignature(reason: string): OperationError {
  return new OperationError(ValidationAction.REJECT, "BAD_SIGNATURE", `invalid signature: ${reason}`, { reason });
}

const STATUS_REASONS: Record<number, string> = {
  [RECOVERY_STATUS.badV]: "v must be 27 or 28",
  [RECOVERY_STATUS.highS]: "s is in the upper half order",
  [RECOVERY_STATUS.noKey]: "no public key recovers from it",
};

/**
 * Packs the well-formed items into one buffer; `slots[i]` is item i's index in it, or its refusal
 * (a digest or signature of the wrong shape never reaches the curve).
 */
function pack(items: readonly SignatureItem[]): { buffer: Uint8Array; count: number; slots: (number | OperationError)[] } {
  const buffer = Buffer.allocUnsafe(items.length * ITEM_BYTES);
  const slots: (number | OperationError)[] = [];
  let count = 0;
  for (const { digest, signature } of items) {
    if (!HEX_DIGEST.test(digest)) {
      slots.push(badSignature("digest is not 32 bytes of hex"));
      continue;
    }
    const at = count * ITEM_BYTES;
    if (typeof signature === "string") {
      if (!HEX_SIGNATURE.test(signature)) {
        slots.push(badSignature("signature is not 65 bytes of hex"));
        continue;
      }
      buffer.write(signature.slice(2), at + 32, 65, "hex");
    } else {
      if (signature.byteLength !== 65) {
        slots.push(badSignature("signature is not 65 bytes"));
        continue;
      }
      buffer.set(signature, at + 32);
    }
    buffer.write(digest.slice(2), at, 32, "hex");
    slots.push(count++);
  }
  return { buffer: buffer.subarray(0, count * ITEM_BYTES), count, slots };
}

/** The results of `pack`'s slots from the packed results `output`. */
function unpack(slots: (number | OperationError)[], output: Uint8Array): Recovery[] {
  const text = Buffer.from(output.buffer, output.byteOffset, output.byteLength);
  return slots.map((slot) => {
    if (typeof slot !== "number") return slot;
    const at = slot * RESULT_BYTES;
    const status = output[at] as number;
    if (status !== RECOVERY_STATUS.recovered) return badSignature(STATUS_REASONS[status] ?? "no public key recovers from it");
    return "0x" + text.toString("latin1", at + 1, at + RESULT_BYTES);
  });
}

/** Recovers on the calling thread (tests, tools, and a node configured with no workers). */
export class InlineVerifier implements SignatureVerifier {
  readonly workers = 0;

  recover(items: readonly SignatureItem[]): Promise<Recovery[]> {
    return Promise.resolve(recoverNow(items));
  }

  workerCpuMicros(): number {
    return 0;
  }

  async close(): Promise<void> {}
}

/** Recovers `items` synchronously on this thread. */
export function recoverNow(items: readonly SignatureItem[]): Recovery[] {
  const { buffer, count, slots } = pack(items);
  const output = new Uint8Array(count * RESULT_BYTES);
  recoverInto(buffer, count, output);
  return unpack(slots, output);
}

/**
 * The checksummed address that signed the 32-byte `digest` with the 65-byte `signature` (r ‖ s ‖ v),
 * on this thread. Throws OperationError REJECT `BAD_SIGNATURE` for a high s, a v other than 27/28 (the
 * EVM's ecrecover, and so the contracts, accept no other), or a signature that recovers no key.
 */
export function recoverSigner(digest: string, signature: string | Uint8Array): string {
  const [result] = recoverNow([{ digest, signature }]);
  if (typeof result !== "string") throw result ?? badSignature("no public key recovers from it");
  return result;
}

/** Default `inlineMax`: groups of up to this many signatures recover on the calling thread. */
export const DEFAULT_INLINE_MAX = 32;
/** How long close() lets a worker finish what it was sent before terminating it (a group of 500 takes tens of ms). */
const STOP_GRACE_MS = 10_000;

export interface SignatureWorkerPoolOptions {
  /** Worker threads; default one per core (`os.availableParallelism()`). */
  workers?: number;
  /** Fewest signatures worth a chunk of their own: a smaller group goes to one worker whole. */
  minChunk?: number;
  /**
   * Groups of at most this many signatures recover on the calling thread (default 32, about 2 ms of the
   * event loop): in end-to-end runs on a shared 2-core machine, recovering every group on the main
   * thread added about 50 µs of its CPU per payment while the workers had used 130-140 µs for the same
   * recoveries (posts, wake-ups, cold caches). Larger groups (bursts) are split across the workers.
   */
  inlineMax?: number;
}

interface PoolWorker {
  worker: Worker;
  /** Set once it failed or exited: its requests are refused and another worker takes its place. */
  dead: boolean;
  /** Items sent and not answered yet (the least loaded worker gets the next chunk). */
  load: number;
  pending: Map<number, { count: number; resolve: (output: Uint8Array) => void; reject: (error: unknown) => void }>;
  /** CPU the thread reported with its last answer (µs since it started). */
  cpuMicros: number;
}

/** Runs recovery in worker threads; see the module comment. */
export class SignatureWorkerPool implements SignatureVerifier {
  readonly workers: number;
  private readonly minChunk: number;
  private readonly inlineMax: number;
  private readonly pool: PoolWorker[] = [];
  private nextId = 1;
  private closed = false;
  /** CPU reported by workers that have since been replaced (µs). */
  private replacedCpuMicros = 0;
  private readonly recovered: Counter<"thread">;
  private readonly posts: Counter;

  constructor(
    options: SignatureWorkerPoolOptions,
    private readonly modules: { logger: Logger; metrics?: Registry },
  ) {
    this.recovered = counterOf(modules.metrics, "settlenet_signature_recovered_total", "Signatures recovered, by thread (main: small groups; worker)", ["thread"]);
    this.posts = counterOf(modules.metrics, "settlenet_signature_worker_posts_total", "Chunks of signatures posted to the worker threads");
    this.workers = Math.max(1, options.workers ?? availableParallelism());
    this.minChunk = Math.max(1, options.minChunk ?? 16);
    this.inlineMax = Math.max(0, options.inlineMax ?? DEFAULT_INLINE_MAX);
    for (let i = 0; i < this.workers; i++) this.pool.push(this.spawn());
    if (!NATIVE_SECP256K1) modules.logger.warn("native libsecp256k1 or keccak did not load: signature recovery runs in JavaScript, several times slower");
  }

  async recover(items: readonly SignatureItem[]): Promise<Recovery[]> {
    if (this.closed) throw new SettlenetError("VERIFIER_CLOSED", "the signature workers are stopped");
    const { buffer, count, slots } = pack(items);
    if (count === 0) return unpack(slots, new Uint8Array(0));
    if (count <= this.inlineMax) {
      this.recovered.inc({ thread: "main" }, count);
      const output = new Uint8Array(count * RESULT_BYTES);
      recoverInto(buffer, count, output);
      return unpack(slots, output);
    }
    this.recovered.inc({ thread: "worker" }, count);
    const chunks = Math.min(this.workers, Math.ceil(count / this.minChunk));
    const size = Math.ceil(count / chunks);
    const parts: Promise<Uint8Array>[] = [];
    for (let start = 0; start < count; start += size) {
      parts.push(this.send(buffer.subarray(start * ITEM_BYTES, Math.min(count, start + size) * ITEM_BYTES), Math.min(size, count - start)));
    }
    const outputs = await Promise.all(parts);
    const output = outputs.length === 1 ? (outputs[0] as Uint8Array) : Buffer.concat(outputs);
    return unpack(slots, output);
  }

  workerCpuMicros(): number {
    return this.pool.reduce((sum, w) => sum + w.cpuMicros, this.replacedCpuMicros);
  }

  /**
   * Stops the workers: each answers what it was sent, then exits by itself (see StopRequest); one that
   * has not exited after STOP_GRACE_MS is terminated. Recoveries still unanswered then are refused.
   */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    await Promise.all(
      this.pool.map(async ({ worker }) => {
        const exited = new Promise<void>((resolve) => worker.once("exit", () => resolve()));
        worker.ref();
        const stop: StopRequest = { stop: true };
        worker.postMessage(stop);
        let timer: NodeJS.Timeout | undefined;
        const late = new Promise<"late">((resolve) => {
          timer = setTimeout(() => resolve("late"), STOP_GRACE_MS);
        });
        if ((await Promise.race([exited, late])) === "late") await worker.terminate();
        clearTimeout(timer);
      }),
    );
  }

  private send(items: Uint8Array, count: number): Promise<Uint8Array> {
    const target = this.pool.reduce((best, w) => (w.load < best.load ? w : best));
    // A copy that owns its memory, so it can be transferred rather than cloned.
    const input = new Uint8Array(items).buffer;
    const id = this.nextId++;
    return new Promise<Uint8Array>((resolve, reject) => {
      // A worker with work in hand keeps the process alive until it answers; an idle one does not.
      if (target.load === 0) target.worker.ref();
      target.load += count;
      target.pending.set(id, { count, resolve, reject });
      const request: RecoveryRequest = { id, input, count };
      target.worker.postMessage(request, [input]);
      this.posts.inc();
    });
  }

  private spawn(): PoolWorker {
    // Where Node strips types itself the worker needs no loader (and starts lighter without tsx);
    // elsewhere it needs the TypeScript loader the process runs with.
    const strips = Boolean((process.features as { typescript?: unknown }).typescript);
    const hasLoader = process.execArgv.some((arg) => arg.includes("tsx"));
    const worker = new Worker(new URL("./signature-worker.ts", import.meta.url), {
      workerData: { settlenetSignatureWorker: true },
      execArgv: strips ? [] : hasLoader ? process.execArgv : [...process.execArgv, "--import", "tsx"],
    });
    const entry: PoolWorker = { worker, dead: false, load: 0, pending: new Map(), cpuMicros: 0 };
    worker.on("message", (response: RecoveryResponse) => {
      entry.cpuMicros = response.cpuMicros;
      const request = entry.pending.get(response.id);
      if (!request) return;
      entry.pending.delete(response.id);
      entry.load -= request.count;
      if (entry.load === 0) worker.unref();
      request.resolve(new Uint8Array(response.output));
    });
    const fail = (error: unknown) => {
      if (entry.dead) return;
      entry.dead = true;
      for (const request of entry.pending.values()) {
        request.reject(new SettlenetError("SIGNATURE_WORKER_FAILED", "a signature worker stopped", {}, { cause: error }));
      }
      entry.pending.clear();
      entry.load = 0;
      if (this.closed) return;
      this.modules.logger.error({ err: error }, "signature worker failed; starting another");
      const index = this.pool.indexOf(entry);
      if (index >= 0) {
        this.replacedCpuMicros += entry.cpuMicros;
        this.pool[index] = this.spawn();
      }
    };
    worker.on("error", fail);
    worker.on("exit", (code) => {
      if (!this.closed) return fail(new Error(`signature worker exited with code ${code}`));
      for (const request of entry.pending.values()) request.reject(new SettlenetError("VERIFIER_CLOSED", "the signature workers are stopped"));
      entry.pending.clear();
      entry.load = 0;
    });
    worker.unref();
    return entry;
  }
}

/** The node's verifier: a worker pool, or recovery on the calling thread when `workers` is 0. */
export function createSignatureVerifier(options: SignatureWorkerPoolOptions, modules: { logger: Logger; metrics?: Registry }): SignatureVerifier {
  return options.workers === 0 ? new InlineVerifier() : new SignatureWorkerPool(options, modules);
}
