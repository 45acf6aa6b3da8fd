/**
 * The operations gossip message: one group of operations in the compact binary form of
 * core/operations/binary.ts, so that a peer decodes a group by walking fixed-width fields (and a
 * dispute's length-prefixed reason text) instead of parsing JSON text and running zod on it (the
 * decoder checks what the wire schema checks).
 *
 *   version (1 byte, 2) ‖ count (2 bytes, big-endian, 1..MAX_OPERATIONS_PER_MESSAGE) ‖ count operations
 *
 * Version 1 was a JSON document; its nodes used the topic /settlenet/operations/1, so the two never
 * meet on one topic.
 */
import { SettlenetError } from "../../core/errors.js";
import { decodeOperationAt, encodeOperationInto, encodedLengthOf, type DecodedOperation, type Operation, type OperationInput } from "../../core/operations/index.js";

export const GOSSIP_TOPIC = "/settlenet/operations/2";
export const GOSSIP_VERSION = 2;
export const MAX_OPERATIONS_PER_MESSAGE = 500;
const HEADER_BYTES = 3;

export type { DecodedOperation };

/** Encodes operations (parsed, or in their JSON wire form) into one gossip message; MALFORMED if one does not fit its layout. */
export function encodeGossipMessage(ops: readonly (Operation | OperationInput)[]): Uint8Array {
  if (ops.length < 1 || ops.length > MAX_OPERATIONS_PER_MESSAGE) {
    throw new SettlenetError("MALFORMED", `a gossip message carries 1 to ${MAX_OPERATIONS_PER_MESSAGE} operations, not ${ops.length}`, { count: ops.length });
  }
  let length = HEADER_BYTES;
  for (const op of ops) {
    const bytes = encodedLengthOf(op);
    if (bytes === undefined) throw new SettlenetError("MALFORMED", `unknown operation kind ${String(op.kind)}`, { kind: op.kind });
    length += bytes;
  }
  const out = Buffer.alloc(length);
  out[0] = GOSSIP_VERSION;
  out.writeUInt16BE(ops.length, 1);
  let at = HEADER_BYTES;
  for (const op of ops) at = encodeOperationInto(op, out, at);
  return out;
}

/**
 * Decodes a gossip message into its operations, each parsed or refused MALFORMED on its own (a bad
 * field value); a message that cannot be walked (wrong version, count, kind byte or length) is a
 * MALFORMED SettlenetError.
 */
export function decodeGossipMessage(data: Uint8Array): DecodedOperation[] {
  if (data.byteLength < HEADER_BYTES) throw new SettlenetError("MALFORMED", "gossip message shorter than its header", { bytes: data.byteLength });
  if (data[0] !== GOSSIP_VERSION) throw new SettlenetError("MALFORMED", `gossip message version ${String(data[0])}, expected ${GOSSIP_VERSION}`, { version: data[0] });
  const count = ((data[1] as number) << 8) | (data[2] as number);
  if (count < 1 || count > MAX_OPERATIONS_PER_MESSAGE) {
    throw new SettlenetError("MALFORMED", `a gossip message carries 1 to ${MAX_OPERATIONS_PER_MESSAGE} operations, not ${count}`, { count });
  }
  const ops: DecodedOperation[] = [];
  let at = HEADER_BYTES;
  for (let i = 0; i < count; i++) {
    if (at >= data.byteLength) throw new SettlenetError("MALFORMED", `gossip message ends after ${i} of ${count} operations`, { count, decoded: i });
    const { decoded, next } = decodeOperationAt(data, at);
    ops.push(decoded);
    at = next;
  }
  if (at !== data.byteLength) throw new SettlenetError("MALFORMED", `${data.byteLength - at} bytes after the last operation`, { trailing: data.byteLength - at });
  return ops;
}
