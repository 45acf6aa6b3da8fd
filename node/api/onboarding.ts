/**
 * Operators onboard the institution's merchants and customers through the node: the same actions as
 * the `settlenet merchant|customer` commands (core/operator), signed with the node's operator key
 * and sent through the node's one sender of that key (so they never race the relay for a nonce). Each
 * action that sent a transaction is recorded in the audit log with the caller and the transaction.
 */
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";

import { onboardingRoutes, type RegistryAccount } from "../../core/api/onboarding.js";
import type { AuditLog } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import type { ActionResult, Actor, OperatorChain } from "../../core/operator/chain.js";
import { payoutReference, registerMerchant, updateMerchant } from "../../core/operator/merchant.js";
import { registerCustomer, setCustomerKyc } from "../../core/operator/customer.js";
import { accountRecord, payoutAccountOf, setAccountActive } from "../../core/operator/registry.js";
import { principalOf } from "./app.js";
import { actorOf } from "./credentials.js";

export interface OnboardingModules {
  chain: OperatorChain;
  /** The node's operator key as an actor whose sends go through the node's sender. */
  actor: Actor;
  audit: AuditLog;
}

/** Registers the onboarding routes (institution nodes only: they hold an operator key and its sender). */
export function registerOnboardingRoutes(app: FastifyInstance, modules: OnboardingModules): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { chain, actor } = modules;

  const accountOf = async (address: string): Promise<RegistryAccount> => {
    const record = await accountRecord(chain, address);
    return { address, ...record, ...(record.kind === "merchant" ? { payoutAccount: await payoutAccountOf(chain, address) } : {}) };
  };

  /** Answers the results with the account now; logs the action if it sent anything. */
  const done = async (request: FastifyRequest, action: string, address: string, results: ActionResult[], details: Record<string, string | number>) => {
    const sent = results.filter((r) => r.txHash !== undefined);
    if (sent.length > 0) {
      const who = principalOf(request);
      await modules.audit.append({ actor: actorOf(who), role: who.role, action, target: address.toLowerCase(), details: { ...details, txHashes: sent.map((r) => r.txHash as string) } });
    }
    return { results, account: await accountOf(address) };
  };

  api.route({ ...onboardingRoutes.getRegistryAccount, handler: async (request) => accountOf(request.params.address) });

  api.route({
    ...onboardingRoutes.registerMerchant,
    handler: async (request) => {
      const { address, kycLevel, feeBps, payoutAccount } = request.body;
      const result = await registerMerchant(chain, actor, { address, kycLevel, feeBps, payoutAccount: payoutReference(payoutAccount) });
      return done(request, "merchant.register", address, [result], { kycLevel, feeBps });
    },
  });

  api.route({
    ...onboardingRoutes.updateMerchant,
    handler: async (request) => {
      const { address } = request.params;
      const { kycLevel, feeBps, payoutAccount } = request.body;
      const change = { address, ...(kycLevel !== undefined ? { kycLevel } : {}), ...(feeBps !== undefined ? { feeBps } : {}), ...(payoutAccount !== undefined ? { payoutAccount: payoutReference(payoutAccount) } : {}) };
      const results = await updateMerchant(chain, actor, change);
      return done(request, "merchant.update", address, results, { ...(kycLevel !== undefined ? { kycLevel } : {}), ...(feeBps !== undefined ? { feeBps } : {}) });
    },
  });

  api.route({
    ...onboardingRoutes.registerCustomer,
    handler: async (request) => {
      const { address, kycLevel } = request.body;
      return done(request, "customer.register", address, [await registerCustomer(chain, actor, { address, kycLevel })], { kycLevel });
    },
  });

  api.route({
    ...onboardingRoutes.updateCustomer,
    handler: async (request) => {
      const { address } = request.params;
      const { kycLevel } = request.body;
      return done(request, "customer.update", address, [await setCustomerKyc(chain, actor, { address, kycLevel })], { kycLevel });
    },
  });

  api.route({
    ...onboardingRoutes.setAccountStatus,
    handler: async (request) => {
      const { address } = request.params;
      const { kind } = await accountRecord(chain, address);
      if (kind !== "merchant" && kind !== "customer") throw new SettlenetError("NOT_REGISTERED", `${address} is not a merchant or customer`, { account: address, kind });
      const active = request.body.status === "active";
      const result = await setAccountActive(chain, actor, kind, address, active);
      return done(request, `${kind}.${active ? "reactivate" : "suspend"}`, address, [result], {});
    },
  });
}
