/**
 * Compliance alerts (AML rules and proof of reserves): every node computes an alert the same way from
 * the chain, so its id is deterministic and the same alert raised by several institutions is stored
 * once. The alert and the stored record (which adds what is local to one node: when it was raised,
 * which institutions reported it, its acknowledgement) are defined by the node API contract.
 */
import { keccak256, toUtf8Bytes } from "ethers";

import type { Alert, AlertRule } from "../../core/api/compliance.js";

export { ALERT_RULES, alertSchema, type Alert, type AlertAck, type AlertRecord, type AlertRule } from "../../core/api/compliance.js";

/** The category of each rule (AML monitoring of payments, or proof of reserves). */
export const ALERT_CATEGORY: Record<AlertRule, "aml" | "reserves"> = {
  LARGE_VALUE: "aml",
  PAYER_DAILY_TOTAL: "aml",
  STRUCTURING: "aml",
  VELOCITY: "aml",
  BLACKLISTED_COUNTERPARTY: "aml",
  RESERVES_STALE: "reserves",
  RESERVES_RATIO_LOW: "reserves",
  CUSTODY_MINT_FAILED: "reserves",
};

/** Deterministic alert id: keccak256 of the rule and the parts that identify the finding. */
export function alertId(rule: AlertRule, ...parts: (string | number)[]): string {
  return keccak256(toUtf8Bytes([rule, ...parts.map((part) => String(part).toLowerCase())].join("|")));
}

/** The alert part of a stored record (what every node computes and what is gossiped). */
export function wireAlert(record: Alert): Alert {
  const { id, rule, category, account, token, paymentIds, amount, threshold, facts, at, blockNumber } = record;
  return { id, rule, category, account, token, paymentIds, ...(amount !== undefined ? { amount } : {}), ...(threshold !== undefined ? { threshold } : {}), facts, at, blockNumber };
}
