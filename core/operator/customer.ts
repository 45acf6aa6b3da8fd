/**
 * Customer (payer account) onboarding actions an institution takes with its own operator key, shared
 * by the `settlenet customer` command and the node's onboarding routes.
 */
import { SettlenetError } from "../errors.js";
import { sendAs, unchanged, type ActionResult, type Actor, type OperatorChain } from "./chain.js";
import { accountRecord, institutionOf, ownAccount, requireNewAccount } from "./registry.js";

/** Opens a customer account at the institution whose key `actor` is; done if it is already its customer at this level. */
export async function registerCustomer(chain: OperatorChain, actor: Actor, params: { address: string; kycLevel: number }): Promise<ActionResult> {
  const existing = await accountRecord(chain, params.address);
  if (existing.kind === "customer") {
    const record = await ownAccount(chain, actor, "customer", params.address);
    if (record.kycLevel !== params.kycLevel) {
      throw new SettlenetError("CUSTOMER_TERMS_DIFFER", `customer ${params.address} is registered with KYC level ${record.kycLevel}: change it with \`settlenet customer update\``, { account: params.address });
    }
    return unchanged(`customer ${params.address} is registered at ${record.institution} (KYC ${record.kycLevel}, ${record.status})`);
  }
  const institution = await institutionOf(chain, actor);
  await requireNewAccount(chain, params.address, "a customer");
  return sendAs(actor, chain.registry, "registerCustomer", [params.address, params.kycLevel], `registered customer ${params.address} at ${institution} (KYC ${params.kycLevel})`);
}

/** Changes a customer's KYC level. */
export async function setCustomerKyc(chain: OperatorChain, actor: Actor, params: { address: string; kycLevel: number }): Promise<ActionResult> {
  const record = await ownAccount(chain, actor, "customer", params.address);
  if (record.kycLevel === params.kycLevel) return unchanged(`customer ${params.address} has KYC level ${params.kycLevel}`);
  return sendAs(actor, chain.registry, "setKycLevel", [params.address, params.kycLevel], `customer ${params.address} now has KYC level ${params.kycLevel}`);
}
