/** The fault campaign's scenarios (see harness.ts for what each row counts). */
import { execFileSync, fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { once } from "node:events";
import { mkdir, open, readFile, rm } from "node:fs/promises";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { join } from "node:path";

import { pino } from "pino";

import { NodeApiClient } from "../../core/api/client.js";
import { chainBankRef } from "../../gateway/domain/token-ops.js";
import { loadOrCreatePeerKey } from "../../node/p2p/keys.js";
import { GOSSIP_TOPIC } from "../../node/p2p/message.js";
import { createGossipNetwork } from "../../node/p2p/network.js";
import { NODE_CLIENT_CREDENTIALS_FILE, type NodeClientCredentials } from "../../scripts/lib/launch/nodes.js";

import { PAYMENT_FAILPOINTS } from "../../core/failpoints.js";
import { caFileOf, PROJECT_ROOT } from "../../scripts/lib/network.js";
import type { FlooderArgs, FlooderReport } from "./control-flooder.js";
import { NODES, type ExtraCount, type Scenario, type ScenarioContext } from "./harness.js";
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
    options: async () => ({ partEnv: { [ORIGIN]: { SETTLENET_FAILPOINT: PAYMENT_FAILPOINTS[0], SETTLENET_FAILPOINT_ARM: "signal" } } }),
  },
  async inject(ctx) {
    for (const [i, point] of PAYMENT_FAILPOINTS.entries()) {
      const pid = ctx.net.part(ORIGIN)?.process.pid;
      if (pid === undefined) throw new Error("origin node not running");
      process.kill(pid, "SIGUSR2");
      const how = await crashed(ctx, ORIGIN, 120_000);
      if (how !== "signal SIGKILL") throw new Error(`the origin node exited (${how}) instead of killing itself at ${point}`);
      const next = PAYMENT_FAILPOINTS[i + 1];
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
    const seconds = ctx.timing.faultSeconds;
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
      // Events created before the endpoint existed are not sent to it.
      const registeredAt = Date.now();
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
        ids = await eventIds(client, registeredAt);
        return ids.every((id) => receiver.deliveries.has(id));
      }, 120_000).catch(() => undefined);
      const again = [...receiver.deliveries.values()].filter((n) => n > 1).length;
      ctx.extra({
        what: "webhook events",
        total: ids.length,
        lost: ids.filter((id) => !receiver.deliveries.has(id)).length,
        doubled: 0,
        note: `${ids.length} events created after the endpoint, ${again} delivered more than once (at least once by contract; receivers deduplicate by webhook-id)`,
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

const partitionChain: Scenario = {
  id: "partition-chain",
  title: "origin node cut off from the chain, then healed",
  description:
    "Every part reaches the chain through its own TCP proxy; the origin node's proxy turns into a black hole (open connections cut, new ones " +
    "accepted and never answered) while the other nodes, the gateway and the bank still reach the chain. The origin keeps accepting and " +
    "gossiping what the gateway sends, but can neither relay nor renew its relay lease on-chain, so another institution takes over its " +
    "operations once the lease lapses. Then the link is healed.",
  network: { chainProxies: true },
  async inject(ctx) {
    const proxy = ctx.chainProxies.get(ORIGIN);
    if (!proxy) throw new Error("no chain proxy for the origin node");
    const seconds = ctx.timing.faultSeconds;
    await proxy.set("blackhole");
    ctx.note(`the origin node's JSON-RPC black-holed for ${seconds} s`);
    await ctx.sleep(seconds);
    await proxy.set("pass");
    ctx.healed("origin reaches the chain again");
  },
};

const partitionNodes: Scenario = {
  id: "partition-nodes",
  title: "origin node partitioned from its peers, then healed",
  description:
    "Every libp2p dial between two nodes goes through its own TCP proxy (each node's bootstrap list names the proxies). The proxies between the " +
    "origin node and every other node turn into black holes (connections cut, new ones hang), so the origin keeps the gateway and the chain " +
    "but hears no peer and no peer hears it; then they pass again and the nodes' re-dial loop reconnects them.",
  network: { p2pProxies: true },
  async inject(ctx) {
    const cut = [...ctx.p2pProxies.entries()].filter(([key]) => key.startsWith(`${ORIGIN}->`) || key.endsWith(`->${ORIGIN}`));
    const seconds = ctx.timing.faultSeconds;
    for (const [, proxy] of cut) await proxy.set("blackhole");
    await ctx.sleep(Math.min(5, seconds));
    const peers = await nodePeers(ctx, ORIGIN);
    ctx.note(`${cut.length} links of the origin node black-holed for ${seconds} s; ${peers === undefined ? "its peer count unreadable" : `${peers} peers connected to it 5 s in`}`);
    await ctx.sleep(seconds - Math.min(5, seconds));
    for (const [, proxy] of cut) await proxy.set("pass");
    ctx.healed("partition healed");
  },
};

/** Connected peers node `name` reports (GET /v1/peers with the launcher's credential). */
async function nodePeers(ctx: ScenarioContext, name: string): Promise<number | undefined> {
  const i = NODES.indexOf(name as (typeof NODES)[number]);
  const endpoint = ctx.net.endpoints.nodes[i];
  if (!endpoint) return undefined;
  try {
    const tokens = JSON.parse(await readFile(join(ctx.root, name, NODE_CLIENT_CREDENTIALS_FILE), "utf8")) as NodeClientCredentials;
    const api = new NodeApiClient({ baseUrl: endpoint.api, timeoutMs: 10_000, credentials: tokens });
    return (await api.peers()).length;
  } catch {
    return undefined;
  }
}

/** Top-ups and payouts of merchant 0 through the gateway and the bank, and their account once they ended. */
async function moneyTraffic(ctx: ScenarioContext, rounds: number, during: () => Promise<void>): Promise<void> {
  const ca = await readFile(caFileOf(ctx.root), "utf8");
  const merchant = ctx.net.state.merchants[0];
  if (!merchant?.payoutAccount) throw new Error("no merchant with a payout account");
  const { client, close } = merchantClient(ctx.net.endpoints.gateway, ca, merchant);
  try {
    const fromBlock = await ctx.provider.getBlockNumber();
    const first = await client.post<{ id: string }>("/v1/topups", { amount: "100000", currency: "CNY", account: merchant.payoutAccount });
    if (first.status !== 202) throw new Error(`top-up: ${first.status} ${JSON.stringify(first.body)}`);
    await ctx.waitFor("the opening top-up to complete", async () => (await client.get<{ stage: string }>(`/v1/topups/${first.body.id}`)).body.stage === "completed");
    const topups: string[] = [first.body.id];
    const payouts: string[] = [];
    const traffic = (async () => {
      for (let i = 0; i < rounds; i++) {
        const t = await client.post<{ id: string }>("/v1/topups", { amount: "2000", currency: "CNY", account: merchant.payoutAccount });
        if (t.status === 202) topups.push(t.body.id);
        const p = await client.post<{ id: string }>("/v1/payouts", { amount: "1000", currency: "CNY", account: merchant.payoutAccount });
        if (p.status === 202) payouts.push(p.body.id);
        await ctx.sleep(1);
      }
    })();
    await during();
    await traffic;
    const stageOf = async (kind: string, id: string) => (await client.get<{ stage: string; bank: { bankRef: string } | null }>(`/v1/${kind}/${id}`)).body;
    await ctx
      .waitFor("every top-up and payout to end", async () => {
        const t = await Promise.all(topups.map((id) => stageOf("topups", id)));
        const p = await Promise.all(payouts.map((id) => stageOf("payouts", id)));
        return t.every((x) => x.stage === "completed" || x.stage === "failed") && p.every((x) => x.stage === "paid" || x.stage === "failed");
      }, 180_000)
      .catch(() => undefined);
    const t = await Promise.all(topups.map((id) => stageOf("topups", id)));
    const p = await Promise.all(payouts.map((id) => stageOf("payouts", id)));
    const { redeemed, minted } = await tokenEvents(ctx.provider, ctx.deployment, fromBlock);
    ctx.extra({
      what: "top-ups",
      total: topups.length,
      lost: t.filter((x) => x.stage !== "completed").length,
      doubled: t.filter((x) => x.bank && (minted.get(chainBankRef(x.bank.bankRef).toLowerCase()) ?? 0) > 1).length,
      note: `${topups.length} top-ups, stages ${JSON.stringify(countBy(t.map((x) => x.stage)))}`,
    });
    ctx.extra({
      what: "payouts",
      total: payouts.length,
      lost: p.filter((x) => x.stage !== "paid").length,
      doubled: payouts.filter((id) => (redeemed.get(payoutRef(id)) ?? 0) > 1).length,
      note: `${payouts.length} payouts, stages ${JSON.stringify(countBy(p.map((x) => x.stage)))}`,
    });
  } finally {
    await close();
  }
}

/**
 * Between the bank and the gateway's /bank/callbacks: holds callbacks and releases them in reverse order
 * of arrival every 1.5 s, sends each twice, and replays an earlier one with every release (what an
 * unreliable network or a retrying bank can do). The bank hears the first forward's answer.
 */
class CallbackMangler {
  target = "";
  mangling = false;
  readonly counts = { received: 0, forwarded: 0, reordered: 0, replayed: 0 };
  private server: Server | undefined;
  private held: { headers: Record<string, string>; body: string; answer: (status: number) => void }[] = [];
  private readonly seen: { headers: Record<string, string>; body: string }[] = [];
  private timer: NodeJS.Timeout | undefined;
  url = "";

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      const chunks: Buffer[] = [];
      req.on("data", (c: Buffer) => chunks.push(c));
      req.on("end", () => {
        this.counts.received += 1;
        const headers: Record<string, string> = {};
        for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string" && (k.startsWith("bank-") || k === "content-type")) headers[k] = v;
        const item = { headers, body: Buffer.concat(chunks).toString("utf8"), answer: (status: number) => res.writeHead(status).end() };
        if (!this.target) return item.answer(503);
        if (!this.mangling) {
          void this.forward(item).then(item.answer);
          return;
        }
        this.held.push(item);
      });
    });
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/bank/callbacks`;
    this.timer = setInterval(() => void this.release(), 1_500);
  }

  private async release(): Promise<void> {
    const batch = this.held.splice(0).reverse();
    if (batch.length > 1) this.counts.reordered += batch.length;
    for (const item of batch) {
      const status = await this.forward(item);
      await this.forward(item);
      item.answer(status);
    }
    const old = this.seen[Math.floor(Math.random() * this.seen.length)];
    if (this.mangling && old) {
      this.counts.replayed += 1;
      await this.forward(old);
    }
  }

  private async forward(item: { headers: Record<string, string>; body: string }): Promise<number> {
    this.counts.forwarded += 1;
    this.seen.push({ headers: item.headers, body: item.body });
    try {
      const response = await fetch(this.target, { method: "POST", headers: item.headers, body: item.body, signal: AbortSignal.timeout(10_000) });
      await response.body?.cancel();
      return response.status;
    } catch {
      return 502;
    }
  }

  async close(): Promise<void> {
    clearInterval(this.timer);
    for (const item of this.held.splice(0)) item.answer(503);
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

let mangler: CallbackMangler | undefined;

const bankCallbacks: Scenario = {
  id: "bank-callbacks",
  title: "bank callbacks duplicated, reordered and replayed",
  description:
    "The bank's settlement callbacks go to a proxy in the campaign instead of the gateway. During the fault it holds them, releases them " +
    "in reverse order of arrival every 1.5 s, sends each to the gateway twice and replays an earlier one with every release (validly " +
    "signed, so only the gateway's own idempotency stands between them and a second settlement). Meanwhile the merchant tops up and " +
    "pays out through the bank every second. Top-ups count as lost unless completed, doubled if one bank deposit minted twice; payouts " +
    "as lost unless paid, doubled if one payout redeemed twice.",
  network: {
    options: async () => {
      mangler = new CallbackMangler();
      await mangler.start();
      return { bankCallbackUrl: mangler.url };
    },
  },
  async inject(ctx) {
    const m = mangler;
    if (!m) throw new Error("no callback proxy");
    m.target = `${ctx.net.endpoints.gateway}/bank/callbacks`;
    const seconds = ctx.timing.faultSeconds;
    await moneyTraffic(ctx, seconds, async () => {
      m.mangling = true;
      await ctx.sleep(seconds);
      m.mangling = false;
      ctx.healed("callbacks passed straight again");
    });
    ctx.note(`callbacks: ${m.counts.received} from the bank, ${m.counts.forwarded} forwarded, ${m.counts.reordered} released out of order, ${m.counts.replayed} replays`);
  },
  async cleanup() {
    await mangler?.close();
    mangler = undefined;
  },
};

const CLOCK_OFFSET_MS = 5 * 60 * 1000;

const clockSkew: Scenario = {
  id: "clock-skew",
  title: "origin node's clock 5 minutes ahead",
  description:
    "The origin node runs with SETTLENET_CLOCK_OFFSET_MS=300000: every wall-clock reading it takes (Date.now: receipt times, relay leases, " +
    "its deadline checks) is 5 minutes ahead of the other processes'. Chain time still comes from the chain. The stream runs through it for the whole scenario.",
  noHeal: true,
  network: { options: async () => ({ partEnv: { [ORIGIN]: { SETTLENET_CLOCK_OFFSET_MS: String(CLOCK_OFFSET_MS) } } }) },
  async inject(ctx) {
    ctx.note(`the origin node's clock ${CLOCK_OFFSET_MS / 60_000} minutes ahead for the whole run`);
    await ctx.sleep(ctx.timing.faultSeconds);
  },
};

/** The node whose data folder is a small tmpfs: the origin, whose acknowledgements are what a full disk could break. */
const DISK_NODE = ORIGIN;
const DISK_BYTES = 256 * 1024 * 1024;

const diskFull: Scenario = {
  id: "disk-full",
  title: "origin node's disk full, then space again",
  description:
    "The origin node's data folder is a 256 MiB tmpfs mounted by the campaign (root only). During the fault a file fills it to the last byte, " +
    "so every LevelDB write of that node fails (ENOSPC); then the file is deleted. The node must refuse what it cannot store durably (never " +
    "acknowledge it) and go on once there is space.",
  unavailable: () => (process.getuid?.() === 0 ? undefined : "needs root to mount a size-limited tmpfs for the node's data folder"),
  network: {
    options: async () => ({
      prepare: async (dir) => {
        const data = join(dir, DISK_NODE, "data");
        await mkdir(data, { recursive: true });
        execFileSync("mount", ["-t", "tmpfs", "-o", `size=${DISK_BYTES}`, "tmpfs", data]);
      },
    }),
  },
  async inject(ctx) {
    const data = join(ctx.root, DISK_NODE, "data");
    const filler = join(data, "chaos-filler");
    const seconds = ctx.timing.faultSeconds;
    const chunk = Buffer.alloc(1024 * 1024);
    let written = 0;
    const fd = await open(filler, "w");
    try {
      for (;;) {
        try {
          written += (await fd.write(chunk)).bytesWritten;
        } catch {
          break;
        }
      }
      // The last partial MiB.
      for (;;) {
        try {
          written += (await fd.write(chunk.subarray(0, 4096))).bytesWritten;
        } catch {
          break;
        }
      }
    } finally {
      await fd.close();
    }
    ctx.note(`the node's disk filled (${Math.round(written / 2 ** 20)} MiB written to fill it) for ${seconds} s`);
    await ctx.sleep(seconds);
    await rm(filler, { force: true });
    ctx.healed("space freed");
  },
  async cleanup(root) {
    const data = join(root, DISK_NODE, "data");
    try {
      execFileSync("umount", [data]);
    } catch {
      // not mounted
    }
  },
};

const FLOOD_NODE = "institution-3";

const flood: Scenario = {
  id: "gossip-flood",
  title: "a registered peer floods junk gossip",
  description:
    `${FLOOD_NODE} is stopped and a libp2p peer with its identity (its peer key: a registered institution) joins with the node's own ` +
    "network code and publishes junk at full speed on the operations topic: random bytes, and well-formed messages of garbage operations. " +
    "Then it leaves and the real node comes back. The other nodes must keep serving the stream and penalise or ban the flooder.",
  async inject(ctx) {
    const seconds = ctx.timing.faultSeconds;
    await ctx.net.kill(FLOOD_NODE, "SIGTERM");
    const privateKey = await loadOrCreatePeerKey(join(ctx.root, FLOOD_NODE, "peer.key"));
    const others = ctx.net.endpoints.nodes.filter((n) => n.name !== FLOOD_NODE);
    const ids = new Set(ctx.net.state.nodes.map((n) => n.peerId));
    const peer = await createGossipNetwork(
      { privateKey, listen: ["/ip4/127.0.0.1/tcp/0"], bootstrap: others.map((n) => n.p2p) },
      { logger: pino({ level: "silent" }), allowlist: () => ids, validate: async () => "ignore" },
    );
    let sent = 0;
    let failed = 0;
    try {
      await ctx.waitFor("the flooder to reach a peer", async () => peer.topicPeers().length > 0, 60_000);
      const until = Date.now() + seconds * 1000;
      let i = 0;
      while (Date.now() < until) {
        const junk = i % 2 === 0 ? randomBytes(512 + (i % 4096)) : Buffer.from(JSON.stringify([{ kind: "pay", terms: { payer: `0x${randomBytes(20).toString("hex")}` }, signature: `0x${randomBytes(65).toString("hex")}` }]));
        i += 1;
        try {
          await peer.publish(junk);
          sent += 1;
        } catch {
          failed += 1;
          await ctx.sleep(0.05);
        }
      }
    } finally {
      ctx.note(`the flooder published ${sent} junk messages in ${seconds} s (${failed} publishes failed: no peer would take them); ${peer.connectedPeers().length} peers still connected to it at the end`);
      await peer.stop();
    }
    await ctx.net.restart(FLOOD_NODE);
    ctx.healed("flooder gone, node back");
  },
};

/** CPU seconds a process has used (user and system), from /proc; undefined where unreadable. */
async function cpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const stat = await readFile(`/proc/${pid}/stat`, "utf8");
    // Fields after the command name (which may hold spaces): state is the first, utime the 12th, stime the 13th.
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS;
  } catch {
    return undefined;
  }
}
const CLOCK_TICKS = Number(execFileSync("getconf", ["CLK_TCK"], { encoding: "utf8" }).trim()) || 100;

/** CPU per wall second of each named part while `during` runs: over the whole run, and its busiest whole second. */
async function cpuPerSecond(ctx: ScenarioContext, names: readonly string[], during: () => Promise<void>): Promise<{ mean: Map<string, number>; peak: Map<string, number> }> {
  const pids = names.map((name) => ctx.net.part(name)?.process.pid);
  const read = () => Promise.all(pids.map(cpuSeconds));
  const before = await read();
  const started = Date.now();
  const peak = new Map<string, number>();
  let last = { at: started, values: before };
  const sampler = setInterval(() => {
    void read().then((values) => {
      const at = Date.now();
      names.forEach((name, i) => {
        const a = values[i];
        const b = last.values[i];
        if (a !== undefined && b !== undefined) peak.set(name, Math.max(peak.get(name) ?? 0, (a - b) / ((at - last.at) / 1000)));
      });
      last = { at, values };
    });
  }, 1_000);
  try {
    await during();
  } finally {
    clearInterval(sampler);
  }
  const seconds = (Date.now() - started) / 1000;
  const after = await read();
  const mean = new Map<string, number>();
  names.forEach((name, i) => {
    const a = after[i];
    const b = before[i];
    if (a !== undefined && b !== undefined) mean.set(name, (a - b) / seconds);
  });
  return { mean, peak };
}

/** p50 and p90 of `values` in seconds (ms in), "—" when empty. */
function percentiles(values: number[]): string {
  const sorted = values.filter(Number.isFinite).sort((x, y) => x - y);
  if (sorted.length === 0) return "—";
  const at = (q: number) => ((sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * q))] ?? 0) / 1000).toFixed(2);
  return `p50 ${at(0.5)} s, p90 ${at(0.9)} s`;
}

/** IHAVE/IWANT RPCs the control flooder sends each victim per second. */
const CONTROL_RPCS_PER_SECOND = 50;
const CONTROL_IDS = 5_000;

const controlFlood: Scenario = {
  id: "gossip-control-flood",
  title: "a registered peer floods gossipsub IHAVE/IWANT",
  description:
    `${FLOOD_NODE} is stopped and a libp2p peer with its identity (a registered institution) joins with stock gossipsub and sends every ` +
    `node ${CONTROL_RPCS_PER_SECOND} RPCs a second, each an IHAVE advertising ${CONTROL_IDS} message ids nobody has and an IWANT asking for ` +
    `${CONTROL_IDS} unknown ids, and never delivers what it advertised. The other nodes' CPU per second and the payments' latency are ` +
    "measured over a quiet window with the peer connected and over the flood; then it leaves and the real node comes back.",
  async inject(ctx) {
    const seconds = ctx.timing.faultSeconds;
    const quietSeconds = Math.min(10, seconds);
    await ctx.net.kill(FLOOD_NODE, "SIGTERM");
    const victims = NODES.filter((n) => n !== FLOOD_NODE);
    const args: FlooderArgs = {
      keyFile: join(ctx.root, FLOOD_NODE, "peer.key"),
      bootstrap: ctx.net.endpoints.nodes.filter((n) => n.name !== FLOOD_NODE).map((n) => n.p2p),
      topic: GOSSIP_TOPIC,
      idsPerMessage: CONTROL_IDS,
      rpcsPerSecond: CONTROL_RPCS_PER_SECOND,
      seconds,
    };
    // Its own process: encrypting and sending the flood must not slow the payment stream in this one.
    const child = fork(join(PROJECT_ROOT, "bench", "chaos", "control-flooder.ts"), [JSON.stringify(args)], { execArgv: ["--import", "tsx"], stdio: ["ignore", "inherit", "inherit", "ipc"] });
    const reports: FlooderReport[] = [];
    child.on("message", (m) => reports.push(m as FlooderReport));
    const exited = once(child, "exit").catch(() => undefined);
    try {
      await ctx.waitFor("the flooder to reach its victims", async () => reports.some((r) => r.kind === "ready"), 90_000);
      const window = async (length: number, flood: boolean) => {
        const from = Date.now();
        const cpu = await cpuPerSecond(ctx, victims, async () => {
          if (!flood) return ctx.sleep(length);
          child.send("flood");
          await ctx.waitFor("the flood to end", async () => reports.some((r) => r.kind === "done"), (length + 60) * 1000);
        });
        return { from, to: Date.now(), cpu };
      };
      const quiet = await window(quietSeconds, false);
      const during = await window(seconds, true);
      await exited;
      // Latency of the payments started in each window, once they had time to be held.
      const inWindow = (w: { from: number; to: number }) => ctx.stream.attempts.filter((a) => a.startedAt >= w.from && a.startedAt < w.to);
      await ctx
        .waitFor("the flood window's payments to be held", async () => inWindow(during).every((a) => a.ackedAt === undefined || ctx.holds.has(a.paymentId ?? "")), 60_000)
        .catch(() => undefined);
      const describe = (label: string, w: { from: number; to: number; cpu: Awaited<ReturnType<typeof cpuPerSecond>> }) => {
        const attempts = inWindow(w);
        const acked = attempts.filter((a) => a.ackedAt !== undefined);
        const ack = acked.map((a) => (a.ackedAt ?? 0) - a.startedAt);
        const held = acked.map((a) => (ctx.holds.get(a.paymentId ?? "") ?? Infinity) - a.startedAt);
        const pct = (x: number | undefined) => `${((x ?? NaN) * 100).toFixed(0)}%`;
        const cpu = victims.map((v) => `${v} ${pct(w.cpu.mean.get(v))} (busiest second ${pct(w.cpu.peak.get(v))})`).join(", ");
        const rate = (acked.length / ((w.to - w.from) / 1000)).toFixed(1);
        return `${label} (${((w.to - w.from) / 1000).toFixed(0)} s): CPU per second ${cpu}; ${acked.length} of ${attempts.length} payments acknowledged (${rate}/s), acknowledged ${percentiles(ack)}, held on-chain ${percentiles(held)}`;
      };
      ctx.note(describe("quiet, flooder connected", quiet));
      ctx.note(describe("flood", during));
      const done = reports.find((r) => r.kind === "done");
      if (done?.kind === "done") {
        ctx.note(
          `the flooder queued ${done.sent} IHAVE/IWANT RPCs in ${done.seconds.toFixed(0)} s (${done.refused} more not queued: its outbound buffer to that node full); ` +
            (done.droppedAfterSeconds === undefined
              ? `${done.connected} nodes still connected to it at the end of the flood`
              : `every node had hung up on it ${done.droppedAfterSeconds.toFixed(1)} s into the flood`),
        );
      }
    } finally {
      if (child.exitCode === null) child.kill("SIGKILL");
    }
    await ctx.net.restart(FLOOD_NODE);
    ctx.healed("flooder gone, node back");
  },
};

export const SCENARIOS: Scenario[] = [originCrash, chainDown, gatewayCrash, partitionNodes, partitionChain, bankCallbacks, clockSkew, diskFull, flood, controlFlood];
