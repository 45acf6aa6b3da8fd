/**
 * The demo scenario (issue 6): merchants, payers, the arbiter and the regulator using the running
 * network the way each of them really does. Merchants and their checkouts speak only to the gateway's
 * HTTP API (signed requests; payers sign the EIP-712 payloads the gateway hands out); the arbiter and
 * the regulator sign their operations (resolve, freeze) and submit them to a node's POST
 * /v1/operations; the regulator reads alerts, cycles and proofs from its own node and checks a proof
 * with @openzeppelin/merkle-tree and on-chain with SettlementLedger.verifyRecord.
 *
 * Each step is one function that records checks; a step that throws records a failed check and the
 * next step still runs. `runScenario` returns the summary; `npm run demo` (scripts/demo.ts) and the
 * launcher test (test/e2e/start.test.ts) print and assert it.
 */
import { randomBytes } from "node:crypto";
import { readFile } from "node:fs/promises";
import { join } from "node:path";

import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { Contract, JsonRpcProvider, Wallet, ZeroAddress, hexlify, keccak256, toUtf8Bytes, type HDNodeWallet } from "ethers";

import { NodeApiClient } from "../../core/api/client.js";
import { NODE_CLIENT_CREDENTIALS_FILE, type NodeClientCredentials } from "./launch/nodes.js";
import type { RecordProof } from "../../core/api/settlement.js";
import { SettlenetError } from "../../core/errors.js";
import { GatewayClient } from "../../gateway/client/client.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import { readDeployment, type Deployment } from "../../core/protocol/deployment.js";
import { signEscrowOperation, signTokenOperation } from "../../core/operations/index.js";
import { bankClientOf, keystorePasswordOf, type NetworkEndpoints, type NetworkState } from "./network.js";
import { bankRequestHeaders } from "../../core/bank/wire.js";
import { keyHolding } from "./separation.js";

// ------------------------------------------------------------------ sizes and plans

export interface ScenarioSize {
  payments: number;
  payers: number;
}

/** `full`: what `npm run demo` runs; `test`: the launcher test's. */
export const SCENARIO_SIZES = {
  full: { payments: 200, payers: 20 },
  test: { payments: 10, payers: 4 },
} as const satisfies Record<string, ScenarioSize>;

/** What happens to a payment after it is held. */
export type Plan = "confirm" | "autoRelease" | "refundHeld" | "refundFulfilled" | "direct" | "dispute" | "reclaim" | "largeValue";

/** Payment #1 is disputed and resolved by the arbiter; payment #3 is never fulfilled and reclaimed by its payer. */
export const DISPUTED_INDEX = 1;
export const RECLAIMED_INDEX = 3;

/**
 * Most payments are fulfilled and confirmed; one in ten each: auto-release, refund while held, refund
 * after fulfilment, direct; #1 is disputed, #3 reclaimed. (The large-value payment comes on top.)
 */
export function planOf(index: number): Plan {
  if (index === DISPUTED_INDEX) return "dispute";
  if (index === RECLAIMED_INDEX) return "reclaim";
  const slot = index % 10;
  if (slot <= 5) return "confirm";
  return (["autoRelease", "refundHeld", "refundFulfilled", "direct"] as const)[slot - 6] ?? "confirm";
}

/** The amount of scenario payment `index`: ¥10.00 .. ¥2,009.99, varied but reproducible. */
export function amountOf(index: number): bigint {
  return 1_000n + BigInt((index * 7_919) % 200_000);
}

/** The large-value payment: ¥58,000.00, above the local nodes' AML threshold (¥50,000.00). */
export const LARGE_VALUE_AMOUNT = 5_800_000n;
/** Escrow periods of the demo's short-lived payments (the gateway's minimum, 60 s). */
const SHORT_PERIOD_SECONDS = 60;
/** Longest settlement cycle the demo waits for (a network provisioned with daily cycles cannot show one). */
const MAX_DEMO_CYCLE_SECONDS = 600;
/** The furthest a scenario that advances chain time moves it at once (its short periods, a demo cycle). */
const MAX_ADVANCE_SECONDS = Math.max(SHORT_PERIOD_SECONDS, MAX_DEMO_CYCLE_SECONDS) + 1;
/** What the merchant pays out to its bank account: ¥100.00. */
export const PAYOUT_AMOUNT = 10_000n;
/** A merchant's top-up in the payout step: ¥100.00, minted by the custodian institution once the bank confirms. */
const TOPUP_AMOUNT = 10_000n;

// ------------------------------------------------------------------ wire views (the subset the demo reads)

interface TypedData {
  domain: Record<string, unknown>;
  types: Record<string, { name: string; type: string }[]>;
  message: Record<string, unknown>;
}

export interface PaymentView {
  id: string;
  paymentId: string;
  status: string;
  amount: string;
  mode: "escrow" | "direct";
  feeBps: number;
  refundedAmount: string;
  merchantOrderId: string;
  typedData: TypedData | null;
  fulfilment: { status: string } | null;
  refunds: { id: string; status: string; amount: string }[];
  onChain: { status: string; amount: string; refunded: string; deadline: string } | null;
}

interface Problem {
  code?: string;
}

// ------------------------------------------------------------------ context, checks and progress

export interface Check {
  step: string;
  name: string;
  ok: boolean;
  detail: string;
}

export interface DemoPayment {
  index: number;
  plan: Plan;
  merchant: string;
  payer: Wallet;
  amount: bigint;
  id?: string;
  view?: PaymentView;
}

export interface Progress {
  start(label: string, total: number): void;
  tick(done: number): void;
  end(): void;
}

/** A progress bar on a TTY; one line per finished phase otherwise. */
export function consoleProgress(out: NodeJS.WriteStream = process.stdout): Progress {
  let label = "";
  let total = 0;
  let last = -1;
  const draw = (done: number) => {
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    out.write(`\r  ${label.padEnd(40)} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`);
  };
  return {
    start(l, t) {
      label = l;
      total = t;
      last = -1;
      if (out.isTTY) draw(0);
    },
    tick(done) {
      if (out.isTTY && done !== last) draw(done);
      last = done;
    },
    end() {
      if (out.isTTY) {
        draw(last < 0 ? total : last);
        out.write("\n");
      } else {
        out.write(`  ${label}: ${Math.max(last, 0)}/${total}\n`);
      }
    },
  };
}

export const silentProgress: Progress = { start() {}, tick() {}, end() {} };

/** What the scenario found besides its checks (for the summary). */
export interface ScenarioFindings {
  cycle?: { cycleId: string; root: string; attestations: number; proofRecord: string; proofVerified: boolean; verifiedOnChain: boolean };
  payout?: { id: string; amount: string; stage: string; bankRef: string; bankStatus: string };
  amlAlerts?: { ours: number; total: number; rule: string; alertId: string };
  freeze?: { account: string; refusedWith: string; lifted: boolean };
  dispute?: { payerAmount: string; merchantAmount: string };
  reconciliation?: { compared: number; breaks: number; source: string };
  keys?: { gateway: string; attestor: string; attestedBy: string; statement: string };
}

export interface ScenarioContext {
  state: NetworkState;
  endpoints: NetworkEndpoints;
  deployment: Deployment;
  /** The regulator's signing key (its node's operator keystore). */
  regulator: Wallet | HDNodeWallet;
  arbiter: Wallet;
  provider: JsonRpcProvider;
  clients: Map<string, GatewayClient>;
  payments: DemoPayment[];
  progress: Progress;
  checks: Check[];
  findings: ScenarioFindings;
  /** Per-wait timeout (ms). */
  timeoutMs: number;
  /** Scenario run id: makes merchant order ids unique across runs on one network. */
  run: string;
  /** Move a local chain's time on to the deadlines the scenario waits for (see withBlockProducer). */
  advanceChainTime: boolean;
  /** The demo's node API tokens by API URL: the gateway role (submit, read) and the regulator role (alerts, audit), nothing more. */
  nodeCredentials: Map<string, Partial<NodeClientCredentials>>;
  /** The network's folder (each part's files under it). */
  root: string;
}

function check(ctx: ScenarioContext, step: string, name: string, ok: boolean, detail = ""): void {
  ctx.checks.push({ step, name, ok, detail });
}

function client(ctx: ScenarioContext, merchant: string): GatewayClient {
  const c = ctx.clients.get(merchant);
  if (!c) throw new Error(`no client for merchant ${merchant}`);
  return c;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** GET the bank simulator's API as JSON. */
async function getJson<T>(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: T }> {
  const response = await fetch(url, { headers, signal: AbortSignal.timeout(15_000) });
  const text = await response.text();
  return { status: response.status, body: (text ? JSON.parse(text) : undefined) as T };
}

/** What a refused node submission says, for a check's detail. */
function refusalDetail(result: { accepted: false; problem: { status: number; code: string } }): string {
  return `${result.problem.status} ${result.problem.code}`;
}

/**
 * Pauses between the checks of a wait: short at first and doubling up to `intervalMs`, so what happens
 * within a moment is seen within a moment, and a long wait checks no more often than every `intervalMs`.
 */
function pauses(intervalMs: number): () => Promise<void> {
  let pauseMs = Math.min(50, intervalMs);
  return async () => {
    await sleep(pauseMs);
    pauseMs = Math.min(pauseMs * 2, intervalMs);
  };
}

/** Polls `probe` until it returns a value (not undefined) or the context's timeout passes. */
async function poll<T>(ctx: ScenarioContext, probe: () => Promise<T | undefined>, intervalMs = 1_000, timeoutMs = ctx.timeoutMs): Promise<T | undefined> {
  const deadline = Date.now() + timeoutMs;
  const pause = pauses(intervalMs);
  for (;;) {
    try {
      const value = await probe();
      if (value !== undefined) return value;
    } catch {
      // not there yet (or a transient connection error): try again
    }
    if (Date.now() > deadline) return undefined;
    await pause();
  }
}

/** A one-item progress bar around a wait. */
async function waitStep<T>(ctx: ScenarioContext, label: string, work: () => Promise<T>): Promise<T> {
  ctx.progress.start(label, 1);
  try {
    const result = await work();
    ctx.progress.tick(result === undefined ? 0 : 1);
    return result;
  } finally {
    ctx.progress.end();
  }
}

/** Runs `work` over `items` with at most `limit` in flight, ticking the progress bar. */
async function pool<T>(ctx: ScenarioContext, label: string, items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  ctx.progress.start(label, items.length);
  let next = 0;
  let done = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await work(item);
      ctx.progress.tick(++done);
    }
  };
  try {
    await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  } finally {
    ctx.progress.end();
  }
}

/** Runs `work` over `items` with at most `limit` in flight (no progress bar). */
async function each<T>(items: T[], limit: number, work: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) await work(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/**
 * Refreshes the payments' views with GET /v1/payments/{id}: that read merges the node's view (the
 * list endpoint answers from the gateway's stored orders, which a read of the payment updates).
 */
async function refresh(ctx: ScenarioContext, payments: DemoPayment[]): Promise<void> {
  await each(
    payments.filter((p) => p.id),
    8,
    async (p) => {
      const res = await client(ctx, p.merchant).get<PaymentView>(`/v1/payments/${p.id}`);
      if (res.status === 200) p.view = res.body;
    },
  );
}

/** Polls until `done(view)` holds for every payment in `targets`; returns those that never got there. */
async function waitAll(ctx: ScenarioContext, label: string, targets: DemoPayment[], done: (view: PaymentView) => boolean, timeoutMs = ctx.timeoutMs): Promise<DemoPayment[]> {
  ctx.progress.start(label, targets.length);
  const deadline = Date.now() + timeoutMs;
  let pending = targets;
  const pause = pauses(1_000);
  try {
    for (;;) {
      await refresh(ctx, pending);
      pending = pending.filter((p) => !(p.view && done(p.view)));
      ctx.progress.tick(targets.length - pending.length);
      if (pending.length === 0 || Date.now() > deadline) return pending;
      await pause();
    }
  } finally {
    ctx.progress.end();
  }
}

/** The latest block's timestamp: escrow deadlines and cycles run on chain time. */
async function chainNow(ctx: ScenarioContext): Promise<number> {
  return (await ctx.provider.getBlock("latest"))?.timestamp ?? Math.floor(Date.now() / 1000);
}

/**
 * Runs `work` while keeping the local chain's clock moving. The launcher's EDR chain mines a block only
 * for a transaction, and chain time (the latest block's timestamp) is what escrow deadlines and
 * settlement cycles go by; a production chain (e.g. Besu with QBFT) seals a block every few seconds
 * whether or not anything happens. While the demo waits on chain time (auto-release, reclaim, the end
 * of a cycle) it stands in for that block producer: `evm_mine` when the latest block is more than
 * 3 s old (journaled like any block, so a resumed chain replays them). It changes no state.
 *
 * With `advanceChainTime` it mines the next block at `due()` (the chain time the step waits for) as
 * soon as the chain is behind it, instead of letting the wall clock get there: what follows the
 * deadline still happens only once a block is past it, without the minute of waiting.
 */
async function withBlockProducer<T>(ctx: ScenarioContext, work: () => Promise<T>, due: () => Promise<number | undefined> | number | undefined = () => undefined): Promise<T> {
  let busy = false;
  const beat = async () => {
    const now = await chainNow(ctx);
    const target = ctx.advanceChainTime ? await due() : undefined;
    // The scenario's own periods and cycles are short: a target further off is not one of them, and waited for.
    if (target !== undefined && now < target && target - now <= MAX_ADVANCE_SECONDS) await ctx.provider.send("evm_mine", [target]);
    else if (Date.now() / 1000 - now > 3) await ctx.provider.send("evm_mine", []);
  };
  const timer = setInterval(() => {
    if (busy) return;
    busy = true;
    void (async () => {
      try {
        await beat();
      } catch {
        // the next beat tries again
      } finally {
        busy = false;
      }
    })();
  }, ctx.advanceChainTime ? 250 : 2_000);
  try {
    return await work();
  } finally {
    clearInterval(timer);
  }
}

const nodeApi = (ctx: ScenarioContext, url: string) => new NodeApiClient({ baseUrl: url, timeoutMs: 15_000, credentials: ctx.nodeCredentials.get(url) ?? {} });
const institutionNode = (ctx: ScenarioContext, i: number) => {
  const node = ctx.endpoints.nodes.filter((n) => n.role === "institution")[i];
  if (!node) throw new Error(`no institution node ${i}`);
  return nodeApi(ctx, node.api);
};
const regulatorNode = (ctx: ScenarioContext) => {
  const node = ctx.endpoints.nodes.find((n) => n.role === "regulator");
  if (!node) throw new Error("no regulator node");
  return nodeApi(ctx, node.api);
};
const cnyOf = (ctx: ScenarioContext) => {
  const token = ctx.deployment.tokens["CNY"];
  if (!token) throw new Error("the deployment has no CNY token");
  return token;
};

/** Creates a payment at the gateway and has the payer sign and authorize it; returns the refusal code, if any. */
async function createAndAuthorize(ctx: ScenarioContext, p: DemoPayment, extra: Record<string, unknown> = {}): Promise<{ ok: boolean; detail: string; code?: string }> {
  const c = client(ctx, p.merchant);
  const created = await c.post<PaymentView & Problem>("/v1/payments", {
    amount: p.amount.toString(),
    currency: "CNY",
    merchantOrderId: `demo-${ctx.run}-${p.index}`,
    description: `demo order ${p.index} (${p.plan})`,
    mode: p.plan === "direct" ? "direct" : "escrow",
    payer: p.payer.address,
    ...extra,
  });
  if (created.status !== 201 || !created.body.typedData) return { ok: false, detail: `create #${p.index}: ${created.status} ${created.body.code ?? ""}` };
  p.id = created.body.id;
  p.view = created.body;
  const { domain, types, message } = created.body.typedData;
  const signature = await p.payer.signTypedData(domain, types, message);
  const authorized = await c.post<PaymentView & Problem>(`/v1/payments/${p.id}/authorization`, { signature });
  if (authorized.status !== 202) return { ok: false, detail: `authorize #${p.index}: ${authorized.status} ${authorized.body.code ?? ""}`, ...(authorized.body.code ? { code: authorized.body.code } : {}) };
  return { ok: true, detail: "" };
}

/** The payer signs the payload of `action` the gateway hands out and the checkout posts it back. */
async function payerAction(ctx: ScenarioContext, p: DemoPayment, action: string, reason?: string): Promise<{ status: number; code: string }> {
  const c = client(ctx, p.merchant);
  const query = reason === undefined ? "" : `?reason=${encodeURIComponent(reason)}`;
  const payload = await c.get<{ typedData: TypedData; nonce: string; deadline: string; reason: string | null } & Problem>(`/v1/payments/${p.id}/${action}${query}`);
  if (payload.status !== 200) return { status: payload.status, code: `payload: ${payload.body.code ?? ""}` };
  const { typedData } = payload.body;
  const signature = await p.payer.signTypedData(typedData.domain, typedData.types, typedData.message);
  const res = await c.post<Problem>(`/v1/payments/${p.id}/${action}`, {
    ...(reason !== undefined ? { reason } : {}),
    nonce: payload.body.nonce,
    deadline: payload.body.deadline,
    signature,
  });
  return { status: res.status, code: res.body.code ?? "" };
}

// ------------------------------------------------------------------ steps

/** One scenario step. */
export interface Step {
  name: string;
  run: (ctx: ScenarioContext) => Promise<void>;
}

const payStep: Step = {
  name: "payments held",
  async run(ctx) {
    const step = this.name;
    const refused: string[] = [];
    const targets = ctx.payments.filter((p) => p.plan !== "largeValue");
    await pool(ctx, "create + payer signs + authorize", targets, 8, async (p) => {
      const result = await createAndAuthorize(ctx, p, {
        ...(p.plan === "autoRelease" ? { autoReleasePeriod: SHORT_PERIOD_SECONDS } : {}),
        ...(p.plan === "reclaim" ? { fulfilmentPeriod: SHORT_PERIOD_SECONDS } : {}),
      });
      if (!result.ok) refused.push(result.detail);
    });
    check(ctx, step, `${targets.length} payments created and authorised`, refused.length === 0, refused.slice(0, 3).join("; "));
    const stuck = await waitAll(ctx, "held on-chain (direct: released)", targets, (v) => v.status === (v.mode === "direct" ? "released" : "held"));
    check(ctx, step, "every payment held on-chain (direct ones released)", stuck.length === 0, stuck.length ? `${stuck.length} not there, e.g. #${stuck[0]?.index} ${stuck[0]?.view?.status}` : "");
    const wrong = targets.filter((p) => p.view?.onChain?.amount !== p.amount.toString());
    check(ctx, step, "on-chain amounts equal the ordered amounts", wrong.length === 0, wrong.length ? `${wrong.length} differ` : "");
  },
};

const FULFILLED_PLANS: Plan[] = ["confirm", "autoRelease", "refundFulfilled", "dispute"];

const fulfilStep: Step = {
  name: "fulfilment",
  async run(ctx) {
    const targets = ctx.payments.filter((p) => p.id && FULFILLED_PLANS.includes(p.plan));
    const refused: string[] = [];
    await pool(ctx, "merchants mark fulfilled", targets, 8, async (p) => {
      const res = await client(ctx, p.merchant).post<Problem>(`/v1/payments/${p.id}/fulfilment`);
      if (res.status !== 202) refused.push(`#${p.index}: ${res.status} ${res.body.code ?? ""}`);
    });
    check(ctx, this.name, `${targets.length} fulfilments accepted`, refused.length === 0, refused.slice(0, 3).join("; "));
    const stuck = await waitAll(ctx, "fulfilled on-chain", targets, (v) => v.status === "fulfilled" && v.fulfilment?.status === "executed");
    check(ctx, this.name, "every fulfilment executed on-chain", stuck.length === 0, stuck.length ? `${stuck.length} not fulfilled` : "");
  },
};

const refundStep: Step = {
  name: "partial refunds",
  async run(ctx) {
    const targets = ctx.payments.filter((p) => p.id && (p.plan === "refundHeld" || p.plan === "refundFulfilled"));
    const refused: string[] = [];
    await pool(ctx, "merchants refund a quarter", targets, 8, async (p) => {
      const res = await client(ctx, p.merchant).post<Problem>(`/v1/payments/${p.id}/refunds`, { amount: (p.amount / 4n).toString(), reason: "one item out of stock" });
      if (res.status !== 202) refused.push(`#${p.index}: ${res.status} ${res.body.code ?? ""}`);
    });
    check(ctx, this.name, `${targets.length} partial refunds accepted`, refused.length === 0, refused.slice(0, 3).join("; "));
    const stuck = await waitAll(ctx, "refunds executed", targets, (v) => v.refundedAmount === (BigInt(v.amount) / 4n).toString() && v.refunds.every((r) => r.status === "executed"));
    check(ctx, this.name, "every refund executed for exactly the refunded amount", stuck.length === 0, stuck.length ? `${stuck.length} not refunded` : "");
    const kept = targets.filter((p) => p.view?.status !== (p.plan === "refundHeld" ? "held" : "fulfilled"));
    check(ctx, this.name, "partly refunded payments stay held / fulfilled", kept.length === 0, kept.length ? `${kept.length} moved` : "");
    const first = targets[0];
    if (first?.view) {
      const left = BigInt(first.view.amount) - BigInt(first.view.refundedAmount);
      const tooMuch = await client(ctx, first.merchant).post<Problem>(`/v1/payments/${first.id}/refunds`, { amount: (left + 1n).toString(), reason: "more than is left" });
      check(ctx, this.name, "a refund above what is left is refused (REFUND_EXCEEDS_AVAILABLE)", tooMuch.status === 422 && tooMuch.body.code === "REFUND_EXCEEDS_AVAILABLE", `${tooMuch.status} ${tooMuch.body.code ?? ""}`);
    }
  },
};

const confirmStep: Step = {
  name: "payer confirmation",
  async run(ctx) {
    const targets = ctx.payments.filter((p) => p.id && p.plan === "confirm");
    const refused: string[] = [];
    await pool(ctx, "payers confirm receipt", targets, 8, async (p) => {
      const res = await payerAction(ctx, p, "confirm");
      if (res.status !== 202) refused.push(`#${p.index}: ${res.status} ${res.code}`);
    });
    check(ctx, this.name, `${targets.length} confirmations signed by the payers and accepted`, refused.length === 0, refused.slice(0, 3).join("; "));
    const stuck = await waitAll(ctx, "released to merchants", targets, (v) => v.status === "released");
    check(ctx, this.name, "every confirmed payment released", stuck.length === 0, stuck.length ? `${stuck.length} not released` : "");
    // A confirmation signed by someone else is refused before anything is sent.
    const other = ctx.payments.find((p) => p.id && p.plan === "refundFulfilled");
    const stranger = ctx.payments.find((p) => other && p.payer.address !== other.payer.address)?.payer;
    if (other && stranger) {
      const forged = await payerAction(ctx, { ...other, payer: stranger }, "confirm");
      check(ctx, this.name, "a confirmation signed by another payer is refused (BAD_SIGNATURE)", forged.status === 422 && forged.code === "BAD_SIGNATURE", `${forged.status} ${forged.code}`);
    }
  },
};

const disputeStep: Step = {
  name: "dispute resolved by the arbiter",
  async run(ctx) {
    const p = ctx.payments.find((x) => x.id && x.plan === "dispute");
    if (!p?.view) throw new Error("no disputed payment in the scenario");
    const reason = "parcel arrived damaged";
    const opened = await payerAction(ctx, p, "dispute", reason);
    check(ctx, this.name, "the payer's signed dispute is accepted by the gateway", opened.status === 202, `${opened.status} ${opened.code}`);
    const [notDisputed] = await waitAll(ctx, "dispute opened on-chain", [p], (v) => v.status === "disputed");
    check(ctx, this.name, "the payment is disputed on-chain (auto-release frozen)", !notDisputed, notDisputed ? `status ${p.view.status}` : "");
    const listed = await client(ctx, p.merchant).get<{ items: { payment: { id: string }; reason: string | null }[] }>("/v1/disputes?status=disputed&limit=100");
    const seen = listed.body.items?.find((d) => d.payment.id === p.id);
    check(ctx, this.name, "the merchant sees the dispute and the payer's reason in GET /v1/disputes", listed.status === 200 && seen?.reason === reason, `${listed.status} ${seen ? `reason ${seen.reason}` : "not listed"}`);

    // The merchant answers for the arbiter: its gateway signs the note with the merchant's key and
    // hands it to institution 1's node, which gossips it; the arbiter works at institution 2's.
    const arbiterNode = institutionNode(ctx, 1);
    const noted = await client(ctx, p.merchant).post<{ id: string } & Problem>(`/v1/disputes/${p.id}/notes`, { text: "Packed in a padded box; the courier's damage report is filed.", evidence: ["SF1234567890"] });
    check(ctx, this.name, "the merchant adds a note for the arbiter (POST /v1/disputes/{id}/notes)", noted.status === 201, `${noted.status} ${noted.body.code ?? ""}`);
    const disputedPayment = p.view.paymentId;
    const heard = noted.status === 201 ? await poll(ctx, async () => (await arbiterNode.disputeNotes(disputedPayment)).find((n) => n.id === noted.body.id), 500, 30_000) : undefined;
    check(ctx, this.name, "the merchant's note reaches the arbiter's node by gossip, signed by the merchant", heard !== undefined && heard.merchant === ctx.state.merchants.find((m) => m.id === p.merchant)?.address.toLowerCase(), heard ? `signed by ${heard.merchant}` : "not there");

    // The arbiter's side: it reads the payment terms from its node, signs `resolve` and submits it there.
    const record = await arbiterNode.payment(p.view.paymentId);
    const pay = record?.operations.find((o) => o.kind === "pay");
    if (!pay || !("terms" in pay.op)) throw new Error(`the arbiter's node has no pay operation for ${p.view.paymentId}`);
    const terms = pay.op.terms;
    const payerAmount = p.amount / 2n;
    const nonce = BigInt(hexlify(randomBytes(16)));
    const deadline = BigInt(await chainNow(ctx)) + 3_600n;
    const decision = keccak256(toUtf8Bytes(`arbitration ${p.view.paymentId}: half refunded, goods kept`));
    const op = await signEscrowOperation(
      ctx.arbiter,
      { kind: "resolve", terms, payerAmount: payerAmount.toString(), reason: decision, nonce: nonce.toString(), deadline: deadline.toString() },
      { chainId: BigInt(ctx.deployment.chainId), escrow: ctx.deployment.contracts.escrow },
    );
    const submitted = await arbiterNode.submit(op);
    check(ctx, this.name, "the arbiter's signed resolve is accepted by its node (POST /v1/operations)", submitted.accepted, submitted.accepted ? "" : refusalDetail(submitted));
    const [unresolved] = await waitAll(ctx, "dispute resolved on-chain", [p], (v) => v.status === "resolved");
    check(ctx, this.name, "the gateway shows the payment resolved", !unresolved, unresolved ? `status ${p.view.status}` : "");
    // The regulator node indexes the chain on its own: it may see the resolution a moment after the gateway's node.
    const disputedId = p.view.paymentId;
    const resolved = await poll(ctx, async () => (await regulatorNode(ctx).payment(disputedId))?.payment?.events.find((e) => e.event === "PaymentResolved"), 500, 30_000);
    const paidBack = resolved ? String(resolved.args["payerAmount"] ?? "") : "";
    const toMerchant = resolved ? String(resolved.args["merchantAmount"] ?? "") : "";
    check(ctx, this.name, `the split is on-chain: ${yuan(payerAmount)} back to the payer`, paidBack === payerAmount.toString(), `payerAmount ${paidBack || "none"}`);
    ctx.findings.dispute = { payerAmount: paidBack, merchantAmount: toMerchant };
  },
};

const payoutStep: Step = {
  name: "payout through the bank simulator",
  async run(ctx) {
    const merchant = ctx.state.merchants[0];
    if (!merchant) throw new Error("no merchant");
    const c = client(ctx, merchant.id);
    const account = merchant.payoutAccount ?? merchant.name;
    const wrong = await c.post<Problem>("/v1/payouts", { amount: PAYOUT_AMOUNT.toString(), currency: "CNY", account: "SOMEONE ELSE 0000" });
    check(ctx, this.name, "a payout to an unregistered account is refused (PAYOUT_ACCOUNT_MISMATCH)", wrong.status === 422 && wrong.body.code === "PAYOUT_ACCOUNT_MISMATCH", `${wrong.status} ${wrong.body.code ?? ""}`);
    // A top-up first: the bank collects it from the registered account, and the custodian service beside
    // institution 1's node (not the gateway, which holds no custodian key) mints it once the bank confirms.
    const topup = await c.post<{ id: string } & Problem>("/v1/topups", { amount: TOPUP_AMOUNT.toString(), currency: "CNY", account });
    check(ctx, this.name, `${merchant.id} tops up ${yuan(TOPUP_AMOUNT)} from its registered account (POST /v1/topups)`, topup.status === 202, `${topup.status} ${topup.body.code ?? ""}`);
    if (topup.status === 202) {
      const done = await waitStep(ctx, "the bank's confirmation and the custodian's mint", () =>
        poll(ctx, async () => {
          const res = await c.get<{ stage: string; bank: { bankRef: string } | null }>(`/v1/topups/${topup.body.id}`);
          return res.status === 200 && (res.body.stage === "completed" || res.body.stage === "failed") ? res.body : undefined;
        }),
      );
      const custody = done?.bank ? await institutionNode(ctx, 0).custodyTransfer(done.bank.bankRef) : undefined;
      check(
        ctx,
        this.name,
        "the top-up is completed: the custodian institution minted it once, after the bank confirmed (GET /v1/custody/transfers on institution 1)",
        done?.stage === "completed" && custody?.status === "minted" && custody.attempts === 1,
        done ? `stage ${done.stage}, custodian ${custody?.status ?? "nothing"}` : "timed out",
      );
    }
    const created = await c.post<{ id: string; stage: string } & Problem>("/v1/payouts", { amount: PAYOUT_AMOUNT.toString(), currency: "CNY", account });
    check(ctx, this.name, `${merchant.id} asks for a payout of ${yuan(PAYOUT_AMOUNT)} (POST /v1/payouts)`, created.status === 202, `${created.status} ${created.body.code ?? ""}`);
    if (created.status !== 202) return;
    const paid = await waitStep(ctx, "the merchant's redemption, bank transfer, paid", () =>
      poll(ctx, async () => {
        const res = await c.get<{ id: string; stage: string; reversed: boolean; amount: string; bank: { bankRef: string; status: string } | null }>(`/v1/payouts/${created.body.id}`);
        return res.status === 200 && (res.body.stage === "paid" || res.body.stage === "failed") ? res.body : undefined;
      }),
    );
    check(ctx, this.name, "the payout is paid (redeemed on-chain, confirmed by the bank)", paid?.stage === "paid" && !paid.reversed, paid ? `stage ${paid.stage}` : "timed out");
    if (!paid?.bank) return;
    // Separation of powers: the merchant's own signature burned its balance; nobody holds an allowance from it.
    const cny = ctx.deployment.tokens["CNY"];
    const custodian = ctx.state.nodes.find((n) => n.role === "institution")?.address;
    if (cny && custodian) {
      const token = new Contract(cny.address, loadArtifact("SettlementToken").abi, ctx.provider);
      const redeemed = await token.queryFilter(token.getEvent("Redeemed")(merchant.address, undefined, undefined, keccak256(toUtf8Bytes(created.body.id))));
      const allowance = (await token.getFunction("allowance")(merchant.address, custodian)) as bigint;
      check(
        ctx,
        this.name,
        "the merchant redeemed with its own signature (one Redeemed event for the payout) and allows the custodian nothing",
        redeemed.length === 1 && allowance === 0n,
        `${redeemed.length} redemptions, allowance ${allowance}`,
      );
    }
    // The bank answers signed requests only: the launcher's own client.
    const bankPath = `/v1/transfers/${paid.bank.bankRef}`;
    const atBank = await getJson<{ status: string; amount: string; account: string }>(`${ctx.endpoints.bank}${bankPath}`, bankRequestHeaders(bankClientOf(ctx.state, "operator"), "GET", bankPath, ""));
    check(
      ctx,
      this.name,
      "the bank simulator holds the confirmed transfer to the registered account",
      atBank.status === 200 && atBank.body.status === "confirmed" && atBank.body.amount === PAYOUT_AMOUNT.toString() && atBank.body.account === account,
      `${atBank.status} ${atBank.body?.status ?? ""}`,
    );
    ctx.findings.payout = { id: created.body.id, amount: PAYOUT_AMOUNT.toString(), stage: paid.stage, bankRef: paid.bank.bankRef, bankStatus: atBank.body?.status ?? "" };
  },
};

/** The gateway (internet-facing) holds no institution or custodian key, and the custodian's reserves are stated by the bank, not the custodian. */
const separationStep: Step = {
  name: "separation of powers",
  async run(ctx) {
    const custodian = ctx.state.nodes.find((n) => n.role === "institution")?.address ?? "";
    const held = await keyHolding(join(ctx.root, "gateway"), ctx.provider, ctx.deployment, custodian);
    const keys = held.gatewayKeys.map((k) => `${k.file}: ${k.role}`).join("; ");
    check(ctx, this.name, "the gateway's folder holds no institution operator key, no custodian key and no reserve attestor key", held.forbidden.length === 0, held.forbidden.map((k) => `${k.file} is the ${k.role} ${k.address}`).join("; "));
    check(ctx, this.name, "the gateway's config names no key but its permit relayer's (no custodian key)", held.configuredKeys.length === 0, held.configuredKeys.join(", "));
    const { reserves } = held;
    check(
      ctx,
      this.name,
      "the custodian's reserves are stated by its independent attestor (the bank), not by an institution",
      reserves.attestor !== ZeroAddress && !reserves.attestorIsInstitution && reserves.attestedBy?.toLowerCase() === reserves.attestor.toLowerCase(),
      `attestor ${reserves.attestor}, latest statement by ${reserves.attestedBy ?? "nobody"}`,
    );
    // The statements follow the bank's own books: the latest one equals the reserve account's balance there.
    const token = new Contract(ctx.deployment.tokens["CNY"]?.address ?? ZeroAddress, loadArtifact("SettlementToken").abi, ctx.provider);
    const reservePath = "/v1/reserves/CNY";
    const matched = await poll(ctx, async () => {
      const books = await getJson<{ balance: string }>(`${ctx.endpoints.bank}${reservePath}`, bankRequestHeaders(bankClientOf(ctx.state, "operator"), "GET", reservePath, ""));
      const latest = (await token.getFunction("reservesOf")(custodian)) as { amount: bigint; sequence: bigint };
      return books.status === 200 && BigInt(books.body.balance) === latest.amount ? { balance: books.body.balance, sequence: latest.sequence } : undefined;
    });
    check(ctx, this.name, "the latest reserve statement is the balance of the reserve account in the bank's books", matched !== undefined, matched ? "" : "the statement never caught up with the bank's balance");
    ctx.findings.keys = { gateway: keys, attestor: reserves.attestor, attestedBy: reserves.attestedBy ?? "nobody", statement: matched ? `statement ${matched.sequence}: ${yuan(matched.balance)}` : "behind the books" };
  },
};

const autoReleaseStep: Step = {
  name: "auto-release",
  // Once fulfilled on-chain, a payment's deadline is the end of its auto-release period.
  run: (ctx) => withBlockProducer(ctx, () => autoRelease(ctx), () => latestDeadline(ctx.payments.filter((p) => p.id && p.plan === "autoRelease"), "fulfilled")),
};

/**
 * One second past the latest on-chain deadline of `payments`, each in on-chain status `status` (undefined
 * while one is not, or has none): the chain time a step waits for.
 */
function latestDeadline(payments: DemoPayment[], status: string): number | undefined {
  let latest = 0;
  for (const p of payments) {
    const onChain = p.view?.onChain;
    if (!onChain || onChain.status !== status) return undefined;
    latest = Math.max(latest, Math.floor(Date.parse(onChain.deadline) / 1000) + 1);
  }
  return latest;
}

async function autoRelease(ctx: ScenarioContext): Promise<void> {
  const targets = ctx.payments.filter((p) => p.id && p.plan === "autoRelease");
  // Nobody signs: once the auto-release time (fulfilment + 60 s of chain time) has passed, the
  // gateway's keeper submits `release`.
  const stuck = await waitAll(ctx, "auto-released after the period", targets, (v) => v.status === "released", ctx.timeoutMs + SHORT_PERIOD_SECONDS * 1_000);
  check(ctx, autoReleaseStep.name, `${targets.length} payments released without the payer after the auto-release period`, stuck.length === 0, stuck.length ? `${stuck.length} not released, e.g. #${stuck[0]?.index} ${stuck[0]?.view?.status}` : "");
}

const reclaimStep: Step = {
  name: "payer reclaim",
  run: (ctx) => withBlockProducer(ctx, () => reclaim(ctx), () => latestDeadline(ctx.payments.filter((p) => p.id && p.plan === "reclaim"), "held")),
};

async function reclaim(ctx: ScenarioContext): Promise<void> {
  const p = ctx.payments.find((x) => x.id && x.plan === "reclaim");
  if (!p?.view?.onChain) throw new Error("no reclaimable payment in the scenario");
  // The merchant never fulfilled; the payer may reclaim once the fulfilment deadline (chain time) passed.
  const deadline = Math.floor(Date.parse(p.view.onChain.deadline) / 1000);
  await waitStep(ctx, "fulfilment deadline passes (chain time)", async () => {
    while ((await chainNow(ctx)) <= deadline && Date.now() / 1000 <= deadline + 5) await sleep(1_000);
    return true;
  });
  let res = await payerAction(ctx, p, "reclaim");
  // A chain with no block since the deadline still answers "too early": the next block moves it on.
  for (let i = 0; i < 20 && res.status !== 202 && res.status !== 404; i++) {
    await sleep(1_000);
    res = await payerAction(ctx, p, "reclaim");
  }
  check(ctx, reclaimStep.name, "the payer's signed reclaim is accepted", res.status === 202, `${res.status} ${res.code}`);
  const [notBack] = await waitAll(ctx, "reclaimed on-chain", [p], (v) => v.status === "reclaimed");
  check(ctx, reclaimStep.name, "the unfulfilled payment went back to the payer (reclaimed)", !notBack, notBack ? `status ${p.view.status}` : "");
}

const amlStep: Step = {
  name: "AML alert and regulator freeze",
  async run(ctx) {
    const p = ctx.payments.find((x) => x.plan === "largeValue");
    if (!p) throw new Error("no large-value payment in the scenario");
    const token = cnyOf(ctx);
    // The payer with the most funds makes it (a network that ran the demo before has spent some).
    const balances = await Promise.all(
      ctx.payments
        .filter((x) => x.plan !== "largeValue")
        .slice(0, ctx.state.payers.length)
        .map(async (x) => ({ payer: x.payer, balance: BigInt((await regulatorNode(ctx).tokenAccount(token.address, x.payer.address)).balance) })),
    );
    const richest = balances.sort((a, b) => (a.balance === b.balance ? 0 : a.balance > b.balance ? -1 : 1))[0];
    if (!richest || richest.balance < p.amount) throw new Error(`no payer has ${yuan(p.amount)} left (start over with npm start -- --reset)`);
    p.payer = richest.payer;
    const paid = await createAndAuthorize(ctx, p);
    check(ctx, this.name, `a payment of ${yuan(p.amount)} is authorised and held`, paid.ok, paid.detail);
    const [notHeld] = await waitAll(ctx, "large payment held", [p], (v) => v.status === "held");
    if (notHeld || !p.view) {
      check(ctx, this.name, "the large payment is held on-chain", false, `status ${p.view?.status}`);
      return;
    }
    const paymentId = p.view.paymentId.toLowerCase();
    const alert = await waitStep(ctx, "regulator node receives the AML alert", () =>
      poll(ctx, async () => {
        const res = await regulatorNode(ctx).alerts({ rule: "LARGE_VALUE", account: p.payer.address, limit: 500 });
        return res.items.find((a) => a.paymentIds.map((id) => id.toLowerCase()).includes(paymentId));
      }),
    );
    check(ctx, this.name, "the regulator node has a LARGE_VALUE alert for that payment", alert?.amount === p.amount.toString(), alert ? `alert ${alert.id.slice(0, 10)}…, reported by ${alert.reportedBy.length} institutions` : "none");
    const all = await regulatorNode(ctx).alerts({ category: "aml", limit: 500 });
    const ours = ctx.payments.filter((x) => x.view).map((x) => x.view?.paymentId.toLowerCase());
    const oursAlerted = all.items.filter((a) => a.paymentIds.some((id) => ours.includes(id.toLowerCase())));
    check(ctx, this.name, "no other payment of this run raised an AML alert", oursAlerted.length === 1, `${oursAlerted.length} alerts on this run's payments`);
    ctx.findings.amlAlerts = { ours: oursAlerted.length, total: all.items.length, rule: alert?.rule ?? "", alertId: alert?.id ?? "" };
    if (!alert) return;

    // The regulator reviews the alert and freezes the payer: a freeze signed with its key. Its own node
    // is read-only (it observes and never relays), so it sends the operation to an institution's node,
    // which gossips it to all and relays it; it then watches the result on its own node.
    const freezeOp = async (frozen: boolean) => {
      const deadline = BigInt(await chainNow(ctx)) + 3_600n;
      const op = await signTokenOperation(
        ctx.regulator,
        { kind: "freeze" as const, token: token.address, account: p.payer.address, frozen, reason: alert.id, nonce: BigInt(hexlify(randomBytes(16))).toString(), deadline: deadline.toString() },
        { chainId: BigInt(ctx.deployment.chainId), tokenName: token.name },
      );
      const submitted = await institutionNode(ctx, 2).submit(op);
      if (!submitted.accepted) return { ok: false, detail: refusalDetail(submitted) };
      const id = submitted.id;
      const executed = await poll(ctx, async () => {
        const stored = await regulatorNode(ctx).operation(id);
        return stored?.status === "executed" ? stored : undefined;
      });
      if (!executed?.execution) return { ok: false, detail: `operation ${id.slice(0, 10)}… not executed` };
      // The acquiring node (the gateway's) must have seen the freeze before the next authorization.
      const block = executed.execution.blockNumber;
      const seen = await poll(ctx, async () => ((await institutionNode(ctx, 0).health()).chain.registry >= block ? true : undefined));
      return { ok: seen === true, detail: seen ? "" : "the acquiring node did not see it" };
    };
    const frozen = await waitStep(ctx, "regulator freezes the payer", () => freezeOp(true));
    check(ctx, this.name, "the regulator's signed freeze is accepted (institution-3's node) and executed", frozen.ok, frozen.detail);
    const shown = await poll(ctx, async () => ((await regulatorNode(ctx).tokenAccount(token.address, p.payer.address)).frozen ? true : undefined), 500, 30_000);
    check(ctx, this.name, "the regulator node shows the payer's account frozen", shown === true, "not frozen");

    const next: DemoPayment = { index: p.index + 1, plan: "confirm", merchant: p.merchant, payer: p.payer, amount: 10_000n };
    const refused = await createAndAuthorize(ctx, next);
    check(ctx, this.name, "the frozen payer's next authorization is refused with ACCOUNT_FROZEN", !refused.ok && refused.code === "ACCOUNT_FROZEN", refused.ok ? "accepted" : refused.detail);
    if (next.id) await client(ctx, next.merchant).post(`/v1/payments/${next.id}/cancel`);

    // Review done: the regulator lifts the freeze, so the network stays usable for the next run.
    const lifted = await waitStep(ctx, "regulator lifts the freeze", () => freezeOp(false));
    check(ctx, this.name, "the freeze is lifted again", lifted.ok, lifted.detail);
    ctx.findings.freeze = { account: p.payer.address, refusedWith: refused.code ?? (refused.ok ? "accepted" : refused.detail), lifted: lifted.ok };
  },
};

const cycleStep: Step = {
  name: "settlement cycle finalized, Merkle proof verified",
  run(ctx) {
    let end: number | undefined;
    return withBlockProducer(
      ctx,
      () => settlementCycle(ctx, cycleStep.name, (cycleEnd) => (end = cycleEnd)),
      () => end,
    );
  },
};

/** `waitingFor`: told the chain time at which the cycle it waits for ends. */
async function settlementCycle(ctx: ScenarioContext, step: string, waitingFor: (cycleEnd: number) => void): Promise<void> {
  // The cycle of the first confirmed payment's release: find when the chain released it.
  const released = ctx.payments.find((p) => p.plan === "confirm" && p.view?.status === "released");
  if (!released?.view) throw new Error("no released payment to prove");
  const paymentId = released.view.paymentId;
  const at = await poll(ctx, async () => (await regulatorNode(ctx).payment(paymentId))?.payment?.events.find((e) => e.event === "PaymentReleased")?.timestamp);
  if (at === undefined) throw new Error(`the regulator node has no release of ${paymentId}`);
  const cycleSeconds = ctx.state.cycleSeconds ?? 86_400;
  if (cycleSeconds > MAX_DEMO_CYCLE_SECONDS) {
    throw new Error(`this network settles in cycles of ${cycleSeconds} s (provisioned before the local network used short cycles): start over with npm start -- --reset`);
  }
  const cycleId = Math.floor(at / cycleSeconds).toString();
  // Closed by the first block at or after its end.
  waitingFor((Number(cycleId) + 1) * cycleSeconds);
  const ledger = new Contract(ctx.deployment.contracts.ledger, loadArtifact("SettlementLedger").abi, ctx.provider);
  // Closed once a later block exists, attested by the institutions, finalized on-chain by quorum.
  const cycle = await waitStep(ctx, `cycle ${cycleId} closed, attested, finalized`, () =>
    poll(
      ctx,
      async () => {
        const view = await regulatorNode(ctx).cycle(cycleId);
        return view?.status === "finalized" ? view : undefined;
      },
      1_000,
      ctx.timeoutMs + cycleSeconds * 1_000,
    ),
  );
  check(ctx, step, `cycle ${cycleId} finalized and matches the regulator node's records`, cycle?.finalized?.matches === true, cycle ? `status ${cycle.status}` : "not finalized in time");
  if (!cycle?.finalized) return;
  const onChain = (await ledger.getFunction("cycleOf")(BigInt(cycleId))) as { merkleRoot: string };
  const institutions = ctx.state.nodes.filter((n) => n.role === "institution").length;
  const quorum = Math.floor((institutions * 2) / 3) + 1;
  const attested = cycle.attestations.length;
  check(ctx, step, "its root is the one finalized on SettlementLedger", onChain.merkleRoot.toLowerCase() === cycle.finalized.merkleRoot.toLowerCase(), onChain.merkleRoot);
  check(ctx, step, `attested by a quorum (more than two thirds: ${quorum} of ${institutions})`, attested >= quorum, `${attested} attestations`);

  let proof: RecordProof;
  try {
    proof = await regulatorNode(ctx).recordProof(cycleId, { kind: "released", recordId: paymentId });
  } catch (error) {
    check(ctx, step, "the regulator node gives a Merkle proof of the release", false, error instanceof SettlenetError ? error.code : String(error));
    return;
  }
  const byLibrary = StandardMerkleTree.verify(proof.root, proof.leafEncoding, proof.leaf, proof.proof);
  check(ctx, step, "the proof of the release verifies with @openzeppelin/merkle-tree", byLibrary && proof.root === onChain.merkleRoot, "");
  const r = proof.record;
  const onChainRecord = { cycleId: BigInt(r.cycleId), recordId: r.recordId, kind: r.kind, account: r.account, counterparty: r.counterparty, token: r.token, amount: BigInt(r.amount), fee: BigInt(r.fee) };
  const byContract = (await ledger.getFunction("verifyRecord")(onChainRecord, proof.proof)) as boolean;
  const forged = (await ledger.getFunction("verifyRecord")({ ...onChainRecord, amount: onChainRecord.amount + 1n }, proof.proof)) as boolean;
  check(ctx, step, "SettlementLedger.verifyRecord accepts it on-chain and refuses a forged amount", byContract && !forged, `genuine ${byContract}, forged ${forged}`);
  const merchantAddress = ctx.state.merchants.find((m) => m.id === released.merchant)?.address ?? "";
  const expectedFee = (released.amount * BigInt(released.view.feeBps)) / 10_000n;
  const same =
    r.recordId.toLowerCase() === paymentId.toLowerCase() &&
    r.account.toLowerCase() === released.payer.address.toLowerCase() &&
    r.counterparty.toLowerCase() === merchantAddress.toLowerCase() &&
    r.amount === released.amount.toString() &&
    r.fee === expectedFee.toString();
  check(ctx, step, "the proven record is that release (payer, merchant, gross amount, fee)", same, `${r.account} → ${r.counterparty} ${r.amount} fee ${r.fee}`);
  ctx.findings.cycle = { cycleId, root: cycle.finalized.merkleRoot, attestations: attested, proofRecord: `released ${paymentId.slice(0, 10)}…`, proofVerified: byLibrary, verifiedOnChain: byContract };
}

const reconcileStep: Step = {
  name: "reconciliation breaks = 0",
  async run(ctx) {
    // The gateway's three-way report (对账): its orders, payouts and top-ups against the chain (through
    // its node) and the custodian bank. A step still in flight is not a break; the reconciler brings
    // stored orders up to date every few seconds, so a difference gets that long to go away.
    type Report = { counts: { orders: number; payouts: number; chainPayments: number; bankTransfers: number }; breaks: { kind: string; ref: string; detail: string }[] } & Problem;
    const reports = async () =>
      Promise.all(
        ctx.state.merchants.map(async (m) => {
          const res = await client(ctx, m.id).get<Report>("/v1/reports/threeway");
          if (res.status !== 200) throw new Error(`GET /v1/reports/threeway (${m.id}): ${res.status} ${res.body.code ?? ""}`);
          return res.body;
        }),
      );
    const clean = await waitStep(ctx, "three-way report: gateway, chain, bank", () =>
      poll(ctx, async () => ((await reports()).every((r) => r.breaks.length === 0) ? true : undefined), 2_000, 45_000),
    );
    const final = await reports();
    const breaks = final.flatMap((r) => r.breaks);
    const orders = final.reduce((n, r) => n + r.counts.orders, 0);
    const ours = ctx.payments.filter((p) => p.view).length;
    check(ctx, this.name, `the three-way report covers this run's ${ours} orders`, orders >= ours, `${orders} orders in the reports`);
    check(ctx, this.name, "no break between gateway, chain and bank", clean === true && breaks.length === 0, breaks.slice(0, 3).map((b) => `${b.kind} ${b.ref}: ${b.detail}`).join("; "));
    ctx.findings.reconciliation = {
      compared: orders,
      breaks: breaks.length,
      source: `three-way: ${final.reduce((n, r) => n + r.counts.chainPayments, 0)} chain payments, ${final.reduce((n, r) => n + r.counts.payouts, 0)} payouts, ${final.reduce((n, r) => n + r.counts.bankTransfers, 0)} bank transfers`,
    };
  },
};

/** Every step in order. */
export const SCENARIO_STEPS: Step[] = [payStep, fulfilStep, refundStep, confirmStep, disputeStep, payoutStep, separationStep, autoReleaseStep, reclaimStep, amlStep, cycleStep, reconcileStep];

// ------------------------------------------------------------------ summary

export interface ScenarioSummary {
  payments: number;
  byStatus: Record<string, number>;
  /** Minor units, as decimal strings. */
  volume: string;
  refunded: string;
  /** Fees on released and resolved payments (merchant's share times the merchant's fee). */
  fees: string;
  perMerchant: { merchant: string; payments: number; volume: string }[];
  findings: ScenarioFindings;
  checks: Check[];
  ok: boolean;
  seconds: number;
}

export interface ScenarioOptions {
  /** The network's folder (deployment file, the regulator's keystore). */
  root: string;
  endpoints: NetworkEndpoints;
  state: NetworkState;
  size: ScenarioSize;
  progress?: Progress;
  /** Per-wait timeout (default 180 s). */
  timeoutMs?: number;
  /** Only these steps (by name); default all. */
  steps?: string[];
  /**
   * On a local chain: move chain time on to each deadline and cycle end the scenario waits for, instead
   * of waiting for the wall clock to get there (the tests; `npm run demo` shows the real waits).
   */
  advanceChainTime?: boolean;
}

/** Runs the scenario against a running network; never throws for a failed check (see `summary.ok`). */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioSummary> {
  const started = Date.now();
  const { state, size, endpoints } = options;
  if (state.payers.length < size.payers) throw new Error(`the network has ${state.payers.length} payers; the scenario needs ${size.payers} (start over with npm start -- --reset --payers ${size.payers})`);
  if (size.payments < RECLAIMED_INDEX + 1) throw new Error(`the scenario needs at least ${RECLAIMED_INDEX + 1} payments`);
  const deployment = await readDeployment(join(options.root, state.deploymentFile));
  const regulatorName = state.nodes.find((n) => n.role === "regulator")?.name ?? "regulator";
  const regulator = await Wallet.fromEncryptedJson(await readFile(join(options.root, regulatorName, "operator.json"), "utf8"), keystorePasswordOf(state, state.keyPassword, regulatorName));
  const clients = new Map(state.merchants.map((m) => [m.id, new GatewayClient(endpoints.gateway, { keyId: m.keyId, secret: m.secret })]));
  const payers = state.payers.slice(0, size.payers).map((p) => new Wallet(p.privateKey));
  const merchants = state.merchants.map((m) => m.id);
  const payments: DemoPayment[] = Array.from({ length: size.payments }, (_, index) => ({
    index,
    plan: planOf(index),
    merchant: merchants[index % merchants.length] ?? "",
    payer: payers[index % payers.length] as Wallet,
    amount: amountOf(index),
  }));
  payments.push({ index: size.payments, plan: "largeValue", merchant: merchants[0] ?? "", payer: payers[0] as Wallet, amount: LARGE_VALUE_AMOUNT });
  const provider = new JsonRpcProvider(endpoints.chain, undefined, { cacheTimeout: -1, staticNetwork: true });
  const ctx: ScenarioContext = {
    state,
    endpoints,
    deployment,
    regulator,
    arbiter: new Wallet(state.arbiter.privateKey),
    provider,
    clients,
    payments,
    progress: options.progress ?? silentProgress,
    checks: [],
    findings: {},
    timeoutMs: options.timeoutMs ?? 180_000,
    advanceChainTime: options.advanceChainTime ?? false,
    run: Date.now().toString(36),
    root: options.root,
    nodeCredentials: new Map(
      await Promise.all(
        endpoints.nodes.map(async (node) => {
          const all = JSON.parse(await readFile(join(options.root, node.name, NODE_CLIENT_CREDENTIALS_FILE), "utf8")) as NodeClientCredentials;
          return [node.api, { gateway: all.gateway, regulator: all.regulator }] as const;
        }),
      ),
    ),
  };
  try {
    for (const step of SCENARIO_STEPS) {
      if (options.steps && !options.steps.includes(step.name)) continue;
      try {
        await step.run.call(step, ctx);
      } catch (error) {
        check(ctx, step.name, "step ran to completion", false, (error as Error).message);
      }
    }
    await refresh(ctx, payments);
  } finally {
    provider.destroy();
  }

  const ours = payments.map((p) => p.view).filter((v): v is PaymentView => v !== undefined);
  const byStatus: Record<string, number> = {};
  for (const v of ours) byStatus[v.status] = (byStatus[v.status] ?? 0) + 1;
  const sum = (values: bigint[]) => values.reduce((a, b) => a + b, 0n);
  // The merchant's gross share: what was not refunded (for a resolved payment the payer's share counts as refunded).
  const merchantShare = (v: PaymentView) => BigInt(v.amount) - BigInt(v.refundedAmount);
  const fees = sum(ours.filter((v) => v.status === "released" || v.status === "resolved").map((v) => (merchantShare(v) * BigInt(v.feeBps)) / 10_000n));
  const perMerchant = merchants.map((merchant) => {
    const mine = payments.filter((p) => p.merchant === merchant && p.view);
    return { merchant, payments: mine.length, volume: sum(mine.map((p) => p.amount)).toString() };
  });
  return {
    payments: ours.length,
    byStatus,
    volume: sum(payments.filter((p) => p.view).map((p) => p.amount)).toString(),
    refunded: sum(ours.map((v) => BigInt(v.refundedAmount))).toString(),
    fees: fees.toString(),
    perMerchant,
    findings: ctx.findings,
    checks: ctx.checks,
    ok: ctx.checks.length > 0 && ctx.checks.every((c) => c.ok),
    seconds: Math.round((Date.now() - started) / 1000),
  };
}

/** Minor units (2 decimals) as "¥1,234.56". */
export function yuan(minor: string | bigint): string {
  const value = BigInt(minor);
  const whole = (value / 100n).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ",");
  return `¥${whole}.${(value % 100n).toString().padStart(2, "0")}`;
}

const yesNo = (value: boolean | undefined) => (value === undefined ? "not reached" : value ? "yes" : "NO");

/** The summary as a text table. */
export function formatSummary(summary: ScenarioSummary): string {
  const f = summary.findings;
  const rows: [string, string][] = [
    ["payments", String(summary.payments)],
    ...Object.entries(summary.byStatus)
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([status, n]): [string, string] => [`  ${status}`, String(n)]),
    ["volume", yuan(summary.volume)],
    ...summary.perMerchant.map((m): [string, string] => [`  ${m.merchant}`, `${yuan(m.volume)} (${m.payments} payments)`]),
    ["refunded", yuan(summary.refunded)],
    ["fees (released, resolved)", yuan(summary.fees)],
    ["dispute split", f.dispute ? `${yuan(f.dispute.payerAmount || "0")} to the payer, ${yuan(f.dispute.merchantAmount || "0")} to the merchant` : "not reached"],
    ["payout", f.payout ? `${yuan(f.payout.amount)} ${f.payout.stage} (bank ${f.payout.bankRef}: ${f.payout.bankStatus})` : "not reached"],
    ["settlement cycle", f.cycle ? `${f.cycle.cycleId}, finalized with ${f.cycle.attestations} attestations` : "not reached"],
    ["  Merkle root", f.cycle?.root ?? "-"],
    ["  proof verified", f.cycle ? `${f.cycle.proofRecord}: merkle-tree ${yesNo(f.cycle.proofVerified)}, on-chain ${yesNo(f.cycle.verifiedOnChain)}` : "not reached"],
    ["AML alerts", f.amlAlerts ? `${f.amlAlerts.ours} on this run's payments (${f.amlAlerts.rule}); ${f.amlAlerts.total} on the regulator node` : "not reached"],
    ["freeze", f.freeze ? `next authorization refused with ${f.freeze.refusedWith}; lifted ${yesNo(f.freeze.lifted)}` : "not reached"],
    ["gateway's keys", f.keys?.gateway ?? "not reached"],
    ["reserve statements", f.keys ? `${f.keys.statement}, by ${f.keys.attestedBy} (the attestor the registry names: ${f.keys.attestor})` : "not reached"],
    ["reconciliation breaks", f.reconciliation ? `${f.reconciliation.breaks} (${f.reconciliation.compared} orders, ${f.reconciliation.source})` : "not reached"],
    ["duration", `${summary.seconds} s`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = ["", "Summary", ...rows.map(([k, v]) => `  ${k.padEnd(width)}${v}`), "", "Checks"];
  for (const c of summary.checks) lines.push(`  ${c.ok ? "ok  " : "FAIL"}  [${c.step}] ${c.name}${c.detail && !c.ok ? ` (${c.detail})` : ""}`);
  return lines.join("\n");
}
