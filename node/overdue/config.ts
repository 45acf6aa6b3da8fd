/**
 * The `overdue` section of the node configuration: how long money may wait in an intermediate state
 * before the overdue monitor raises an operational alert (durations on this machine's clock).
 */
import { z } from "zod";

export const overdueConfigSchema = z.strictObject({
  /** Check every this often (each check reads at most `maxItems` index keys per kind). */
  checkIntervalMs: z.number().int().min(10).default(10_000),
  /** An operation accepted this long ago and not yet relayed (by this node or, for gossiped ones, seen executed). */
  notRelayedSeconds: z.number().int().min(1).default(120),
  /** An operation this node relayed, received this long ago, with no outcome seen on-chain. */
  noOutcomeSeconds: z.number().int().min(1).default(300),
  /** A custody record (the custodian service's) still minting this long after the bank reported the transfer. */
  custodyMintingSeconds: z.number().int().min(1).default(900),
  /** Most items one check looks at per kind; beyond it the count is a lower bound. */
  maxItems: z.number().int().min(1).max(100_000).default(1_000),
});

export type OverdueConfig = z.infer<typeof overdueConfigSchema>;
export type OverdueConfigInput = z.input<typeof overdueConfigSchema>;
