/**
 * The gossip message: a batch of operations in their JSON wire form, so that throughput does not stop at
 * one message per operation. Each operation inside is validated on its own by every node.
 */
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";

export const GOSSIP_TOPIC = "/settlenet/operations/1";
export const GOSSIP_VERSION = 1;
export const MAX_OPERATIONS_PER_MESSAGE = 500;

export const gossipMessageSchema = z.strictObject({
  v: z.literal(GOSSIP_VERSION),
  ops: z.array(z.unknown()).min(1).max(MAX_OPERATIONS_PER_MESSAGE),
});

export type GossipMessage = z.infer<typeof gossipMessageSchema>;

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** Encodes operations (JSON wire form) into one gossip message. */
export function encodeGossipMessage(ops: unknown[]): Uint8Array {
  return encoder.encode(JSON.stringify({ v: GOSSIP_VERSION, ops }));
}

/** Decodes a gossip message; malformed bytes are a MALFORMED SettlenetError. */
export function decodeGossipMessage(data: Uint8Array): GossipMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch (error) {
    throw new SettlenetError("MALFORMED", `gossip message is not UTF-8 JSON: ${(error as Error).message}`);
  }
  const result = gossipMessageSchema.safeParse(raw);
  if (!result.success) {
    throw new SettlenetError("MALFORMED", "gossip message does not match the schema", {
      issues: result.error.issues.map((issue) => ({ path: issue.path.join("."), message: issue.message })),
    });
  }
  return result.data;
}
