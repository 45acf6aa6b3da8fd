/**
 * The `compliance` section of the node configuration: AML rules evaluated on indexed (on-chain)
 * payments, proof-of-reserves checks, and whether alerts are gossiped to regulator nodes. Amounts are
 * minor units as decimal strings; every threshold applies per token (amounts of different tokens are
 * never added up).
 */
import { z } from "zod";

const amount = z
  .string()
  .regex(/^(0|[1-9][0-9]*)$/, "expected an amount in minor units as a decimal string")
  .transform((value) => BigInt(value));
const positiveAmount = amount.refine((value) => value > 0n, "expected a positive amount");
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "expected an address");

export const amlConfigSchema = z.strictObject({
  /** Evaluate indexed payments on this node. */
  enabled: z.boolean().default(true),
  /** Pause between evaluations of newly indexed payments. */
  pollIntervalMs: z.number().int().min(10).default(1_000),
  /** A single payment at or above `threshold`. */
  largeValue: z.strictObject({ threshold: positiveAmount }).optional(),
  /** A payer's total of one UTC day (chain time) reaching `threshold`; raised once per payer, token and day. */
  payerDaily: z.strictObject({ threshold: positiveAmount }).optional(),
  /**
   * Structuring: `count` or more payments by one payer within `windowSeconds`, each "just under" the
   * threshold, i.e. in [threshold - band, threshold - 1]. `threshold` defaults to largeValue's.
   */
  structuring: z
    .strictObject({
      threshold: positiveAmount.optional(),
      band: positiveAmount,
      count: z.number().int().min(2),
      windowSeconds: z.number().int().positive().default(86_400),
    })
    .optional(),
  /** Velocity: `count` or more payments by one payer within `windowSeconds`. */
  velocity: z.strictObject({ count: z.number().int().min(2), windowSeconds: z.number().int().positive() }).optional(),
  /** Counterparties (payer or merchant) whose every payment raises an alert. */
  blacklist: z.array(address).default([]),
});

export const reservesConfigSchema = z.strictObject({
  /** Check the reserves of every settlement token periodically. */
  enabled: z.boolean().default(true),
  checkIntervalMs: z.number().int().min(100).default(60_000),
  /** An attestation older than this (chain time) is stale. */
  maxAttestationAgeSeconds: z.number().int().positive().default(86_400),
  /** Alert when reserves / outstanding falls below this, in basis points (10000 = a ratio of 1). */
  minRatioBps: z.number().int().positive().default(10_000),
});

export const complianceConfigSchema = z.strictObject({
  aml: amlConfigSchema.prefault({}),
  reserves: reservesConfigSchema.prefault({}),
  /** Publish this node's alerts on the alerts gossip topic (institutions; regulators store them). */
  gossipAlerts: z.boolean().default(true),
});

export type AmlConfig = z.infer<typeof amlConfigSchema>;
export type ReservesConfig = z.infer<typeof reservesConfigSchema>;
export type ComplianceConfig = z.infer<typeof complianceConfigSchema>;
export type ComplianceConfigInput = z.input<typeof complianceConfigSchema>;
