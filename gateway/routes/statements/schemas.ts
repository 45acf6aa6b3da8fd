/** Wire schemas of the statement route: its strict query; the statement itself is the node's (domain/statements.ts). */
import { z } from "zod";

export { statementSchema } from "../../domain/statements.js";

export const statementQuery = z.strictObject({
  cycle: z
    .string()
    .regex(/^(0|[1-9][0-9]{0,19})$/, "expected a cycle id (a non-negative integer)")
    .describe("Settlement cycle id: the cycle covering chain time [id × cycleSeconds, (id + 1) × cycleSeconds)"),
  format: z.enum(["json", "csv"]).default("json").describe("json (default) or csv (RFC 4180: one row per record, then one total row per token)"),
});
