/**
 * Cycle attestations: an institution's EIP-712 signature of a cycle summary (the ledger's `Cycle`
 * type), and the gossip message that carries it on the attestations topic.
 */
import { TypedDataEncoder, getAddress, verifyTypedData, type Signer } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { CYCLE_TYPES, ledgerDomain } from "../../core/protocol/eip712.js";
import { summaryFromJson, summaryToJson, type CycleSummary } from "../../core/settlement/records.js";

export const ATTESTATION_TOPIC = "/settlenet/attestations/1";
export const ATTESTATION_VERSION = 1;

const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/);
const decimal = z.string().regex(/^(0|[1-9][0-9]{0,77})$/);
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/);

export const summaryJsonSchema = z.strictObject({
  cycleId: z.string().regex(/^(0|[1-9][0-9]{0,19})$/),
  merkleRoot: hex32,
  recordCount: z.string().regex(/^(0|[1-9][0-9]{0,19})$/),
  grossAmount: decimal,
  feeAmount: decimal,
  totalsHash: hex32,
});

/** The gossip message: one attestation; `sentAt` only makes a re-broadcast a new gossip message. */
export const attestationMessageSchema = z.strictObject({
  v: z.literal(ATTESTATION_VERSION),
  institution: address,
  summary: summaryJsonSchema,
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/),
  sentAt: z.number().int().nonnegative(),
});
export type AttestationMessage = z.infer<typeof attestationMessageSchema>;

export type { AttestationRecord } from "../../core/api/settlement.js";

export interface LedgerContext {
  chainId: bigint;
  ledger: string;
}

/** The EIP-712 digest SettlementLedger.cycleDigest computes for `summary`. */
export function cycleDigest(ctx: LedgerContext, summary: CycleSummary): string {
  return TypedDataEncoder.hash(ledgerDomain(ctx.chainId, ctx.ledger), CYCLE_TYPES, summary);
}

/** Signs `summary` with an institution's current key. */
export function signCycle(ctx: LedgerContext, signer: Signer, summary: CycleSummary): Promise<string> {
  return signer.signTypedData(ledgerDomain(ctx.chainId, ctx.ledger), CYCLE_TYPES, summary);
}

/** The address that signed `summary` (checksummed); throws BAD_SIGNATURE if none can be recovered. */
export function recoverCycleSigner(ctx: LedgerContext, summary: CycleSummary, signature: string): string {
  try {
    return getAddress(verifyTypedData(ledgerDomain(ctx.chainId, ctx.ledger), CYCLE_TYPES, summary, signature));
  } catch (error) {
    throw new SettlenetError("BAD_SIGNATURE", "the attestation signature does not recover", {}, { cause: error });
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export function encodeAttestation(institution: string, summary: CycleSummary, signature: string): Uint8Array {
  const message: AttestationMessage = { v: ATTESTATION_VERSION, institution, summary: summaryToJson(summary), signature, sentAt: Date.now() };
  return encoder.encode(JSON.stringify(message));
}

/** Parses a gossip attestation; malformed bytes are a MALFORMED error. */
export function decodeAttestation(data: Uint8Array): AttestationMessage & { parsed: CycleSummary } {
  let raw: unknown;
  try {
    raw = JSON.parse(decoder.decode(data));
  } catch {
    throw new SettlenetError("MALFORMED", "attestation is not UTF-8 JSON");
  }
  const result = attestationMessageSchema.safeParse(raw);
  if (!result.success) {
    throw new SettlenetError("MALFORMED", "attestation does not match the schema", { fields: result.error.issues.map((i) => i.path.join(".")) });
  }
  return { ...result.data, parsed: summaryFromJson(result.data.summary) };
}
