/**
 * end-to-end: escrow payments created through the gateway (POST /v1/payments), signed by the payer
 * (the returned payment id is the EIP-712 digest the payer's wallet signs), authorised (POST
 * /v1/payments/{id}/authorization → the institution node validates, stores, gossips to its peers and
 * relays in batches) and held on-chain. Closed loop with a fixed number of concurrent shoppers.
 * The hold is observed from outside: a watcher polls the chain for PaymentPaid events. Latency = API
 * call → hold seen; stages are timed per payment from the harness's clocks and the nodes' stored
 * records (receivedAtMs). Every create or authorisation not answered as expected is a failure with its
 * code, and so is every authorised payment not held on-chain after the load (NOT_HELD) or held twice
 * (EXECUTED_TWICE). Each merchant has a webhook endpoint for `payment.held` on a receiver in this
 * process that checks every delivery's Standard Webhooks signature: every held payment's webhook must
 * arrive (WEBHOOK_NOT_DELIVERED, WEBHOOK_BAD_SIGNATURE otherwise), and its delay after the hold was
 * seen is a row. CPU per payment per role is measured over the load and the drain; duplicate
 * relayed items come from the chain's blocks. Run on 4 institution nodes (end-to-end), the same on
 * anvil instead of EDR (end-to-end on anvil: the chain's share depends on the EVM) and on one node
 * (single node: what the chain, one node and the gateway do without gossip or peers).
 */
import { cpus } from "node:os";

import { CpuMeter, cpuBottleneck, cpuPerUnit, idleCores, type CpuShare, type MonotonicWindow } from "../lib/cpu.js";
import { HoldWatcher } from "../lib/chain-watch.js";
import type { Cluster } from "../lib/cluster.js";
import { CountedFailure, Failures, codeOfAnswer, codeOfError, describeFailures } from "../lib/failures.js";
import { groupCounters, groupSizesText } from "../lib/group-sizes.js";
import { writeCounts, writesPerPayment, writesText } from "../lib/storage-writes.js";
import { closedLoop } from "../lib/load.js";
import { mapLimit, storedOperation } from "../lib/node-api.js";
import { signDigest } from "../lib/ops.js";
import { Progress } from "../lib/progress.js";
import { duplicateMetric, relayedInWindow } from "../lib/relay-check.js";
import { fmt, meets, type BenchmarkResult, type Goal } from "../lib/results.js";
import { jsonSummary, summarize, type Summary } from "../lib/stats.js";
import { WebhookReceiver } from "../../scripts/lib/webhook-receiver.js";

const RATE: Goal = { compare: "atLeast", value: 1_000 };
const P99_MS: Goal = { compare: "atMost", value: 2_000 };
const CPU_MS: Goal = { compare: "atMost", value: 2 };
const DUPLICATE_PERCENT: Goal = { compare: "atMost", value: 1 };
const WEBHOOK_P99_MS: Goal = { compare: "atMost", value: 2_000 };
const SAMPLE = 500;

export interface EndToEndOptions {
  /** Row label: "end-to-end" (4 nodes), "end-to-end on anvil" or "single node". */
  name: string;
  seconds: number;
  concurrency: number;
  /** Longest wait after the load for every authorised payment's hold. */
  drainSeconds: number;
  /** Quiet seconds measured before the load, for the processes' background CPU. */
  idleSeconds: number;
}

interface Timed {
  paymentId: string;
  /** Date.now() at: create sent, created, signed, authorization answered. */
  t0: number;
  t1: number;
  t2: number;
  t3: number;
}

export async function runEndToEnd(cluster: Cluster, options: EndToEndOptions): Promise<BenchmarkResult> {
  const name = options.name;
  const progress = new Progress(name);
  const started = performance.now();
  const { scenario, nodes } = cluster.net;
  const [origin, ...peers] = nodes;
  if (!origin) throw new Error("no institution node");
  const payers = scenario.payers;
  const escrow = scenario.deployment.contracts.escrow;
  progress.log(`measuring the network's background CPU for ${options.idleSeconds} s with no load`);
  let idleWindow: MonotonicWindow | undefined;
  let idleShares: CpuShare[] = [];
  const idle = await idleCores(
    () => cluster.processes(),
    options.idleSeconds,
    (w) => (idleWindow = w),
    (shares) => (idleShares = shares),
  );
  const receiver = await webhookReceiver(cluster);
  const watcher = new HoldWatcher(scenario.chain.provider, escrow);
  await watcher.start();
  const metricBefore = await duplicateMetric(nodes);
  const run = `e${Date.now().toString(36)}`;
  const timed: Timed[] = [];
  const failures = new Failures();
  const groupsBefore = await groupCounters(nodes);
  const writesBefore = await writeCounts(nodes, () => cluster.gatewayMetrics());
  const cpu = new CpuMeter(() => cluster.processes());
  await cpu.begin();
  const loadStart = Date.now();
  const load = await closedLoop(
    { concurrency: options.concurrency, durationMs: options.seconds * 1000 },
    async (seq) => {
      const client = cluster.clients[seq % cluster.clients.length];
      const payer = payers[seq % payers.length];
      if (!client || !payer) throw new Error("no client or payer");
      let stage = "create";
      try {
        const t0 = Date.now();
        const created = await client.post<{ id: string; paymentId: string }>("/v1/payments", { amount: "100", currency: "CNY", merchantOrderId: `${run}-${seq}`, payer: payer.address });
        if (created.status !== 201) {
          failures.add(`${codeOfAnswer(created.status, created.body)} (create)`, JSON.stringify(created.body).slice(0, 200));
          throw new CountedFailure(`create answered ${created.status}`);
        }
        const t1 = Date.now();
        const signature = signDigest(created.body.paymentId, payer.privateKey);
        const t2 = Date.now();
        stage = "authorize";
        const authorized = await client.post(`/v1/payments/${created.body.id}/authorization`, { signature });
        if (authorized.status !== 202) {
          failures.add(`${codeOfAnswer(authorized.status, authorized.body)} (authorize)`, JSON.stringify(authorized.body).slice(0, 200));
          throw new CountedFailure(`authorization answered ${authorized.status}`);
        }
        timed.push({ paymentId: created.body.paymentId.toLowerCase(), t0, t1, t2, t3: Date.now() });
      } catch (error) {
        if (!(error instanceof CountedFailure)) failures.add(`${codeOfError(error)} (${stage})`, (error as Error).message);
        throw error;
      }
    },
    (r) => progress.update(`${fmt(r.completed)} authorised, ${fmt(timed.filter((t) => watcher.holds.has(t.paymentId)).length)} of them held on-chain, ${r.failed} failed`),
  );
  const loadEnd = Date.now();
  progress.log(`${fmt(timed.length)} payments authorised in ${options.seconds} s (${load.failed} failed); waiting for their holds`);

  const drainEnd = Date.now() + options.drainSeconds * 1000;
  while (Date.now() < drainEnd && timed.some((t) => !watcher.holds.has(t.paymentId))) {
    progress.update(`${fmt(timed.filter((t) => watcher.holds.has(t.paymentId)).length)} / ${fmt(timed.length)} held`);
    await new Promise((r) => setTimeout(r, 200));
  }
  await watcher.stop();
  const heldIds = timed.map((t) => t.paymentId).filter((id) => watcher.holds.has(id));
  const webhookEnd = Date.now() + options.drainSeconds * 1000;
  let delivered = heldDeliveries(receiver);
  while (Date.now() < webhookEnd && heldIds.some((id) => !delivered.has(id))) {
    progress.update(`${fmt(heldIds.filter((id) => delivered.has(id)).length)} / ${fmt(heldIds.length)} payment.held webhooks delivered`);
    await new Promise((r) => setTimeout(r, 200));
    delivered = heldDeliveries(receiver);
  }
  await receiver.stop();
  const cpuShares = await cpu.end();
  const groupsAfter = await groupCounters(nodes);
  const writesAfter = await writeCounts(nodes, () => cluster.gatewayMetrics());
  const held = timed.filter((t) => watcher.holds.has(t.paymentId)).length;
  const unheld = timed.length - held;
  failures.add("NOT_HELD", `${unheld} authorised payments not held on-chain ${options.drainSeconds} s after the load`, unheld);
  failures.add("EXECUTED_TWICE", "a payment paid more than once on-chain", watcher.executedTwice());
  const undelivered = heldIds.filter((id) => !delivered.has(id)).length;
  failures.add("WEBHOOK_NOT_DELIVERED", `${undelivered} held payments without their payment.held webhook ${options.drainSeconds} s after the holds`, undelivered);
  failures.add("WEBHOOK_BAD_SIGNATURE", `deliveries that failed Standard Webhooks verification: ${receiver.rejected.slice(0, 3).join(", ")}`, receiver.rejected.length);
  const webhookDelays = summarize(heldIds.map((id) => (delivered.get(id)?.atMs ?? Infinity) - (watcher.holds.get(id) ?? 0)));
  // The two halves of that delay, split at the event's own time: when the gateway began applying the change (one clock on this machine).
  const deliveredHeld = heldIds.flatMap((id) => {
    const d = delivered.get(id);
    return d ? [{ ...d, holdMs: watcher.holds.get(id) ?? 0 }] : [];
  });
  const webhookStages = {
    "hold seen → gateway applies it (node indexer, change feed)": summarize(deliveredHeld.map((d) => d.eventAtMs - d.holdMs)),
    "gateway applies it → webhook arrived (order write, dispatcher)": summarize(deliveredHeld.map((d) => d.atMs - d.eventAtMs)),
  };
  progress.log(`reading the chain's blocks ${watcher.firstBlock}..${watcher.lastBlock} for relayed items`);
  const { duplicates, scan } = await relayedInWindow({ provider: scenario.chain.provider, escrow, nodes }, { from: watcher.firstBlock, to: watcher.lastBlock, metricBefore });

  // Sustained rate: holds seen after the first tenth of the run (ramp-up) until the load stopped.
  const windowStart = loadStart + (loadEnd - loadStart) / 10;
  const heldInWindow = timed.filter((t) => {
    const at = watcher.holds.get(t.paymentId);
    return at !== undefined && at >= windowStart && at <= loadEnd;
  }).length;
  const rate = (heldInWindow * 1000) / (loadEnd - windowStart);
  const latencies = timed.map((t) => {
    const at = watcher.holds.get(t.paymentId);
    return at === undefined ? Infinity : at - t.t0;
  });
  const latency = summarize(latencies);

  // Stages from a random sample, with the nodes' own acceptance times.
  const sample = [...timed].sort(() => Math.random() - 0.5).slice(0, SAMPLE);
  progress.log(`reading ${sample.length} sampled payments from ${nodes.length} node${nodes.length === 1 ? "" : "s"}`);
  const stored = await mapLimit(sample, 16, async (t) => ({ t, records: await Promise.all(nodes.map((n) => storedOperation(n.apiUrl, t.paymentId))) }));
  const stage: Record<string, number[]> = {
    "gateway create (POST /v1/payments)": [],
    "payer signs": [],
    "authorize → origin node accepted (gateway checks and node sync, node validation)": [],
    "origin accepted → authorize answered (node store + gossip publish, gateway update)": [],
    "relay and chain (authorize answered → hold seen in a block)": [],
  };
  const gossip: number[] = [];
  for (const { t, records } of stored) {
    const [o, ...p] = records;
    const hold = watcher.holds.get(t.paymentId);
    stage["gateway create (POST /v1/payments)"]?.push(t.t1 - t.t0);
    stage["payer signs"]?.push(t.t2 - t.t1);
    if (o) {
      stage["authorize → origin node accepted (gateway checks and node sync, node validation)"]?.push(o.receivedAtMs - t.t2);
      stage["origin accepted → authorize answered (node store + gossip publish, gateway update)"]?.push(t.t3 - o.receivedAtMs);
      if (p.length > 0) gossip.push(p.every((x) => x) ? Math.max(...p.map((x) => (x as { receivedAtMs: number }).receivedAtMs)) - o.receivedAtMs : Infinity);
    }
    stage["relay and chain (authorize answered → hold seen in a block)"]?.push(hold === undefined ? Infinity : hold - t.t3);
  }
  const stages: Record<string, Summary> = Object.fromEntries(Object.entries(stage).map(([k, v]) => [k, summarize(v)]));
  const gossipSummary = summarize(gossip);
  const slowest = Object.entries(stages).sort((a, b) => b[1].p99 - a[1].p99)[0];
  const stageText = Object.entries(stages)
    .map(([k, s]) => `${k} p50 ${fmt(s.p50)} / p99 ${fmt(s.p99)} ms`)
    .join("; ");
  const windowBlocks = scan.blocks.filter((b) => {
    const seen = watcher.blockSeenAt.get(b.number);
    return seen !== undefined && seen >= windowStart && seen <= loadEnd;
  });
  const cpuVerdict = cpuBottleneck(cpuShares, cpus().length, cpu.otherCores);
  const perPayment = cpuPerUnit(cpuShares, held, "payment", { cores: idle, windowSeconds: cpu.seconds });
  const groupSizes = groupSizesText(groupsBefore, groupsAfter, held);
  progress.log(groupSizes);
  const writes = writesPerPayment(writesBefore, writesAfter, held);
  const writesLine = writesText(writes);
  progress.log(writesLine);
  const failed = failures.byCode();
  const ok = failures.total === 0;
  const duplicatePercent = duplicates.relayed > 0 ? (100 * duplicates.duplicates) / duplicates.relayed : 0;

  const rateMet = meets(rate, RATE) && ok;
  const p99Met = meets(latency.p99, P99_MS) && ok;
  const cpuMet = meets(perPayment.system, CPU_MS) && ok;
  const chainName = cluster.processes().find((p) => p.role === "chain")?.name ?? "chain";
  const network = `${nodes.length} institution node${nodes.length === 1 ? "" : "s"}, ${chainName} and gateway, node default relay settings`;
  const notes = `${options.concurrency} concurrent shoppers (create → sign → authorise), ${options.seconds} s; ${fmt(timed.length)} authorised, ${fmt(held)} held; ${network}`;
  const roleText =
    `origin node ${fmt(perPayment.originNode ?? Number.NaN, 2)}, ${peers.length > 0 ? `each of ${peers.length} peers ${fmt(perPayment.peerNode ?? Number.NaN, 2)}, ` : ""}` +
    `gateway ${fmt(perPayment.gateway ?? Number.NaN, 2)}, chain ${fmt(perPayment.chain ?? Number.NaN, 2)} ms per payment; load generator ${fmt(perPayment.loadGenerator, 2)} ms apart`;
  const cpuRowBottleneck = (() => {
    const roles: [string, number | null][] = [
      ["origin node", perPayment.originNode],
      [`peer nodes (${peers.length})`, perPayment.peerNode === null ? null : perPayment.peerNode * peers.length],
      ["gateway", perPayment.gateway],
      ["chain", perPayment.chain],
    ];
    const worst = roles.filter((r): r is [string, number] => r[1] !== null).sort((a, b) => b[1] - a[1])[0];
    return { stage: `CPU of ${worst?.[0] ?? "?"} per payment`, evidence: roleText };
  })();
  return {
    name,
    rows: [
      {
        benchmark: name,
        metric: "escrow payments created, signed and held on-chain, sustained",
        value: rate,
        unit: "payments/s",
        target: `≥ ${fmt(RATE.value)}/s`,
        met: rateMet,
        goal: RATE,
        failures: failed,
        notes,
        cpu: perPayment,
        duplicates,
        ...(rateMet ? {} : { bottleneck: { stage: cpuVerdict.stage, evidence: `${cpuVerdict.evidence}; per payment: ${stageText}` } }),
      },
      {
        benchmark: name,
        metric: "p99 latency, API call → on-chain hold",
        value: latency.p99,
        unit: "ms",
        target: `≤ ${fmt(P99_MS.value)} ms`,
        met: p99Met,
        goal: P99_MS,
        failures: failed,
        notes:
          `p50 ${fmt(latency.p50)} ms over ${fmt(latency.count)} authorised payments (one never held counts as ∞)` +
          (peers.length > 0 ? `; gossip to the other ${peers.length} nodes p50 ${fmt(gossipSummary.p50)} / p99 ${fmt(gossipSummary.p99)} ms (in parallel with the relay)` : ""),
        ...(p99Met || !slowest ? {} : { bottleneck: { stage: slowest[0], evidence: stageText } }),
      },
      {
        benchmark: name,
        metric: "CPU per payment, summed over every process (load generator apart)",
        value: perPayment.system,
        unit: "ms",
        target: `≤ ${CPU_MS.value} ms`,
        met: cpuMet,
        goal: CPU_MS,
        failures: failed,
        notes:
          `${roleText}; from /proc/<pid>/stat over the load and the drain (${fmt(cpu.seconds, 1)} s), divided by the ${fmt(held)} payments held; ` +
          `of the sum, ${fmt(perPayment.idleSystem ?? Number.NaN, 2)} ms is the processes' background with no load (${fmt(idle, 3)} cores, measured for ${options.idleSeconds} s before); ${groupSizes}; ${writesLine}`,
        ...(cpuMet ? {} : { bottleneck: cpuRowBottleneck }),
      },
      {
        benchmark: name,
        metric: "payment.held webhook p99 delay after the hold was seen on-chain",
        value: webhookDelays.p99,
        unit: "ms",
        target: `≤ ${fmt(WEBHOOK_P99_MS.value)} ms`,
        met: meets(webhookDelays.p99, WEBHOOK_P99_MS) && ok,
        goal: WEBHOOK_P99_MS,
        failures: failed,
        notes:
          `p50 ${fmt(webhookDelays.p50)} ms over ${fmt(heldIds.length)} held payments (one never delivered counts as ∞); one endpoint per merchant on a receiver in the load generator that verifies every signature; ` +
          `${fmt(receiver.duplicates)} repeated deliveries of an event already received; the hold is "seen" when the harness's chain watcher reads its block; ` +
          Object.entries(webhookStages).map(([stage, d]) => `${stage} p50 ${fmt(d.p50)} / p99 ${fmt(d.p99)} ms`).join("; "),
      },
      {
        benchmark: name,
        metric: "duplicate relayed items (share of escrow items sent on-chain)",
        value: duplicatePercent,
        unit: "%",
        target: `≤ ${DUPLICATE_PERCENT.value}%`,
        met: meets(duplicatePercent, DUPLICATE_PERCENT),
        goal: DUPLICATE_PERCENT,
        failures: failed,
        notes: `${fmt(duplicates.duplicates)} of ${fmt(duplicates.relayed)} items in ${fmt(scan.relayed.transactions)} escrow transactions, from the blocks' calldata; nodes' ${duplicates.metric === null ? "settlenet_relay_duplicate_items_total n/a (not exported)" : `settlenet_relay_duplicate_items_total ${fmt(duplicates.metric)}`}`,
      },
    ],
    details: {
      concurrency: options.concurrency,
      seconds: options.seconds,
      authorised: timed.length,
      held,
      failures: failed,
      failureSummary: describeFailures(failed),
      failureExamples: failures.examples,
      heldInWindow,
      windowSeconds: (loadEnd - windowStart) / 1000,
      unheld,
      executedTwice: watcher.executedTwice(),
      latencyMs: jsonSummary(latency),
      stagesMs: Object.fromEntries(Object.entries(stages).map(([k, s]) => [k, jsonSummary(s)])),
      gossipToPeersMs: jsonSummary(gossipSummary),
      sampled: sample.length,
      chain: {
        blocks: scan.blocks.length,
        blocksInWindow: windowBlocks.length,
        transactionsInWindow: windowBlocks.reduce((n, b) => n + b.transactions, 0),
        gasPerSecondInWindow: windowBlocks.reduce((n, b) => n + b.gasUsed, 0) / ((loadEnd - windowStart) / 1000),
        relayed: scan.relayed,
      },
      duplicates,
      webhooks: { held: heldIds.length, delivered: heldIds.length - undelivered, repeated: receiver.duplicates, rejected: receiver.rejected.length, delayMs: jsonSummary(webhookDelays), stagesMs: Object.fromEntries(Object.entries(webhookStages).map(([k, d]) => [k, jsonSummary(d)])) },
      cpu: cpuShares,
      writesPerPayment: writes,
      machineCores: { busy: cpu.machineCores, otherWork: cpu.otherCores },
      cpuWindowSeconds: cpu.seconds,
      // For bench/profile.ts: the windows on the clock CPU profiles use (idle: per second of quiet).
      profileWindows: { load: { ...cpu.window, units: held }, ...(idleWindow ? { idle: { ...idleWindow, units: options.idleSeconds } } : {}) },
      cpuMsPerPayment: perPayment,
      idleCores: idle,
      // Each process's background with no load, per second (so a role's load figure can be read net of it: at a
      // low rate the background is a large share of each payment's figure).
      idleCoresByProcess: Object.fromEntries(idleShares.map((s) => [s.process, { role: s.role, cores: s.cores }])),
      // Batch items the chain refused during the run: as already executed (relayed twice), or otherwise.
      batchItems: { duplicate: watcher.items.duplicate, failed: watcher.items.failed },
      peers: peers.length,
    },
    durationSeconds: (performance.now() - started) / 1000,
  };
}

/** A receiver in this process with one `payment.held` endpoint per merchant (its own path and secret). */
async function webhookReceiver(cluster: Cluster): Promise<WebhookReceiver> {
  const receiver = new WebhookReceiver();
  await receiver.start();
  for (const [i, client] of cluster.clients.entries()) {
    const path = `/hooks/${i}`;
    const created = await client.post<{ secret: string }>("/v1/webhook-endpoints", { url: `http://127.0.0.1:${receiver.port}${path}`, eventTypes: ["payment.held"] });
    if (created.status !== 201) throw new Error(`webhook endpoint not created: ${created.status} ${JSON.stringify(created.body).slice(0, 200)}`);
    receiver.secretsByPath.set(path, created.body.secret);
  }
  return receiver;
}

/** When each payment's first `payment.held` delivery arrived (Date.now()) and its event's `timestamp`, by payment id. */
function heldDeliveries(receiver: WebhookReceiver): Map<string, { atMs: number; eventAtMs: number }> {
  const at = new Map<string, { atMs: number; eventAtMs: number }>();
  for (const w of receiver.ofType("payment.held")) {
    const id = String(w.payload.data["paymentId"]).toLowerCase();
    const known = at.get(id);
    if (known === undefined || w.receivedAtMs < known.atMs) at.set(id, { atMs: w.receivedAtMs, eventAtMs: Date.parse(w.payload.timestamp) });
  }
  return at;
}
