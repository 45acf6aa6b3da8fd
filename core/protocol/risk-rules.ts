/**
 * Risk rules: what a node.json `risk` section holds, and the versioned document the governance key
 * signs to change them on every node at runtime.
 *
 * The rules are the payment thresholds (single payment, per-payer and per-merchant day totals, payer
 * velocity, blacklist) plus limits per KYC level: for a payer registered as a customer at level L,
 * `kycLimits[L][token]` caps one payment (`single`) and its day total (`daily`) in that token.
 *
 * A signed document is `{ document: { version, rules }, signature }`; the signature is EIP-712 over
 * `RiskRules(uint64 version, bytes32 rulesHash)` with rulesHash = keccak256 of the rules' canonical
 * JSON (keys sorted), in the domain "Settlenet Risk Rules" bound to the chain and the registry. Only
 * an account holding the registry's DEFAULT_ADMIN_ROLE (consortium governance) may sign one.
 */
import { TypedDataEncoder, getAddress, keccak256, recoverAddress, toUtf8Bytes, type Signer, type TypedDataDomain } from "ethers";
import { z } from "zod";

import { canonicalJson } from "../audit/log.js";
import { DOMAIN_VERSION, type TypedDataTypes } from "./eip712.js";

const amount = z.string().regex(/^(0|[1-9][0-9]*)$/, "expected an amount in minor units as a decimal string");
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "expected an address");
const kycLevel = z.string().regex(/^(0|[1-9][0-9]?|1[0-9]{2}|2[0-4][0-9]|25[0-5])$/, "expected a KYC level 0..255");

/** One token's limits for one KYC level (minor units). */
export const kycTokenLimitsWire = z.strictObject({ single: amount.optional(), daily: amount.optional() });

/** The rules as written in node.json and in a signed document (money as decimal strings). */
export const riskRulesWire = z.strictObject({
  maxPaymentAmount: amount.optional(),
  payerDailyLimit: amount.optional(),
  merchantDailyLimit: amount.optional(),
  payerVelocity: z.strictObject({ count: z.number().int().positive(), windowSeconds: z.number().int().positive() }).optional(),
  blacklist: z.array(address).default([]),
  /** KYC level → token address → limits. A customer whose level (or token) is not listed has no KYC limit. */
  kycLimits: z.record(kycLevel, z.record(address, kycTokenLimitsWire)).default({}),
});
export type RiskRulesWire = z.output<typeof riskRulesWire>;

/** One token's limits for one KYC level, parsed. */
export interface KycTokenLimits {
  single?: bigint;
  daily?: bigint;
}

/** The rules a node applies; amounts in minor units. */
export interface RiskRules {
  /** Largest single payment. */
  maxPaymentAmount?: bigint;
  /** Per payer per UTC day. */
  payerDailyLimit?: bigint;
  /** Per merchant per UTC day. */
  merchantDailyLimit?: bigint;
  /** At most `count` payments per payer within `windowSeconds`. */
  payerVelocity?: { count: number; windowSeconds: number };
  /** Accounts that may neither pay nor be paid. */
  blacklist?: string[];
  /** KYC level → lower-case token address → limits. */
  kycLimits?: ReadonlyMap<number, ReadonlyMap<string, KycTokenLimits>>;
}

/** The rules of a wire form (validated by `riskRulesWire`). */
export function rulesOf(wire: RiskRulesWire): RiskRules {
  const big = (value: string | undefined) => (value === undefined ? undefined : BigInt(value));
  const kycLimits = new Map<number, Map<string, KycTokenLimits>>();
  for (const [level, byToken] of Object.entries(wire.kycLimits)) {
    const tokens = new Map<string, KycTokenLimits>();
    for (const [token, limits] of Object.entries(byToken)) {
      tokens.set(token.toLowerCase(), { ...(limits.single === undefined ? {} : { single: BigInt(limits.single) }), ...(limits.daily === undefined ? {} : { daily: BigInt(limits.daily) }) });
    }
    kycLimits.set(Number(level), tokens);
  }
  const maxPaymentAmount = big(wire.maxPaymentAmount);
  const payerDailyLimit = big(wire.payerDailyLimit);
  const merchantDailyLimit = big(wire.merchantDailyLimit);
  return {
    ...(maxPaymentAmount === undefined ? {} : { maxPaymentAmount }),
    ...(payerDailyLimit === undefined ? {} : { payerDailyLimit }),
    ...(merchantDailyLimit === undefined ? {} : { merchantDailyLimit }),
    ...(wire.payerVelocity ? { payerVelocity: wire.payerVelocity } : {}),
    blacklist: wire.blacklist,
    kycLimits,
  };
}

/** The versioned rules the governance key signs. */
export const riskRulesDocument = z.strictObject({
  /** Strictly increasing: a node applies a document only if its version is above the one it applies. */
  version: z.number().int().positive().max(Number.MAX_SAFE_INTEGER),
  rules: riskRulesWire,
});
export type RiskRulesDocument = z.output<typeof riskRulesDocument>;

/** A document with the governance key's signature. */
export const signedRiskRules = z.strictObject({
  document: riskRulesDocument,
  signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/, "expected a 65-byte signature"),
});
export type SignedRiskRules = z.output<typeof signedRiskRules>;

export const RISK_RULES_DOMAIN_NAME = "Settlenet Risk Rules";
export const RISK_RULES_TYPES: TypedDataTypes = {
  RiskRules: [
    { name: "version", type: "uint64" },
    { name: "rulesHash", type: "bytes32" },
  ],
};

/** The signing domain: bound to the chain and the network's registry. */
export function riskRulesDomain(chainId: bigint, registry: string): TypedDataDomain {
  return { name: RISK_RULES_DOMAIN_NAME, version: DOMAIN_VERSION, chainId, verifyingContract: registry };
}

/** keccak256 of the rules' canonical JSON (what the signature covers, and the audit log's digest). */
export function rulesHash(rules: RiskRulesWire): string {
  return keccak256(toUtf8Bytes(canonicalJson(rules)));
}

function message(document: RiskRulesDocument) {
  return { version: document.version, rulesHash: rulesHash(document.rules) };
}

/** Signs `document` with the governance key. */
export async function signRiskRules(signer: Signer, document: RiskRulesDocument, domain: TypedDataDomain): Promise<SignedRiskRules> {
  const parsed = riskRulesDocument.parse(document);
  return { document: parsed, signature: await signer.signTypedData(domain, RISK_RULES_TYPES, message(parsed)) };
}

/** The address that signed `signed` (checksummed); throws if the signature does not recover. */
export function riskRulesSigner(signed: SignedRiskRules, domain: TypedDataDomain): string {
  const digest = TypedDataEncoder.hash(domain, RISK_RULES_TYPES, message(signed.document));
  return getAddress(recoverAddress(digest, signed.signature));
}
