/**
 * Operators onboard the institution's merchants and customers through the node: the same actions as
 * the `settlenet merchant|customer` commands (core/operator), signed with the node's operator key
 * and sent through the node's one sender of that key (so they never race the relay for a nonce).
 *
 * The audit log records each transaction's intent (`<action>.intent`: the caller, the method, the
 * calldata's hash) in its own synced write before the transaction is handed to the sender, and the
 * outcome after (`<action>` with the transactions, or `<action>.failed` with the code), naming the
 * intents it closes. A crash between the two leaves an intent without an outcome, never an action
 * that took effect without an entry; at the next start the node closes such an intent with
 * `<action>.interrupted` and what the registry holds for the account then.
 */
import { keccak256 } from "ethers";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";

import { onboardingRoutes, type RegistryAccount } from "../../core/api/onboarding.js";
import type { AuditEntry, AuditLog } from "../../core/audit/log.js";
import { SettlenetError } from "../../core/errors.js";
import { failpoint } from "../../core/failpoints.js";
import type { ActionResult, Actor, OperatorChain } from "../../core/operator/chain.js";
import { payoutReference, registerMerchant, updateMerchant } from "../../core/operator/merchant.js";
import { registerCustomer, setCustomerKyc } from "../../core/operator/customer.js";
import { accountRecord, payoutAccountOf, setAccountActive } from "../../core/operator/registry.js";
import { principalOf } from "./app.js";
import { actorOf } from "./credentials.js";

export interface OnboardingModules {
  chain: OperatorChain;
  /** The node's operator key as an actor whose sends go through the node's sender. */
  actor: Actor & { send: NonNullable<Actor["send"]> };
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

  /**
   * Runs `act` with the operator key, recording in the audit log each transaction's intent before it
   * is sent and the action's outcome after; answers the results with the account now. An action that
   * sent nothing (already done, or refused by its checks) leaves no entry.
   */
  const audited = async (request: FastifyRequest, action: string, address: string, details: Record<string, string | number>, act: (actor: Actor) => Promise<ActionResult[]>) => {
    const who = principalOf(request);
    const by = { actor: actorOf(who), role: who.role, target: address.toLowerCase() };
    const intents: string[] = [];
    const recording: Actor = {
      ...actor,
      send: async (call) => {
        const intent = await modules.audit.append({ ...by, action: `${action}.intent`, details: { ...details, method: call.what, to: call.to.toLowerCase(), calldataHash: keccak256(call.data) } });
        intents.push(String(intent.seq));
        return actor.send(call);
      },
    };
    let results: ActionResult[];
    try {
      results = await act(recording);
    } catch (error) {
      if (intents.length > 0) {
        // TX_REVERTED did not take effect; after other codes (the node stopping, a dropped or unanswered
        // send) the registry on-chain says whether it did, and the transaction is named when known.
        const code = error instanceof SettlenetError ? error.code : "INTERNAL";
        const txHash = error instanceof SettlenetError ? error.meta["txHash"] : undefined;
        // If this entry cannot be written either (the node stopping), the intents stay open and the next
        // start closes them; the caller gets the action's own error.
        await modules.audit.append({ ...by, action: `${action}.failed`, details: { ...details, intents, code, ...(typeof txHash === "string" ? { txHash } : {}) } }).catch(() => undefined);
      }
      throw error;
    }
    const sent = results.filter((r) => r.txHash !== undefined);
    if (intents.length > 0) {
      failpoint("after-onboarding-send-before-audit");
      await modules.audit.append({ ...by, action, details: { ...details, intents, txHashes: sent.map((r) => r.txHash as string) } });
    }
    return { results, account: await accountOf(address) };
  };

  api.route({ ...onboardingRoutes.getRegistryAccount, handler: async (request) => accountOf(request.params.address) });

  api.route({
    ...onboardingRoutes.registerMerchant,
    handler: async (request) => {
      const { address, kycLevel, feeBps, payoutAccount } = request.body;
      return audited(request, "merchant.register", address, { kycLevel, feeBps }, async (by) => [await registerMerchant(chain, by, { address, kycLevel, feeBps, payoutAccount: payoutReference(payoutAccount) })]);
    },
  });

  api.route({
    ...onboardingRoutes.updateMerchant,
    handler: async (request) => {
      const { address } = request.params;
      const { kycLevel, feeBps, payoutAccount } = request.body;
      const change = { address, ...(kycLevel !== undefined ? { kycLevel } : {}), ...(feeBps !== undefined ? { feeBps } : {}), ...(payoutAccount !== undefined ? { payoutAccount: payoutReference(payoutAccount) } : {}) };
      return audited(request, "merchant.update", address, { ...(kycLevel !== undefined ? { kycLevel } : {}), ...(feeBps !== undefined ? { feeBps } : {}) }, (by) => updateMerchant(chain, by, change));
    },
  });

  api.route({
    ...onboardingRoutes.registerCustomer,
    handler: async (request) => {
      const { address, kycLevel } = request.body;
      return audited(request, "customer.register", address, { kycLevel }, async (by) => [await registerCustomer(chain, by, { address, kycLevel })]);
    },
  });

  api.route({
    ...onboardingRoutes.updateCustomer,
    handler: async (request) => {
      const { address } = request.params;
      const { kycLevel } = request.body;
      return audited(request, "customer.update", address, { kycLevel }, async (by) => [await setCustomerKyc(chain, by, { address, kycLevel })]);
    },
  });

  api.route({
    ...onboardingRoutes.setAccountStatus,
    handler: async (request) => {
      const { address } = request.params;
      const { kind } = await accountRecord(chain, address);
      if (kind !== "merchant" && kind !== "customer") throw new SettlenetError("NOT_REGISTERED", `${address} is not a merchant or customer`, { account: address, kind });
      const active = request.body.status === "active";
      return audited(request, `${kind}.${active ? "reactivate" : "suspend"}`, address, {}, async (by) => [await setAccountActive(chain, by, kind, address, active)]);
    },
  });
}

const INTENT = ".intent";

/**
 * Closes the intents a crash left without an outcome, each with an `<action>.interrupted` entry by
 * the node naming the intent and the account's registry record now (which says whether the action
 * took effect). Run at start, before the API takes onboarding requests, so no intent is in flight.
 */
export async function closeInterruptedIntents(modules: { chain: OperatorChain; audit: AuditLog; node: string }): Promise<AuditEntry[]> {
  const open = new Map<string, AuditEntry>();
  for (let after: number | undefined; ; ) {
    const page = await modules.audit.list({ ...(after === undefined ? {} : { after }), limit: 1_000 });
    for (const entry of page.entries) {
      if (entry.action.endsWith(INTENT)) open.set(String(entry.seq), entry);
      const closes = entry.details?.["intents"];
      if (Array.isArray(closes)) for (const seq of closes) open.delete(seq);
    }
    if (page.next === undefined) break;
    after = page.next;
  }
  const closed: AuditEntry[] = [];
  for (const [seq, intent] of open) {
    const record = intent.target === undefined ? undefined : await accountRecord(modules.chain, intent.target);
    closed.push(
      await modules.audit.append({
        actor: modules.node,
        role: "node",
        action: `${intent.action.slice(0, -INTENT.length)}.interrupted`,
        ...(intent.target === undefined ? {} : { target: intent.target }),
        details: { intents: [seq], ...(record ? { kind: record.kind, status: record.status, kycLevel: record.kycLevel, feeBps: record.feeBps } : {}) },
      }),
    );
  }
  return closed;
}
