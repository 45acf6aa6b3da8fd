/**
 * Onboarding resource of the node API (operators only): the institution's merchants and customers in
 * the participant registry — register, change KYC level, fee and payout account, suspend and
 * reactivate — signed by the node with its operator key, through the node's one sender of that key.
 * Each action answers what it did (or that it already held) and the account as the registry has it.
 */
import { z } from "zod";

import { address, integer, problemResponses, route } from "./common.js";

export const kycLevelSchema = z.number().int().min(0).max(255);
export const feeBpsSchema = z.number().int().min(0).max(10_000);
/** A bank account's text (registered as its keccak256) or the 32-byte reference itself. */
export const payoutAccountSchema = z.string().min(1).max(200);

/** An account as the participant registry has it. */
export const registryAccountSchema = z.strictObject({
  address: z.string(),
  kind: z.string().describe("none, institution, merchant or customer"),
  status: z.string().describe("none, active or suspended"),
  kycLevel: integer,
  feeBps: integer,
  institution: z.string(),
  payoutAccount: z.string().optional().describe("A merchant's payout account reference (bytes32)"),
});
export type RegistryAccount = z.infer<typeof registryAccountSchema>;

/** What an onboarding action did: `changed` false when it already held and nothing was sent. */
export const onboardingResultSchema = z.strictObject({
  results: z.array(
    z.strictObject({
      changed: z.boolean(),
      summary: z.string(),
      txHash: z.string().optional(),
      blockNumber: integer.optional(),
      gasUsed: z.string().optional(),
    }),
  ),
  account: registryAccountSchema,
});
export type OnboardingResult = z.infer<typeof onboardingResultSchema>;

const accountParams = z.strictObject({ address });

export const onboardingRoutes = {
  getRegistryAccount: route("GET", "/v1/admin/accounts/:address", {
    operationId: "getRegistryAccount",
    tags: ["admin"],
    summary: "An account as the participant registry has it (kind, status, KYC level, fee, institution)",
    params: accountParams,
    response: { 200: registryAccountSchema, ...problemResponses },
  }),
  registerMerchant: route("POST", "/v1/admin/merchants", {
    operationId: "registerMerchant",
    tags: ["admin"],
    summary: "Onboard a merchant at this institution (KYC level, fee, payout account), signed with the node's operator key",
    description:
      "Done (changed false) if it is already this institution's merchant with these terms; 409 `MERCHANT_TERMS_DIFFER` with other terms, 409 `ACCOUNT_EXISTS` if the address is another account or key, 422 `FEE_ABOVE_MAXIMUM`. Recorded in the audit log (`merchant.register`).",
    body: z.strictObject({ address, kycLevel: kycLevelSchema, feeBps: feeBpsSchema, payoutAccount: payoutAccountSchema }),
    response: { 200: onboardingResultSchema, ...problemResponses },
  }),
  updateMerchant: route("PUT", "/v1/admin/merchants/:address", {
    operationId: "updateMerchant",
    tags: ["admin"],
    summary: "Change what differs of a merchant's KYC level, fee and payout account (one transaction each)",
    description: "404 `NOT_REGISTERED`, 403 `NOT_ACCOUNT_INSTITUTION` for another institution's merchant. Recorded in the audit log (`merchant.update`).",
    params: accountParams,
    body: z
      .strictObject({ kycLevel: kycLevelSchema.optional(), feeBps: feeBpsSchema.optional(), payoutAccount: payoutAccountSchema.optional() })
      .refine((b) => b.kycLevel !== undefined || b.feeBps !== undefined || b.payoutAccount !== undefined, "nothing to change"),
    response: { 200: onboardingResultSchema, ...problemResponses },
  }),
  registerCustomer: route("POST", "/v1/admin/customers", {
    operationId: "registerCustomer",
    tags: ["admin"],
    summary: "Open a customer (payer) account at this institution with its KYC level",
    description: "Done if it is already this institution's customer at this level; 409 `CUSTOMER_TERMS_DIFFER` at another. Recorded in the audit log (`customer.register`).",
    body: z.strictObject({ address, kycLevel: kycLevelSchema }),
    response: { 200: onboardingResultSchema, ...problemResponses },
  }),
  updateCustomer: route("PUT", "/v1/admin/customers/:address", {
    operationId: "updateCustomer",
    tags: ["admin"],
    summary: "Change a customer's KYC level",
    description: "Recorded in the audit log (`customer.update`).",
    params: accountParams,
    body: z.strictObject({ kycLevel: kycLevelSchema }),
    response: { 200: onboardingResultSchema, ...problemResponses },
  }),
  setAccountStatus: route("PUT", "/v1/admin/accounts/:address/status", {
    operationId: "setAccountStatus",
    tags: ["admin"],
    summary: "Suspend or reactivate one of this institution's merchants or customers",
    description: "Recorded in the audit log (`merchant.suspend`, `customer.reactivate`, …).",
    params: accountParams,
    body: z.strictObject({ status: z.enum(["active", "suspended"]) }),
    response: { 200: onboardingResultSchema, ...problemResponses },
  }),
};
