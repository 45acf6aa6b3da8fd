/**
 * Compliance alerts (AML rules and proof of reserves): the wire form every node computes the same way
 * from the chain (so the id is deterministic and the same alert raised by several institutions is
 * stored once), and the stored record, which adds what is local to one node (when it was raised,
 * which institutions reported it, its acknowledgement).
 */
import { keccak256, toUtf8Bytes } from "ethers";
import { z } from "zod";

/** Every rule that raises an alert. */
export const ALERT_RULES = [
  "LARGE_VALUE",
  "PAYER_DAILY_TOTAL",
  "STRUCTURING",
  "VELOCITY",
  "BLACKLISTED_COUNTERPARTY",
  "RESERVES_STALE",
  "RESERVES_RATIO_LOW",
] as const;
export type AlertRule = (typeof ALERT_RULES)[number];

/** The category of each rule (AML monitoring of payments, or proof of reserves). */
export const ALERT_CATEGORY: Record<AlertRule, "aml" | "reserves"> = {
  LARGE_VALUE: "aml",
  PAYER_DAILY_TOTAL: "aml",
  STRUCTURING: "aml",
  VELOCITY: "aml",
  BLACKLISTED_COUNTERPARTY: "aml",
  RESERVES_STALE: "reserves",
  RESERVES_RATIO_LOW: "reserves",
};

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "expected a 0x address");
const hex32 = z.string().regex(/^0x[0-9a-f]{64}$/, "expected 32 bytes as lower-case 0x hex");
const amount = z.string().regex(/^(0|[1-9][0-9]*)$/, "expected minor units as a decimal string");

/** An alert as every node computes it (and as it is gossiped): nothing local to one node. */
export const alertSchema = z.strictObject({
  id: hex32,
  rule: z.enum(ALERT_RULES),
  category: z.enum(["aml", "reserves"]),
  /** The account the alert is about: the payer, the blacklisted party, or the custodian. */
  account: address,
  token: address,
  /** Payments that make up the finding (oldest first); empty for reserve alerts. */
  paymentIds: z.array(hex32).max(1_000),
  /** The figure that crossed the threshold (payment amount, day total, outstanding supply...). */
  amount: amount.optional(),
  threshold: amount.optional(),
  /** Rule-specific facts, all strings (counts, windows, ratio, age). */
  facts: z.record(z.string().max(64), z.string().max(256)),
  /** Chain time (unix seconds) of the finding: the block of the payment or of the reserves check. */
  at: z.number().int().nonnegative(),
  blockNumber: z.number().int().nonnegative(),
});
export type Alert = z.infer<typeof alertSchema>;

/** Acknowledgement of an alert by a person at this node. */
export interface AlertAck {
  by: string;
  atMs: number;
  note: string;
}

/** An alert as one node stores it. */
export interface AlertRecord extends Alert {
  /** When this node first stored it (wall clock, ms). */
  raisedAtMs: number;
  /** Where this node got it first: its own monitors, or gossip from an institution. */
  origin: "local" | "gossip";
  /** Operator ids of the institutions that reported it over gossip (and this node's, if local). */
  reportedBy: string[];
  ack?: AlertAck;
}

/** Deterministic alert id: keccak256 of the rule and the parts that identify the finding. */
export function alertId(rule: AlertRule, ...parts: (string | number)[]): string {
  return keccak256(toUtf8Bytes([rule, ...parts.map((part) => String(part).toLowerCase())].join("|")));
}

/** The alert part of a stored record (what every node computes and what is gossiped). */
export function wireAlert(record: Alert): Alert {
  const { id, rule, category, account, token, paymentIds, amount, threshold, facts, at, blockNumber } = record;
  return { id, rule, category, account, token, paymentIds, ...(amount !== undefined ? { amount } : {}), ...(threshold !== undefined ? { threshold } : {}), facts, at, blockNumber };
}
