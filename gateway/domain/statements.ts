/**
 * Merchant settlement statements: the merchant's statement of one settlement cycle as its institution
 * node builds it from the cycle's records (GET /v1/cycles/{id}/statement?merchant=), so every figure is
 * provable against the cycle's Merkle root. Only a finalized cycle has a statement worth settling on:
 * a cycle the node does not have (not closed yet, or empty) is CYCLE_NOT_FOUND, one that is closed but
 * not finalized on-chain is CYCLE_NOT_FINALIZED. CSV is rendered here with the node's own renderer.
 */
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { statementCsv, type Statement } from "../../core/settlement/statement.js";
import type { NodeApiClient } from "../../core/api/client.js";
import type { MerchantRecord } from "./records.js";

const amount = z.string().regex(/^(0|[1-9][0-9]*)$/);

/** One settlement record of the cycle (its Merkle leaf values). */
export const statementRecordSchema = z.object({
  cycleId: z.string(),
  recordId: z.string(),
  kind: z.number().int(),
  kindName: z.string(),
  account: z.string(),
  counterparty: z.string(),
  token: z.string(),
  amount,
  fee: amount,
});

/** A settlement statement as the node sends it and the gateway answers it. */
export const statementSchema = z.object({
  cycleId: z.string(),
  party: z.object({ type: z.enum(["merchant", "institution"]), account: z.string() }),
  cycle: z.object({
    start: z.number().describe("Cycle start, unix seconds of chain time"),
    end: z.number().describe("Cycle end (exclusive), unix seconds of chain time"),
    status: z.string(),
    merkleRoot: z.string(),
    finalized: z.boolean(),
    finalizedRoot: z.string().optional(),
  }),
  records: z.array(statementRecordSchema).describe("The records the statement covers: this merchant's movements and totals record"),
  totals: z.array(
    z.object({
      token: z.string(),
      gross: amount,
      fee: amount,
      net: amount,
      refunded: amount,
      reclaimed: amount,
      payments: z.number().int(),
      deposits: amount,
      payouts: amount,
    }),
  ),
});
export type StatementView = z.infer<typeof statementSchema>;

/** The statement of `merchant` for a finalized cycle (CYCLE_NOT_FOUND, CYCLE_NOT_FINALIZED otherwise). */
export async function merchantStatement(node: Pick<NodeApiClient, "statement">, merchant: MerchantRecord, cycleId: string): Promise<StatementView> {
  const body = await node.statement(cycleId, merchant.address);
  if (body === undefined) throw new SettlenetError("CYCLE_NOT_FOUND", `the node has no settlement cycle ${cycleId} (not closed yet, or empty)`, { cycle: cycleId });
  const parsed = statementSchema.safeParse(body);
  if (!parsed.success) throw new SettlenetError("NODE_UNAVAILABLE", "the node answered an unexpected statement document");
  const statement = parsed.data;
  if (!statement.cycle.finalized) {
    throw new SettlenetError("CYCLE_NOT_FINALIZED", `settlement cycle ${cycleId} is ${statement.cycle.status}, not finalized yet`, { cycle: cycleId, status: statement.cycle.status });
  }
  return statement;
}

/** The statement as CSV (the node's columns: one row per record, then one total row per token). */
export function merchantStatementCsv(statement: StatementView): string {
  return statementCsv(statement as Statement);
}
