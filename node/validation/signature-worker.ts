/**
 * Signer recovery over a packed group of EIP-712 digests and signatures, with native libsecp256k1 and
 * native keccak. Runs in the signature worker threads (node/validation/signature.ts), and on the main
 * thread for a verifier without workers. Recovery accepts exactly what the contracts accept
 * (OpenZeppelin ECDSA): v 27 or 28, s in the lower half order, a key that recovers.
 *
 *   input:  count × 97 bytes: digest (32) ‖ r (32) ‖ s (32) ‖ v (1)
 *   output: count × 41 bytes: status (RECOVERY_STATUS) ‖ the signer's EIP-55 address as 40 ASCII hex digits
 *
 * The file imports no project module and uses only erasable TypeScript, so a worker thread loads it
 * whether Node strips the types itself or a loader (tsx) is registered.
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";
import { parentPort, workerData } from "node:worker_threads";

/** Bytes of one packed item: digest, r, s, v. */
export const ITEM_BYTES = 97;
/** Bytes of one result: status and 40 hex digits. */
export const RESULT_BYTES = 41;

/** The status byte of a result. */
export const RECOVERY_STATUS = { recovered: 0, badV: 1, highS: 2, noKey: 3 } as const;

/** A request to a worker: `count` packed items; answered with `{ id, output }` (both buffers transferred). */
export interface RecoveryRequest {
  id: number;
  input: ArrayBuffer;
  count: number;
}

/** Tells a worker to stop once it has answered what it was sent before: it closes its port and exits by itself. */
export interface StopRequest {
  stop: true;
}

export interface RecoveryResponse {
  id: number;
  output: ArrayBuffer;
  /** CPU this worker thread has used since it started (user + system, µs), after this request. */
  cpuMicros: number;
}

interface RawSecp256k1 {
  /** 0 on success; writes the public key (65 bytes: uncompressed) into `output`. */
  ecdsaRecover(output: Uint8Array, signature: Uint8Array, recid: number, digest: Uint8Array): number;
}

interface KeccakState {
  initialize(rate: number, capacity: number): void;
  absorb(data: Uint8Array): void;
  absorbLastFewBits(bits: number): void;
  squeeze(length: number): Buffer;
}

const require = createRequire(import.meta.url);

/** The package's raw native class, or undefined where no binary loads. */
function nativeAddon(pkg: string): unknown {
  try {
    const root = dirname(require.resolve(`${pkg}/package.json`));
    return (createRequire(`${root}/package.json`)("node-gyp-build") as (dir: string) => unknown)(root);
  } catch {
    return undefined;
  }
}

function loadSecp256k1(): { secp: RawSecp256k1; native: boolean } {
  const addon = nativeAddon("secp256k1") as { Secp256k1?: new () => RawSecp256k1 } | undefined;
  if (addon?.Secp256k1) return { secp: new addon.Secp256k1(), native: true };
  // The package's elliptic fallback throws where the binding returns a code.
  const lib = require("secp256k1/elliptic.js") as { ecdsaRecover(sig: Uint8Array, recid: number, msg: Uint8Array, compressed: boolean, out: Uint8Array): Uint8Array };
  return {
    secp: {
      ecdsaRecover(output, signature, recid, digest) {
        try {
          lib.ecdsaRecover(signature, recid, digest, false, output);
          return 0;
        } catch {
          return 2;
        }
      },
    },
    native: false,
  };
}

function loadKeccak(): { State: new () => KeccakState; native: boolean } {
  const State = nativeAddon("keccak");
  if (typeof State === "function") return { State: State as new () => KeccakState, native: true };
  try {
    const root = dirname(require.resolve("keccak/package.json"));
    return { State: createRequire(`${root}/package.json`)("./lib/keccak.js") as new () => KeccakState, native: false };
  } catch {
    // The package is missing (a tree not installed since it became a dependency): ethers' keccak256.
    const { keccak256 } = require("ethers") as { keccak256(data: Uint8Array): string };
    class EthersKeccak implements KeccakState {
      private chunks: Buffer[] = [];
      initialize(): void {
        this.chunks = [];
      }
      absorb(data: Uint8Array): void {
        this.chunks.push(Buffer.from(data));
      }
      absorbLastFewBits(): void {}
      squeeze(): Buffer {
        return Buffer.from(keccak256(Buffer.concat(this.chunks)).slice(2), "hex");
      }
    }
    return { State: EthersKeccak, native: false };
  }
}

const { secp, native: nativeSecp } = loadSecp256k1();
const { State, native: nativeKeccak } = loadKeccak();
const keccak = new State();

/** True when both libsecp256k1 and keccak run natively here. */
export const NATIVE_RECOVERY = nativeSecp && nativeKeccak;

function keccak256(data: Uint8Array): Buffer {
  keccak.initialize(1088, 512);
  keccak.absorb(data);
  keccak.absorbLastFewBits(0x01);
  return keccak.squeeze(32);
}

/** secp256k1 group order / 2, big-endian: OpenZeppelin ECDSA refuses s above it (malleable signatures). */
const HALF_ORDER = Buffer.from("7fffffffffffffffffffffffffffffff5d576e7357a4501ddfe92f46681b20a0", "hex");
const HEX = Buffer.from("0123456789abcdef", "latin1");

// Scratch space of recoverInto, which runs to completion without yielding (one per thread).
const publicKey = Buffer.alloc(65);
const lowerHex = Buffer.alloc(40);

/** Recovers the signer of each of `count` packed items of `input` into `output` (layouts in the module comment). */
export function recoverInto(input: Uint8Array, count: number, output: Uint8Array): void {
  for (let i = 0; i < count; i++) {
    const at = i * ITEM_BYTES;
    const out = i * RESULT_BYTES;
    const v = input[at + 96] as number;
    const s = input.subarray(at + 64, at + 96);
    let status: number = RECOVERY_STATUS.recovered;
    if (v !== 27 && v !== 28) status = RECOVERY_STATUS.badV;
    else if (Buffer.compare(s, HALF_ORDER) > 0) status = RECOVERY_STATUS.highS;
    // r or s zero or out of range, or no point for this r: ecrecover would return the zero address.
    else if (secp.ecdsaRecover(publicKey, input.subarray(at + 32, at + 96), v - 27, input.subarray(at, at + 32)) !== 0) status = RECOVERY_STATUS.noKey;
    output[out] = status;
    if (status !== RECOVERY_STATUS.recovered) continue;
    // Uncompressed key = 0x04 ‖ x ‖ y; the address is the last 20 bytes of keccak256(x ‖ y).
    const hash = keccak256(publicKey.subarray(1));
    for (let j = 0; j < 20; j++) {
      const byte = hash[12 + j] as number;
      lowerHex[2 * j] = HEX[byte >> 4] as number;
      lowerHex[2 * j + 1] = HEX[byte & 0x0f] as number;
    }
    // EIP-55: a letter is upper-cased where the matching nibble of keccak256(lower-case hex) is 8 or more.
    const checksum = keccak256(lowerHex);
    for (let j = 0; j < 40; j++) {
      const c = lowerHex[j] as number;
      const nibble = j % 2 === 0 ? (checksum[j >> 1] as number) >> 4 : (checksum[j >> 1] as number) & 0x0f;
      output[out + 1 + j] = c >= 0x61 && nibble >= 8 ? c - 0x20 : c;
    }
  }
}

// In a signature worker: answer each request with its results, transferring the buffers both ways.
const port = parentPort;
if (port && (workerData as { settlenetSignatureWorker?: boolean } | undefined)?.settlenetSignatureWorker === true) {
  port.on("message", (request: RecoveryRequest | StopRequest) => {
    // Exiting by itself, between two requests: a worker terminated from outside in the middle of a native
    // keccak call aborts the whole process (the addon fails to create the error it throws).
    if ("stop" in request) return port.close();
    const output = new ArrayBuffer(request.count * RESULT_BYTES);
    recoverInto(new Uint8Array(request.input), request.count, new Uint8Array(output));
    const cpu = process.threadCpuUsage();
    const response: RecoveryResponse = { id: request.id, output, cpuMicros: cpu.user + cpu.system };
    port.postMessage(response, [output]);
  });
}
