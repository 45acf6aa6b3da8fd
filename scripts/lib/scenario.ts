/**
 * The demo scenario: merchants and payers using the running network through the gateway's HTTP API
 * only (signed requests as an external merchant sends them; payers sign the EIP-712 payloads the
 * gateway returns). Each step is one function that records checks; a step whose gateway operations
 * are not in /openapi.json yet is reported as missing instead of run. `runScenario` returns the
 * summary; the demo (scripts/demo.ts) and the launcher test print and assert it.
 */
import { Wallet } from "ethers";

import { GatewayClient } from "../../gateway/client.js";
import type { NetworkState } from "./network.js";

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
export type Plan = "confirm" | "autoRelease" | "refundHeld" | "refundFulfilled" | "direct";

/** Most payments are fulfilled and confirmed; one in ten each: auto-release, refund while held, refund after fulfilment, direct. */
export function planOf(index: number): Plan {
  const slot = index % 10;
  if (slot <= 5) return "confirm";
  return (["autoRelease", "refundHeld", "refundFulfilled", "direct"] as const)[slot - 6] ?? "confirm";
}

// ------------------------------------------------------------------ wire views (the subset the demo reads)

interface TypedData {
  domain: Record<string, unknown>;
  types: Record<string, { name: string; type: string }[]>;
  message: Record<string, unknown>;
}

export interface PaymentView {
  id: string;
  status: string;
  amount: string;
  mode: "escrow" | "direct";
  feeBps: number;
  refundedAmount: string;
  merchantOrderId: string;
  typedData: TypedData | null;
  fulfilment: { status: string } | null;
  refunds: { id: string; status: string; amount: string }[];
  onChain: { status: string; amount: string; refunded: string } | null;
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
    out.write(`\r  ${label.padEnd(34)} [${"#".repeat(filled)}${".".repeat(width - filled)}] ${done}/${total}`);
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

export interface ScenarioContext {
  gateway: string;
  state: NetworkState;
  clients: Map<string, GatewayClient>;
  payments: DemoPayment[];
  /** operationIds the gateway's OpenAPI document lists. */
  operations: Set<string>;
  progress: Progress;
  checks: Check[];
  /** Per-wait timeout (ms). */
  timeoutMs: number;
}

function check(ctx: ScenarioContext, step: string, name: string, ok: boolean, detail = ""): void {
  ctx.checks.push({ step, name, ok, detail });
}

function client(ctx: ScenarioContext, merchant: string): GatewayClient {
  const c = ctx.clients.get(merchant);
  if (!c) throw new Error(`no client for merchant ${merchant}`);
  return c;
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
async function waitAll(ctx: ScenarioContext, label: string, targets: DemoPayment[], done: (view: PaymentView) => boolean): Promise<DemoPayment[]> {
  ctx.progress.start(label, targets.length);
  const deadline = Date.now() + ctx.timeoutMs;
  let pending = targets;
  try {
    for (;;) {
      await refresh(ctx, pending);
      pending = pending.filter((p) => !(p.view && done(p.view)));
      ctx.progress.tick(targets.length - pending.length);
      if (pending.length === 0 || Date.now() > deadline) return pending;
      await new Promise((r) => setTimeout(r, 1_000));
    }
  } finally {
    ctx.progress.end();
  }
}

// ------------------------------------------------------------------ steps

/** One scenario step: runs when the gateway offers every operation in `requires`. */
export interface Step {
  name: string;
  requires: string[];
  /** Who is building what this step needs, when it is not there yet. */
  pending?: string;
  run?: (ctx: ScenarioContext) => Promise<void>;
}

const payStep: Step = {
  name: "payments held",
  requires: ["createPayment", "authorizePayment", "getPayment"],
  async run(ctx) {
    const step = this.name;
    const refused: string[] = [];
    await pool(ctx, "create + payer signs + authorize", ctx.payments, 8, async (p) => {
      const c = client(ctx, p.merchant);
      const created = await c.post<PaymentView & Problem>("/v1/payments", {
        amount: p.amount.toString(),
        currency: "CNY",
        merchantOrderId: `demo-${p.index}-${Date.now().toString(36)}`,
        description: `demo order ${p.index} (${p.plan})`,
        mode: p.plan === "direct" ? "direct" : "escrow",
        payer: p.payer.address,
        ...(p.plan === "autoRelease" ? { autoReleasePeriod: 60 } : {}),
      });
      if (created.status !== 201 || !created.body.typedData) {
        refused.push(`create #${p.index}: ${created.status} ${created.body.code ?? ""}`);
        return;
      }
      p.id = created.body.id;
      const { domain, types, message } = created.body.typedData;
      const signature = await p.payer.signTypedData(domain, types, message);
      const authorized = await c.post<PaymentView & Problem>(`/v1/payments/${p.id}/authorization`, { signature });
      if (authorized.status !== 202) refused.push(`authorize #${p.index}: ${authorized.status} ${authorized.body.code ?? ""}`);
    });
    check(ctx, step, `${ctx.payments.length} payments created and authorised`, refused.length === 0, refused.slice(0, 3).join("; "));
    const stuck = await waitAll(ctx, "held on-chain (direct: released)", ctx.payments, (v) => v.status === (v.mode === "direct" ? "released" : "held"));
    check(ctx, step, "every payment held on-chain (direct ones released)", stuck.length === 0, stuck.length ? `${stuck.length} not there, e.g. #${stuck[0]?.index} ${stuck[0]?.view?.status}` : "");
    const wrong = ctx.payments.filter((p) => p.view?.onChain?.amount !== p.amount.toString());
    check(ctx, step, "on-chain amounts equal the ordered amounts", wrong.length === 0, wrong.length ? `${wrong.length} differ` : "");
  },
};

const fulfilStep: Step = {
  name: "fulfilment",
  requires: ["fulfilPayment"],
  async run(ctx) {
    const targets = ctx.payments.filter((p) => p.id && ["confirm", "autoRelease", "refundFulfilled"].includes(p.plan));
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
  requires: ["refundPayment"],
  async run(ctx) {
    const targets = ctx.payments.filter((p) => p.id && (p.plan === "refundHeld" || p.plan === "refundFulfilled"));
    const refused: string[] = [];
    await pool(ctx, "merchants refund a quarter", targets, 8, async (p) => {
      const res = await client(ctx, p.merchant).post<Problem>(`/v1/payments/${p.id}/refunds`, { amount: (p.amount / 4n).toString(), reason: "one item out of stock" });
      if (res.status !== 202) refused.push(`#${p.index}: ${res.status} ${res.body.code ?? ""}`);
    });
    check(ctx, this.name, `${targets.length} partial refunds accepted`, refused.length === 0, refused.slice(0, 3).join("; "));
    const stuck = await waitAll(ctx, "refunds executed", targets, (v) => v.refundedAmount === ((BigInt(v.amount) / 4n).toString()) && v.refunds.every((r) => r.status === "executed"));
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
  requires: ["getConfirmPayload", "confirmPayment"],
  pending: "gateway payer confirm (branch money)",
  async run(ctx) {
    const targets = ctx.payments.filter((p) => p.id && p.plan === "confirm");
    const refused: string[] = [];
    await pool(ctx, "payers confirm receipt", targets, 8, async (p) => {
      const c = client(ctx, p.merchant);
      const payload = await c.get<{ typedData: TypedData } & Record<string, unknown> & Problem>(`/v1/payments/${p.id}/confirm`);
      if (payload.status !== 200) {
        refused.push(`payload #${p.index}: ${payload.status} ${payload.body.code ?? ""}`);
        return;
      }
      const { typedData, object: _object, ...terms } = payload.body;
      const signature = await p.payer.signTypedData(typedData.domain, typedData.types, typedData.message);
      const nonce = typedData.message["nonce"];
      const deadline = typedData.message["deadline"];
      const res = await c.post<Problem>(`/v1/payments/${p.id}/confirm`, { signature, ...(nonce !== undefined ? { nonce: String(nonce) } : {}), ...(deadline !== undefined ? { deadline: Number(deadline) } : {}) });
      if (res.status !== 202) refused.push(`confirm #${p.index}: ${res.status} ${res.body.code ?? ""} ${Object.keys(terms).join(",")}`);
    });
    check(ctx, this.name, `${targets.length} confirmations accepted`, refused.length === 0, refused.slice(0, 3).join("; "));
    const stuck = await waitAll(ctx, "released to merchants", targets, (v) => v.status === "released");
    check(ctx, this.name, "every confirmed payment released", stuck.length === 0, stuck.length ? `${stuck.length} not released` : "");
  },
};

const autoReleaseStep: Step = {
  name: "auto-release",
  // Nobody submits `release` after the auto-release time yet: a keeper (node or gateway) is needed.
  requires: ["releasePayment"],
  pending: "a release keeper or POST /v1/payments/{id}/release (not assigned to any branch)",
};

/** Steps whose pieces other branches are building; each becomes one function here. */
const pendingSteps: Step[] = [
  { name: "dispute resolved by the arbiter", requires: ["disputePayment", "resolveDispute"], pending: "gateway dispute (branch money) + an arbiter resolve path" },
  { name: "payer reclaim", requires: ["reclaimPayment"], pending: "gateway payer reclaim (not in branch money's routes so far)" },
  { name: "payout through the bank simulator", requires: ["createPayout", "getPayout"], pending: "gateway payouts (branch money)" },
  { name: "AML alert and regulator freeze", requires: ["amlAlerts", "freezeAccount"], pending: "AML alerts (branch compliance) + freeze (branch tokenops)" },
  { name: "settlement cycle finalized, Merkle proof verified", requires: ["settlementCycle", "auditProof"], pending: "settlement cycles and audit proofs (branch cycles)" },
  { name: "reconciliation breaks = 0", requires: ["reconciliationReport"], pending: "reconciler (branch webhooks) + three-way report (branch compliance)" },
];

/** Every step in order. */
export const SCENARIO_STEPS: Step[] = [payStep, fulfilStep, refundStep, confirmStep, autoReleaseStep, ...pendingSteps];

// ------------------------------------------------------------------ summary

export interface ScenarioSummary {
  payments: number;
  byStatus: Record<string, number>;
  /** Minor units, as decimal strings. */
  volume: string;
  refunded: string;
  /** Fees on released payments (amount less refunds, times the merchant's fee). */
  fees: string;
  perMerchant: { merchant: string; payments: number; volume: string }[];
  checks: Check[];
  /** Steps not run because the gateway does not offer what they need yet. */
  missing: { step: string; needs: string }[];
  ok: boolean;
  seconds: number;
}

export interface ScenarioOptions {
  gateway: string;
  state: NetworkState;
  size: ScenarioSize;
  progress?: Progress;
  /** Per-wait timeout (default 180 s). */
  timeoutMs?: number;
  /** Only these steps (by name); default all. */
  steps?: string[];
}

/** Runs the scenario against a running network; never throws for a failed check (see `summary.ok`). */
export async function runScenario(options: ScenarioOptions): Promise<ScenarioSummary> {
  const started = Date.now();
  const { state, size } = options;
  if (state.payers.length < size.payers) throw new Error(`the network has ${state.payers.length} payers; the scenario needs ${size.payers} (start over with npm start -- --reset --payers ${size.payers})`);
  const clients = new Map(state.merchants.map((m) => [m.id, new GatewayClient(options.gateway, { keyId: m.keyId, secret: m.secret })]));
  const openapi = (await (await fetch(new URL("/openapi.json", options.gateway))).json()) as { paths: Record<string, Record<string, { operationId?: string }>> };
  const operations = new Set(Object.values(openapi.paths).flatMap((methods) => Object.values(methods).map((op) => op.operationId ?? "")));
  const payers = state.payers.slice(0, size.payers).map((p) => new Wallet(p.privateKey));
  const merchants = state.merchants.map((m) => m.id);
  const payments: DemoPayment[] = Array.from({ length: size.payments }, (_, index) => ({
    index,
    plan: planOf(index),
    merchant: merchants[index % merchants.length] ?? "",
    payer: payers[index % payers.length] as Wallet,
    // ¥10.00 .. ¥2,009.99, varied but reproducible.
    amount: 1_000n + BigInt((index * 7_919) % 200_000),
  }));
  const ctx: ScenarioContext = { gateway: options.gateway, state, clients, payments, operations, progress: options.progress ?? silentProgress, checks: [], timeoutMs: options.timeoutMs ?? 180_000 };
  const missing: ScenarioSummary["missing"] = [];
  for (const step of SCENARIO_STEPS) {
    if (options.steps && !options.steps.includes(step.name)) continue;
    const absent = step.requires.filter((op) => !operations.has(op));
    if (!step.run || absent.length > 0) {
      missing.push({ step: step.name, needs: step.pending ?? absent.join(", ") });
      continue;
    }
    try {
      await step.run.call(step, ctx);
    } catch (error) {
      check(ctx, step.name, "step ran to completion", false, (error as Error).message);
    }
  }

  await refresh(ctx, payments);
  const ours = payments.map((p) => p.view).filter((v): v is PaymentView => v !== undefined);
  const byStatus: Record<string, number> = {};
  for (const v of ours) byStatus[v.status] = (byStatus[v.status] ?? 0) + 1;
  const sum = (values: bigint[]) => values.reduce((a, b) => a + b, 0n);
  const fees = sum(ours.filter((v) => v.status === "released").map((v) => ((BigInt(v.amount) - BigInt(v.refundedAmount)) * BigInt(v.feeBps)) / 10_000n));
  const perMerchant = merchants.map((merchant) => {
    const mine = payments.filter((p) => p.merchant === merchant);
    return { merchant, payments: mine.length, volume: sum(mine.map((p) => p.amount)).toString() };
  });
  return {
    payments: payments.length,
    byStatus,
    volume: sum(payments.map((p) => p.amount)).toString(),
    refunded: sum(ours.map((v) => BigInt(v.refundedAmount))).toString(),
    fees: fees.toString(),
    perMerchant,
    checks: ctx.checks,
    missing,
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

/** The summary as a text table. */
export function formatSummary(summary: ScenarioSummary): string {
  const rows: [string, string][] = [
    ["payments", String(summary.payments)],
    ...Object.entries(summary.byStatus).map(([status, n]): [string, string] => [`  ${status}`, String(n)]),
    ["volume", yuan(summary.volume)],
    ...summary.perMerchant.map((m): [string, string] => [`  ${m.merchant}`, `${yuan(m.volume)} (${m.payments} payments)`]),
    ["refunded", yuan(summary.refunded)],
    ["fees on released payments", yuan(summary.fees)],
    ["duration", `${summary.seconds} s`],
  ];
  const width = Math.max(...rows.map(([k]) => k.length)) + 2;
  const lines = ["", "Summary", ...rows.map(([k, v]) => `  ${k.padEnd(width)}${v}`), "", "Checks"];
  for (const c of summary.checks) lines.push(`  ${c.ok ? "ok  " : "FAIL"}  [${c.step}] ${c.name}${c.detail ? ` (${c.detail})` : ""}`);
  if (summary.missing.length > 0) {
    lines.push("", "Not run yet (the gateway does not offer what they need)");
    for (const m of summary.missing) lines.push(`  -     [${m.step}] needs ${m.needs}`);
  }
  return lines.join("\n");
}
