/**
 * keccak256 through the native binding of the `keccak` package (the Keccak team's C code): every
 * operation id, payment id, recovered signer and address checksum is a keccak256, and the pure-JS
 * implementation costs several times the native one per call. Falls back to the package's own JS
 * state (same interface) where the binding does not load, and to ethers' where the package is missing. OpenSSL's SHA3-256 is not keccak256 (other
 * padding), so node:crypto cannot stand in.
 */
import { createRequire } from "node:module";
import { dirname } from "node:path";

import { keccak256 as ethersKeccak256 } from "ethers";

import { SettlenetError } from "./errors.js";

/** The sponge interface both the native binding and the package's JS fallback expose. */
interface KeccakState {
  initialize(rate: number, capacity: number): void;
  absorb(data: Buffer): void;
  absorbLastFewBits(bits: number): void;
  squeeze(length: number): Buffer;
}

const require = createRequire(import.meta.url);

/** ethers' keccak256 behind the sponge interface: only for a tree whose `npm install` has not brought `keccak` yet. */
class EthersKeccak implements KeccakState {
  private chunks: Buffer[] = [];
  initialize(): void {
    this.chunks = [];
  }
  absorb(data: Buffer): void {
    this.chunks.push(Buffer.from(data));
  }
  absorbLastFewBits(): void {}
  squeeze(): Buffer {
    return Buffer.from(ethersKeccak256(Buffer.concat(this.chunks)).slice(2), "hex");
  }
}

function loadKeccak(): { State: new () => KeccakState; native: boolean } {
  let root: string;
  try {
    root = dirname(require.resolve("keccak/package.json"));
  } catch {
    return { State: EthersKeccak, native: false };
  }
  const fromPackage = createRequire(`${root}/package.json`);
  try {
    const State = (fromPackage("node-gyp-build") as (dir: string) => unknown)(root);
    if (typeof State === "function") return { State: State as new () => KeccakState, native: true };
  } catch {
    // No prebuilt binary for this platform and none built: use the JS state below.
  }
  return { State: fromPackage("./lib/keccak.js") as new () => KeccakState, native: false };
}

const { State, native } = loadKeccak();
const state = new State();

/** True when keccak256 runs in the native binding (the node logs a warning otherwise). */
export const NATIVE_KECCAK = native;

/** keccak256 of `data` as 32 bytes. */
export function keccak256Bytes(data: Uint8Array): Buffer {
  // Keccak-256: rate 1088, capacity 512, the original padding (0x01), not SHA3's (0x06).
  state.initialize(1088, 512);
  state.absorb(Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength));
  state.absorbLastFewBits(0x01);
  return state.squeeze(32);
}

let ethersNative = false;

/**
 * Makes ethers' own keccak256 run in the native binding for the rest of the process: ethers hashes in
 * JavaScript wherever it is used (a transaction's signing hash, an event's topic hash every time a log
 * is parsed, an address checksum every time a log or receipt is formatted). Idempotent; false (and
 * nothing changed) where the binding does not load.
 */
export function useNativeKeccakInEthers(): boolean {
  if (!native) return false;
  if (!ethersNative) {
    ethersKeccak256.register((data: Uint8Array) => keccak256Bytes(data));
    ethersNative = true;
  }
  return true;
}

/** keccak256 of `data` as 0x hex. */
export function keccak256Hex(data: Uint8Array): string {
  return "0x" + keccak256Bytes(data).toString("hex");
}

const HEX_ADDRESS = /^0x[0-9a-fA-F]{40}$/;
/** Most addresses remembered by checksumAddress: payers, merchants and tokens recur, so most lookups hit. */
const CACHE_LIMIT = 16_384;
const checksums = new Map<string, string>();

/** EIP-55 checksum form of a lower-case 40-digit hex address (without 0x). */
function checksumOf(lower: string): string {
  const hash = keccak256Bytes(Buffer.from(lower, "latin1"));
  let out = "0x";
  for (let i = 0; i < 40; i++) {
    const c = lower.charCodeAt(i);
    // Letters a-f are upper-cased where the matching hash nibble is 8 or more.
    const nibble = i % 2 === 0 ? (hash[i >> 1] as number) >> 4 : (hash[i >> 1] as number) & 0x0f;
    out += c >= 0x61 && nibble >= 8 ? String.fromCharCode(c - 0x20) : lower[i];
  }
  return out;
}

/**
 * The EIP-55 checksum form of a 0x address, as ethers' getAddress gives it: an all-lower or all-upper
 * address is accepted as is; a mixed-case one must carry the right checksum (BAD_ADDRESS_CHECKSUM).
 */
export function checksumAddress(address: string): string {
  if (!HEX_ADDRESS.test(address)) throw new SettlenetError("INVALID_ADDRESS", "expected a 0x-prefixed 20-byte hex address", { address });
  const lower = address.slice(2).toLowerCase();
  let result = checksums.get(lower);
  if (result === undefined) {
    result = checksumOf(lower);
    if (checksums.size >= CACHE_LIMIT) checksums.clear();
    checksums.set(lower, result);
  }
  const digits = address.slice(2);
  if (result !== address && digits !== lower && digits !== digits.toUpperCase()) {
    throw new SettlenetError("BAD_ADDRESS_CHECKSUM", "the address's mixed case is not its EIP-55 checksum", { address });
  }
  return result;
}

/** The checksummed address of 20 raw bytes. */
export function checksumAddressOf(bytes: Uint8Array): string {
  const lower = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString("hex");
  let result = checksums.get(lower);
  if (result === undefined) {
    result = checksumOf(lower);
    if (checksums.size >= CACHE_LIMIT) checksums.clear();
    checksums.set(lower, result);
  }
  return result;
}
