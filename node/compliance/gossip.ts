/**
 * Alerts over gossip: institution nodes publish the alerts their monitors raise on the alerts topic,
 * signed by the operator's key (EIP-191 over the keccak256 of the alerts' JSON), and regulator nodes
 * store them with the reporting institution added to `reportedBy`. A message that is malformed, or not
 * signed by the registered key of an active institution, is rejected (the forwarding peer is
 * penalised); institutions forward valid messages without storing them.
 */
import { keccak256, toUtf8Bytes, verifyMessage, type Signer } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import type { GossipValidationResult } from "../p2p/network.js";
import type { Logger, RegistryView } from "../services.js";
import type { LevelAlertRepository } from "../storage/alerts.js";
import { alertSchema, wireAlert, type Alert } from "./alert.js";
import type { ComplianceMetrics } from "./metrics.js";

export const ALERTS_TOPIC = "/settlenet/alerts/1";
/** Alerts per gossip message at most (keeps a message far below the gossip size limit). */
export const MAX_ALERTS_PER_MESSAGE = 100;

const messageSchema = z.strictObject({
  v: z.literal(1),
  /** Operator id of the reporting institution. */
  reporter: z.string().regex(/^0x[0-9a-fA-F]{40}$/),
  /** JSON text of the alerts (signed exactly as sent). */
  alerts: z.string().max(900_000),
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
});

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const signedText = (alerts: string) => `settlenet alerts ${keccak256(toUtf8Bytes(alerts))}`;

/** Signed gossip messages carrying `alerts` (several when there are many). */
export async function encodeAlertMessages(alerts: Alert[], reporter: string, signer: Signer): Promise<Uint8Array[]> {
  const messages: Uint8Array[] = [];
  for (let i = 0; i < alerts.length; i += MAX_ALERTS_PER_MESSAGE) {
    const text = JSON.stringify(alerts.slice(i, i + MAX_ALERTS_PER_MESSAGE).map((alert) => alertSchema.parse(wireAlert(alert))));
    const signature = await signer.signMessage(signedText(text));
    messages.push(encoder.encode(JSON.stringify({ v: 1, reporter, alerts: text, signature })));
  }
  return messages;
}

/** Decodes and authenticates an alert message; ALERT_MESSAGE_INVALID or ALERT_REPORTER_UNKNOWN. */
export function decodeAlertMessage(data: Uint8Array, registry: RegistryView): { reporter: string; alerts: Alert[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch {
    throw new SettlenetError("ALERT_MESSAGE_INVALID", "alert message is not UTF-8 JSON");
  }
  const message = messageSchema.safeParse(raw);
  if (!message.success) throw new SettlenetError("ALERT_MESSAGE_INVALID", "alert message does not match the schema");
  const { reporter, alerts: text, signature } = message.data;
  const operator = registry.operators().find((o) => o.id.toLowerCase() === reporter.toLowerCase());
  if (!operator || !operator.active || operator.regulator) throw new SettlenetError("ALERT_REPORTER_UNKNOWN", `${reporter} is not an active institution`, { reporter });
  let signer: string;
  try {
    signer = verifyMessage(signedText(text), signature);
  } catch {
    throw new SettlenetError("ALERT_MESSAGE_INVALID", "alert message signature is malformed");
  }
  if (signer.toLowerCase() !== operator.signer.toLowerCase()) throw new SettlenetError("ALERT_MESSAGE_INVALID", `alert message signed by ${signer}, not by ${reporter}'s key`, { signer });
  let list: unknown;
  try {
    list = JSON.parse(text);
  } catch {
    throw new SettlenetError("ALERT_MESSAGE_INVALID", "alerts are not JSON");
  }
  const alerts = z.array(alertSchema).min(1).max(MAX_ALERTS_PER_MESSAGE).safeParse(list);
  if (!alerts.success) throw new SettlenetError("ALERT_MESSAGE_INVALID", "alerts do not match the schema");
  return { reporter: operator.id, alerts: alerts.data };
}

export interface AlertGossipModules {
  registry: RegistryView;
  alerts: LevelAlertRepository;
  metrics: ComplianceMetrics;
  logger: Logger;
  /** Regulator nodes store what they receive; institutions only forward. */
  store: boolean;
}

/** The alerts topic validator: authenticate, store on regulator nodes, forward. */
export function alertGossipValidator(modules: AlertGossipModules): (from: string, data: Uint8Array) => Promise<GossipValidationResult> {
  return async (from, data) => {
    let decoded: { reporter: string; alerts: Alert[] };
    try {
      decoded = decodeAlertMessage(data, modules.registry);
    } catch (error) {
      modules.metrics.alertGossip.inc({ result: "rejected" });
      modules.logger.debug({ remote: from, code: (error as SettlenetError).code }, "alert message rejected");
      return "reject";
    }
    if (modules.store) {
      const created = await modules.alerts.record(decoded.alerts, { origin: "gossip", reporter: decoded.reporter, nowMs: Date.now() });
      for (const record of created) modules.metrics.alertsRaised.inc({ rule: record.rule, origin: "gossip" });
      if (created.length > 0) modules.logger.info({ reporter: decoded.reporter, alerts: created.map((a) => ({ id: a.id, rule: a.rule })) }, "alerts received from an institution");
    }
    modules.metrics.alertGossip.inc({ result: "accepted" });
    return "accept";
  };
}
