/**
 * Custody resource of the node API: what the custodian service beside the custodian institution's node
 * (node/custodian/) did with a bank transfer it learnt of from the bank — a confirmed deposit it mints,
 * a rejected payout whose redemption it reverses by minting back. Served by every node; only a node
 * running the custodian service has records (others answer 404).
 */
import { z } from "zod";

import { address, amount, hex32, integer, problemResponses, route } from "./common.js";
import { wireBankRef } from "../bank/wire.js";

/** A custody mint's state: `minting` until one of its attempts executes (`minted`) or every attempt failed (`failed`); `refused` when the bank's record does not allow a mint. */
export const CUSTODY_STATUSES = ["minting", "minted", "failed", "refused"] as const;
export type CustodyStatus = (typeof CUSTODY_STATUSES)[number];

export const custodyTransferSchema = z.strictObject({
  bankRef: wireBankRef.describe("The bank's reference of the transfer"),
  kind: z.enum(["deposit", "reversal"]).describe("deposit: a confirmed deposit (top-up); reversal: a payout the bank rejected, minted back"),
  reference: z.string().describe("The reference the bank's client gave the transfer (top-up or payout id)"),
  to: address.nullable().describe("Who is minted to (null when refused before it was known)"),
  token: address.nullable(),
  amount,
  currency: z.string(),
  chainBankRef: hex32.describe("The bankRef of the mint on-chain: keccak256 of the bank's reference"),
  status: z.enum(CUSTODY_STATUSES),
  attempts: integer.describe("Mint operations signed so far"),
  operationId: hex32.optional().describe("The latest mint operation"),
  failure: z.strictObject({ code: z.string(), message: z.string() }).optional(),
  createdAtMs: integer,
  updatedAtMs: integer,
});
export type CustodyTransfer = z.infer<typeof custodyTransferSchema>;

export const custodyRoutes = {
  getCustodyTransfer: route("GET", "/v1/custody/transfers/:bankRef", {
    operationId: "getCustodyTransfer",
    tags: ["tokens"],
    summary: "What the custodian service did with a bank transfer (mint of a confirmed deposit, reversal of a rejected payout)",
    description: "404 CUSTODY_TRANSFER_NOT_FOUND when this node's custodian service has not acted on it (yet), or runs no custodian service.",
    params: z.strictObject({ bankRef: wireBankRef }),
    response: { 200: custodyTransferSchema, ...problemResponses },
  }),
};
