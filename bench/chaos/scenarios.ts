/** The fault campaign's scenarios (see harness.ts for what each row counts). */
import { readFile } from "node:fs/promises";

import { FAILPOINTS } from "../../core/failpoints.js";
import { caFileOf } from "../../scripts/lib/network.js";
import type { ExtraCount, Scenario, ScenarioContext } from "./harness.js";
import { eventIds, merchantClient, payoutRef, tokenEvents, WebhookReceiver } from "./gateway-ops.js";

/** The origin node: the gateway's node, which accepts and relays the stream's payments. */
const ORIGIN = "institution-1";

/** Waits until part `name` exits by itself (a crash point); returns how. */
async function crashed(ctx: ScenarioContext, name: string, timeoutMs: number): Promise<string> {
  const part = ctx.net.part(name);
  if (!part) throw new Error(`${name} is not running`);
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<string>((_, reject) => (timer = setTimeout(() => reject(new Error(`${name} did not reach its crash point within ${timeoutMs / 1000} s`)), timeoutMs)));
  try {
    return await Promise.race([part.exited, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

const originCrash: Scenario = {
  id: "origin-crash",
  title: "origin node kill -9 at each crash point, restarted",
  description:
    "The origin node (the gateway's node, which stores, gossips and relays the stream's payments) runs with `SETTLENET_FAILPOINT` set and " +
    "`SETTLENET_FAILPOINT_ARM=signal`; after a steady baseline the campaign arms the point with SIGUSR2 and the node kills itself with SIGKILL " +
    "the next time it passes there. It is restarted at once (with the next crash point), four times: after the synced store and before gossip, " +
    "after gossip and before the relay sends, after a batch's broadcast and before its receipt, and in the middle of a group commit.",
  network: {
    options: async () => ({ partEnv: { [ORIGIN]: { SETTLENET_FAILPOINT: FAILPOINTS[0], SETTLENET_FAILPOINT_ARM: "signal" } } }),
  },
  async inject(ctx) {
    for (const [i, point] of FAILPOINTS.entries()) {
      const pid = ctx.net.part(ORIGIN)?.process.pid;
      if (pid === undefined) throw new Error("origin node not running");
      process.kill(pid, "SIGUSR2");
      const how = await crashed(ctx, ORIGIN, 120_000);
      if (how !== "signal SIGKILL") throw new Error(`the origin node exited (${how}) instead of killing itself at ${point}`);
      const next = FAILPOINTS[i + 1];
      await ctx.net.restart(ORIGIN, next ? { SETTLENET_FAILPOINT: next, SETTLENET_FAILPOINT_ARM: "signal" } : { SETTLENET_FAILPOINT: "" });
      ctx.healed(`restarted after ${point}`);
      ctx.note(`killed at ${point}`);
      await ctx.sleep(ctx.timing.tailSeconds / 2);
    }
  },
};

const chainDown: Scenario = {
  id: "chain-down",
  title: "chain RPC down, then back",
  description:
    "Every part (nodes, gateway, bank) reaches the chain's JSON-RPC through its own TCP proxy. The campaign closes all of them at once " +
    "(connections reset, new ones refused) for the outage, then opens them again; the chain itself keeps running.",
  network: { chainProxies: true },
  async inject(ctx) {
    const seconds = ctx.timing.baselineSeconds >= 10 ? 30 : 15;
    for (const proxy of ctx.chainProxies.values()) await proxy.set("refuse");
    ctx.note(`JSON-RPC refused to every part for ${seconds} s`);
    await ctx.sleep(seconds);
    for (const proxy of ctx.chainProxies.values()) await proxy.set("pass");
    ctx.healed("chain RPC back");
  },
};

const gatewayCrash: Scenario = {
  id: "gateway-crash",
  title: "gateway kill -9 mid-payout and mid-webhook, restarted",
  description:
    "A merchant has a webhook endpoint (a receiver in the campaign that answers after 1 s, so deliveries are in flight) and a topped-up " +
    "balance. During the stream it asks for payouts; the campaign kills the gateway with SIGKILL as soon as a payout is past its burn and " +
    "being paid by the bank while webhook deliveries are open, and restarts it. Payouts count as lost if not paid by the end, doubled if the " +
    "chain shows more than one redemption for one payout; events count as lost if the receiver never got them (deliveries are at least once).",
  async inject(ctx) {
    const ca = await readFile(caFileOf(ctx.root), "utf8");
    const merchant = ctx.net.state.merchants[0];
    if (!merchant?.payoutAccount) throw new Error("no merchant with a payout account");
    const { client, close } = merchantClient(ctx.net.endpoints.gateway, ca, merchant);
    const receiver = new WebhookReceiver(1_000);
    await receiver.start();
    try {
      const fromBlock = await ctx.provider.getBlockNumber();
      const endpoint = await client.post<{ id: string }>("/v1/webhook-endpoints", { url: receiver.url, description: "chaos receiver" });
      if (endpoint.status !== 201) throw new Error(`webhook endpoint: ${endpoint.status} ${JSON.stringify(endpoint.body)}`);
      const topup = await client.post<{ id: string }>("/v1/topups", { amount: "50000", currency: "CNY", account: merchant.payoutAccount });
      if (topup.status !== 202) throw new Error(`top-up: ${topup.status} ${JSON.stringify(topup.body)}`);
      await ctx.waitFor("the top-up to complete", async () => (await client.get<{ stage: string }>(`/v1/topups/${topup.body.id}`)).body.stage === "completed");
      const payouts: string[] = [];
      const ask = async () => {
        const res = await client.post<{ id: string }>("/v1/payouts", { amount: "1000", currency: "CNY", account: merchant.payoutAccount });
        if (res.status === 202) payouts.push(res.body.id);
        return res.status;
      };
      for (let i = 0; i < 3; i++) await ask();
      // Mid-payout: a payout burned and being paid; mid-webhook: deliveries open at the receiver.
      await ctx.waitFor("a payout at the bank while webhook deliveries are open", async () => {
        const stages = await Promise.all(payouts.map(async (id) => (await client.get<{ stage: string }>(`/v1/payouts/${id}`)).body.stage));
        return stages.includes("paying") && receiver.open > 0;
      });
      const openDeliveries = receiver.open;
      await ctx.net.kill("gateway");
      ctx.note(`gateway killed with a payout at the bank and ${openDeliveries} webhook deliveries open`);
      await ctx.net.restart("gateway");
      ctx.healed("gateway restarted");
      for (let i = 0; i < 2; i++) await ask();
      await ctx.sleep(ctx.timing.tailSeconds);
      // Every payout ends paid, with one redemption each.
      await ctx.waitFor("every payout to end", async () => {
        const stages = await Promise.all(payouts.map(async (id) => (await client.get<{ stage: string }>(`/v1/payouts/${id}`)).body.stage));
        return stages.every((s) => s === "paid" || s === "failed");
      }, 180_000).catch(() => undefined);
      const ended = await Promise.all(payouts.map(async (id) => (await client.get<{ stage: string }>(`/v1/payouts/${id}`)).body.stage));
      const { redeemed } = await tokenEvents(ctx.provider, ctx.deployment, fromBlock);
      const payoutCount: ExtraCount = {
        what: "payouts",
        total: payouts.length,
        lost: ended.filter((s) => s !== "paid").length,
        doubled: payouts.filter((id) => (redeemed.get(payoutRef(id)) ?? 0) > 1).length,
        note: `${payouts.length} payouts, stages ${JSON.stringify(countBy(ended))}`,
      };
      ctx.extra(payoutCount);
      // Every event in the merchant's log reaches the receiver at least once.
      let ids: string[] = [];
      await ctx.waitFor("every event delivered", async () => {
        ids = await eventIds(client);
        return ids.every((id) => receiver.deliveries.has(id));
      }, 120_000).catch(() => undefined);
      const again = [...receiver.deliveries.values()].filter((n) => n > 1).length;
      ctx.extra({
        what: "webhook events",
        total: ids.length,
        lost: ids.filter((id) => !receiver.deliveries.has(id)).length,
        doubled: 0,
        note: `${ids.length} events, ${again} delivered more than once (at least once by contract; receivers deduplicate by webhook-id)`,
      });
    } finally {
      await receiver.close();
      await close();
    }
  },
};

function countBy(values: string[]): Record<string, number> {
  const out: Record<string, number> = {};
  for (const v of values) out[v] = (out[v] ?? 0) + 1;
  return out;
}

export const SCENARIOS: Scenario[] = [originCrash, chainDown, gatewayCrash];
