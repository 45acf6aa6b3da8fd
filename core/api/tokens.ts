/**
 * Tokens resource of the node API: each settlement token's indexed state (supply per custodian,
 * attested reserves, frozen accounts, events) merged with what the chain says now, and one account's
 * balance and freeze.
 */
import { z } from "zod";

import { address, amount, hex32, integer, problemResponses, route } from "./common.js";

/** A custodian institution of a token, as its events describe it. */
export const custodianRecordSchema = z.strictObject({
  institution: address,
  custodian: z.boolean().describe("Currently a custodian (CustodianChanged)"),
  outstanding: amount.describe("Minted and not yet burned by this custodian"),
  reserves: amount.describe("Latest attested reserves"),
  statementHash: z.string(),
  attestedAt: integer.describe("Unix seconds of the latest attestation; 0 = never attested"),
});

/** A frozen account. */
export const frozenAccountSchema = z.strictObject({
  token: address,
  account: address,
  regulator: address,
  reason: z.string(),
  blockNumber: integer,
  txHash: hex32,
  timestamp: integer,
});

/** One token event, for the audit trail. */
export const tokenEventSchema = z.strictObject({
  token: address,
  event: z.string(),
  blockNumber: integer,
  txHash: hex32,
  logIndex: integer,
  timestamp: integer,
  args: z.record(z.string(), z.union([z.string(), z.boolean()])).describe("Event arguments, integers as decimal strings"),
});
export type TokenEvent = z.infer<typeof tokenEventSchema>;

export const tokenSummarySchema = z.strictObject({ token: address, symbol: z.string(), name: z.string(), decimals: integer });
export type TokenSummary = z.infer<typeof tokenSummarySchema>;

export const tokenViewSchema = tokenSummarySchema.extend({
  onChain: z.strictObject({ totalSupply: amount, paused: z.boolean() }).describe("The token as the chain has it now"),
  totalSupply: amount.describe("Indexed: sum of mints less burns"),
  custodians: z.array(custodianRecordSchema),
  latestAttestationAt: integer,
  frozenAccounts: z.array(frozenAccountSchema).describe("Frozen accounts in address order (at most 500)"),
  indexedBlock: integer.nullable(),
});
export type TokenView = z.infer<typeof tokenViewSchema>;

export const tokenAccountSchema = z.strictObject({
  token: address,
  account: address,
  balance: amount,
  frozen: z.boolean(),
  freeze: frozenAccountSchema.nullable().describe("The indexed freeze (who, why, when), if frozen"),
});
export type TokenAccount = z.infer<typeof tokenAccountSchema>;

const tokenParams = z.strictObject({ token: address });

export const tokenRoutes = {
  listTokens: route("GET", "/v1/tokens", {
    operationId: "listTokens",
    tags: ["tokens"],
    summary: "The deployment's settlement tokens",
    response: { 200: z.strictObject({ tokens: z.array(tokenSummarySchema) }), ...problemResponses },
  }),
  getToken: route("GET", "/v1/tokens/:token", {
    operationId: "getToken",
    tags: ["tokens"],
    summary: "A settlement token: indexed supply per custodian, reserves, frozen accounts, and its state on-chain now",
    params: tokenParams,
    response: { 200: tokenViewSchema, ...problemResponses },
  }),
  listTokenEvents: route("GET", "/v1/tokens/:token/events", {
    operationId: "listTokenEvents",
    tags: ["tokens"],
    summary: "A token's newest indexed events, newest first",
    params: tokenParams,
    querystring: z.strictObject({ limit: z.coerce.number<number>().int().min(1).max(500).default(50) }),
    response: { 200: z.strictObject({ events: z.array(tokenEventSchema) }), ...problemResponses },
  }),
  getTokenAccount: route("GET", "/v1/tokens/:token/accounts/:address", {
    operationId: "getTokenAccount",
    tags: ["tokens"],
    summary: "An account's balance and freeze state on-chain now, with the indexed freeze",
    params: z.strictObject({ token: address, address }),
    response: { 200: tokenAccountSchema, ...problemResponses },
  }),
};
