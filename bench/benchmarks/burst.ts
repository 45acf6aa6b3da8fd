/**
 * burst: a burst of 10× the network's capacity for 30 s at one institution node's API, and the way back.
 * Three phases on one network, all from one pool of pre-signed payments, in batches of 100:
 *  1. before: a client that keeps `concurrency` batches in flight and waits Retry-After when refused
 *     (as a well-behaved client does) for `baselineSeconds`; the capacity is the rate at which its
 *     payments were held on-chain in the phase's second half.
 *  2. the burst: batches sent on a clock (open loop, not waiting for answers) at `factor` × that capacity
 *     for `burstSeconds`. A payment refused with a retryable code goes back to the pool, to be offered
 *     again (a client retrying), so every offer is new demand or a retry and the pool holds what the
 *     network can accept. At most `maxInFlight` batches wait for an answer; an offer the clock made
 *     while that many were waiting is counted as not sent.
 *  3. after: the client of phase 1 again, until payments it submitted after the burst are held at
 *     `fullRateShare` of the capacity or more over `rateWindowSeconds`, every payment accepted in the
 *     burst is held, or `recoverSeconds` have passed.
 * Counted: accepted; refused with a retryable code (admission control: RELAY_BACKLOG, HTTP 503), which is
 * the system working as designed; every other refusal or unanswered batch, a failure by code; lost =
 * accepted but never held (after the recovery wait), executed twice = paid more than once on-chain; the
 * seconds from the burst's end until every payment accepted in it is held, and until new payments are
 * held at full rate again. CPU per payment by role and duplicate relayed items are measured over all
 * three phases.
 */
import { isRetryLater, type NodeApiClient } from "../../core/api/client.js";
import type { EscrowOperationInput } from "../../core/operations/index.js";
import { HoldWatcher } from "../lib/chain-watch.js";
import type { Cluster } from "../lib/cluster.js";
import { CpuMeter, cpuPerUnit, idleCores } from "../lib/cpu.js";
import { Failures, RETRYABLE_CODES, codeOfError, describeFailures } from "../lib/failures.js";
import { nodeApi } from "../lib/node-api.js";
import { clusterPaySigner } from "../lib/ops.js";
import { Progress } from "../lib/progress.js";
import { duplicateMetric, relayedInWindow } from "../lib/relay-check.js";
import { fmt, meets, type BenchmarkResult, type Goal } from "../lib/results.js";

const LOST: Goal = { compare: "atMost", value: 0 };
const RECOVER_SECONDS: Goal = { compare: "atMost", value: 60 };
const DUPLICATE_PERCENT: Goal = { compare: "atMost", value: 1 };
const BATCH = 100;
/** An accepted payment not held this long after the burst's end counts as lost. */
const LOST_WAIT_SECONDS = 300;

export interface BurstOptions {
  /** Seconds of the phase before the burst that measures the capacity. */
  baselineSeconds: number;
  /** Seconds of the burst. */
  burstSeconds: number;
  /** The burst offers this many times the capacity. */
  factor: number;
  /** Batches the closed-loop client of phases 1 and 3 keeps in flight. */
  concurrency: number;
  /** Batches the burst lets wait for an answer at once. */
  maxInFlight: number;
  /** Longest wait after the burst for full rate and for every accepted payment to be held. */
  recoverSeconds: number;
  /** Share of the capacity that counts as full rate again. */
  fullRateShare: number;
  /** Window over which the rate after the burst is measured. */
  rateWindowSeconds: number;
  /** Payments signed before the clock starts (the pool every phase draws from). */
  payments: number;
  /** Quiet seconds measured before the burst, for the processes' background CPU. */
  idleSeconds: number;
}

type Signed = { id: string; op: EscrowOperationInput };

/** What the phases submitted and what the node answered. */
class Offers {
  readonly accepted = new Map<string, number>(); // id → Date.now() when accepted
  readonly retryable = new Failures();
  readonly failures = new Failures();
  offered = 0;
  notSent = 0;
  /** Payments to offer, refused ones back at the end. */
  private next = 0;

  constructor(private readonly pool: Signed[]) {}

  take(n: number): Signed[] {
    const batch = this.pool.slice(this.next, this.next + n);
    this.next += batch.length;
    return batch;
  }

  get left(): number {
    return this.pool.length - this.next;
  }

  /** Sends one batch; refused-retryable payments go back to the pool. Resolves to the Retry-After of a batch refused as a whole. */
  async send(api: NodeApiClient, batch: Signed[]): Promise<number | undefined> {
    this.offered += batch.length;
    try {
      const answer = await api.submitBatch(batch.map((b) => b.op));
      const at = Date.now();
      for (const [i, r] of answer.results.entries()) {
        const signed = batch[i] as Signed;
        if (r.status === "accepted") this.accepted.set(r.id.toLowerCase(), at);
        else if (RETRYABLE_CODES.has(r.code)) {
          this.retryable.add(r.code);
          this.pool.push(signed);
        } else this.failures.add(r.code, `${signed.id}: ${r.problem.title}`);
      }
      return undefined;
    } catch (error) {
      const code = codeOfError(error);
      if (!RETRYABLE_CODES.has(code)) {
        // Unanswered or refused otherwise: the fate of these payments is unknown, so none is offered again.
        this.failures.add(code, (error as Error).message, batch.length);
        return undefined;
      }
      this.retryable.add(code, undefined, batch.length);
      this.pool.push(...batch);
      return isRetryLater(error) ? error.retryAfterSeconds : 1;
    }
  }
}

/** Keeps `concurrency` batches in flight until `stop()`; a worker refused as a whole waits Retry-After (or until stopped). */
async function closedLoop(api: NodeApiClient, offers: Offers, concurrency: number, stop: () => boolean, onBatch: (batch: Signed[]) => void = () => {}): Promise<void> {
  const wait = async (seconds: number) => {
    const until = Date.now() + seconds * 1000;
    while (!stop() && Date.now() < until) await new Promise((r) => setTimeout(r, 50));
  };
  await Promise.all(
    Array.from({ length: concurrency }, async () => {
      while (!stop()) {
        const batch = offers.take(BATCH);
        if (batch.length === 0) return;
        onBatch(batch);
        const retryAfter = await offers.send(api, batch);
        if (retryAfter !== undefined) await wait(retryAfter);
      }
    }),
  );
}

/** Holds per second among `times` within [from, to). */
function rateIn(times: Iterable<number>, from: number, to: number): number {
  let n = 0;
  for (const t of times) if (t >= from && t < to) n += 1;
  return (n * 1000) / Math.max(1, to - from);
}

export async function runBurst(cluster: Cluster, options: BurstOptions): Promise<BenchmarkResult> {
  const progress = new Progress("burst");
  const started = performance.now();
  const { scenario, nodes } = cluster.net;
  const origin = nodes[0];
  if (!origin) throw new Error("no institution node");
  const escrow = scenario.deployment.contracts.escrow;
  const sign = clusterPaySigner(scenario);
  const pool: Signed[] = [];
  for (let i = 0; i < options.payments; i++) {
    pool.push(sign(i));
    if (i % 5_000 === 0) progress.update(`signing: ${fmt(i)} / ${fmt(options.payments)}`);
  }
  progress.log(`signed ${fmt(pool.length)} payments for ${origin.name}, offered in batches of ${BATCH}`);

  const api = nodeApi(origin.apiUrl);
  const idle = await idleCores(() => cluster.processes(), options.idleSeconds);
  const watcher = new HoldWatcher(scenario.chain.provider, escrow);
  await watcher.start();
  const metricBefore = await duplicateMetric(nodes);
  const offers = new Offers(pool);
  const cpu = new CpuMeter(() => cluster.processes());
  await cpu.begin();
  const heldOf = (ids: Iterable<string>) => {
    const times: number[] = [];
    for (const id of ids) {
      const t = watcher.holds.get(id);
      if (t !== undefined) times.push(t);
    }
    return times;
  };

  // 1. Before: the capacity, from the second half of the phase (the first fills the pipeline).
  const baselineStart = Date.now();
  const baselineEnd = baselineStart + options.baselineSeconds * 1000;
  const baselineIds = new Set<string>();
  let stopProgress = progress.every(500, () => `before the burst: ${fmt(offers.accepted.size)} accepted, ${fmt(watcher.holds.size)} held`);
  await closedLoop(api, offers, options.concurrency, () => Date.now() >= baselineEnd, (batch) => batch.forEach((b) => baselineIds.add(b.id.toLowerCase())));
  stopProgress();
  const measuredFrom = baselineStart + (options.baselineSeconds * 1000) / 2;
  const capacity = rateIn(heldOf(baselineIds), measuredFrom, baselineEnd);
  if (!(capacity > 0)) throw new Error(`no payment was held in the second half of the ${options.baselineSeconds} s before the burst`);
  const offeredRate = capacity * options.factor;
  progress.log(`capacity before the burst: ${fmt(capacity)} payments/s held; offering ${fmt(offeredRate)}/s for ${options.burstSeconds} s`);

  // 2. The burst: a batch every BATCH / offeredRate seconds, whatever the answers.
  const burstAcceptedBefore = new Set(offers.accepted.keys());
  const burstStart = Date.now();
  const burstEnd = burstStart + options.burstSeconds * 1000;
  const offeredBefore = offers.offered;
  const retryableBefore = offers.retryable.total;
  let inFlight = 0;
  let slots = 0;
  const sends: Promise<unknown>[] = [];
  stopProgress = progress.every(500, () => `burst: ${fmt(offers.offered - offeredBefore)} offered, ${fmt(offers.accepted.size - burstAcceptedBefore.size)} accepted, ${fmt(offers.retryable.total - retryableBefore)} refused retryable, ${fmt(inFlight)} batches waiting`);
  while (Date.now() < burstEnd) {
    const due = Math.floor(((Date.now() - burstStart) / 1000) * (offeredRate / BATCH));
    for (; slots < due; slots++) {
      if (inFlight >= options.maxInFlight) {
        offers.notSent += BATCH;
        continue;
      }
      const batch = offers.take(BATCH);
      if (batch.length === 0) {
        offers.failures.add("POOL_EXHAUSTED", "the pre-signed pool ran out during the burst", BATCH);
        continue;
      }
      inFlight += 1;
      sends.push(offers.send(api, batch).finally(() => (inFlight -= 1)));
    }
    await new Promise((r) => setTimeout(r, 2));
  }
  await Promise.all(sends);
  stopProgress();
  const answeredAt = Date.now();
  const burstAccepted = [...offers.accepted.keys()].filter((id) => !burstAcceptedBefore.has(id));
  const burstOffered = offers.offered - offeredBefore;
  const burstRefused = offers.retryable.total - retryableBefore;
  progress.log(
    `burst: ${fmt(burstOffered)} offered in ${fmt((answeredAt - burstStart) / 1000, 1)} s (${fmt(offers.notSent)} not sent with ${fmt(options.maxInFlight)} batches already waiting), ${fmt(burstAccepted.length)} accepted, ${fmt(burstRefused)} refused retryable, ${describeFailures(offers.failures.byCode())}`,
  );

  // 3. After: the same client as before, until new payments are held at full rate and the burst's are all held.
  const afterIds = new Set<string>();
  const windowMs = options.rateWindowSeconds * 1000;
  let fullRateAt: number | undefined;
  let allHeldAt: number | undefined;
  const recoverEnd = burstEnd + options.recoverSeconds * 1000;
  const check = () => {
    const now = Date.now();
    if (allHeldAt === undefined && burstAccepted.every((id) => watcher.holds.has(id))) allHeldAt = Math.max(burstEnd, ...heldOf(burstAccepted));
    if (fullRateAt === undefined) {
      // The earliest window start (by 100 ms from the burst's end) whose window is over and held new payments at full rate.
      const step = 100;
      const width = Math.round(windowMs / step);
      const buckets = new Array<number>(Math.max(0, Math.floor((now - burstEnd) / step))).fill(0);
      for (const t of heldOf(afterIds)) {
        const i = Math.floor((t - burstEnd) / step);
        if (i >= 0 && i < buckets.length) buckets[i] = (buckets[i] ?? 0) + 1;
      }
      let inWindow = buckets.slice(0, width).reduce((a, b) => a + b, 0);
      for (let from = 0; from + width <= buckets.length; from++) {
        if (from > 0) inWindow += (buckets[from + width - 1] ?? 0) - (buckets[from - 1] ?? 0);
        if ((inWindow * 1000) / windowMs >= capacity * options.fullRateShare) {
          fullRateAt = burstEnd + from * step;
          break;
        }
      }
    }
    return (fullRateAt !== undefined && allHeldAt !== undefined) || now >= recoverEnd;
  };
  stopProgress = progress.every(500, () => `after the burst: ${fmt(heldOf(afterIds).length)} new payments held, ${fmt(heldOf(burstAccepted).length)} / ${fmt(burstAccepted.length)} of the burst's held`);
  let done = false;
  const checker = setInterval(() => (done = done || check()), 250);
  await closedLoop(api, offers, options.concurrency, () => done, (batch) => batch.forEach((b) => afterIds.add(b.id.toLowerCase())));
  // The client stops when the pool runs out too; the check goes on until its end.
  while (!done) await new Promise((r) => setTimeout(r, 250));
  clearInterval(checker);
  stopProgress();
  if (offers.left === 0 && fullRateAt === undefined) offers.failures.add("POOL_EXHAUSTED", "the pre-signed pool ran out after the burst");
  // Whatever was accepted and is not held yet gets a longer wait: late is not lost.
  const everyAccepted = () => [...offers.accepted.keys()].every((id) => watcher.holds.has(id));
  const lostEnd = burstEnd + LOST_WAIT_SECONDS * 1000;
  while (Date.now() < lostEnd && !everyAccepted()) await new Promise((r) => setTimeout(r, 250));
  await watcher.stop();
  const cpuShares = await cpu.end();

  const acceptedIds = [...offers.accepted.keys()];
  const lost = acceptedIds.filter((id) => !watcher.holds.has(id)).length;
  const executedTwice = watcher.executedTwice();
  const held = acceptedIds.length - lost;
  const failures = offers.failures;
  failures.add("NOT_HELD", `${lost} accepted payments not held ${LOST_WAIT_SECONDS} s after the burst`, lost);
  failures.add("EXECUTED_TWICE", "a payment paid more than once on-chain", executedTwice);
  const secondsToHeld = allHeldAt === undefined ? null : (allHeldAt - burstEnd) / 1000;
  const secondsToFullRate = fullRateAt === undefined ? null : (fullRateAt - burstEnd) / 1000;
  progress.log(`reading the chain's blocks ${watcher.firstBlock}..${watcher.lastBlock} for relayed items`);
  const { duplicates, scan } = await relayedInWindow({ provider: scenario.chain.provider, escrow, nodes }, { from: watcher.firstBlock, to: watcher.lastBlock, metricBefore });
  const perPayment = cpuPerUnit(cpuShares, held, "payment", { cores: idle, windowSeconds: cpu.seconds });
  const failed = failures.byCode();
  const refusedRetryable = offers.retryable.byCode();
  const ok = failures.total === 0;
  const afterRate = fullRateAt === undefined ? undefined : rateIn(heldOf(afterIds), fullRateAt, fullRateAt + windowMs);
  const refusedText = burstRefused === 0 ? "none refused with a retryable code" : `${fmt(burstRefused)} offers refused retryable (${Object.entries(refusedRetryable).map(([c, n]) => `${fmt(n)} ${c} in all phases`).join(", ")})`;
  const notes =
    `capacity before the burst ${fmt(capacity)} payments/s held (closed loop, ${options.concurrency} batches of ${BATCH} in flight, ${options.baselineSeconds} s); ` +
    `the burst offered ${fmt(offeredRate)}/s (${options.factor}×) for ${options.burstSeconds} s to ${origin.name}: ${fmt(burstOffered)} offers (refused payments offered again), ` +
    `${fmt(offers.notSent)} not sent (${options.maxInFlight} batches already waiting), answered within ${fmt((answeredAt - burstStart) / 1000, 1)} s; ${fmt(burstAccepted.length)} accepted (${fmt(burstAccepted.length / options.burstSeconds)}/s, ${fmt((100 * burstAccepted.length) / options.burstSeconds / capacity)}% of the capacity), ${refusedText}; ` +
    `${nodes.length} institution nodes, chain and gateway`;
  const lostValue = lost + executedTwice;
  const duplicatePercent = duplicates.relayed > 0 ? (100 * duplicates.duplicates) / duplicates.relayed : 0;
  const heldMet = secondsToHeld !== null && meets(secondsToHeld, RECOVER_SECONDS) && ok;
  const fullRateMet = secondsToFullRate !== null && meets(secondsToFullRate, RECOVER_SECONDS) && ok;
  const cpuText = cpuShares.map((s) => `${s.process} ${fmt(s.cores, 2)} cores`).join(", ");
  return {
    name: "burst",
    rows: [
      {
        benchmark: "burst",
        metric: `${options.factor}× capacity offered for ${options.burstSeconds} s: payments accepted during the burst`,
        value: burstAccepted.length,
        unit: "payments",
        target: "–",
        met: undefined,
        failures: failed,
        notes,
      },
      {
        benchmark: "burst",
        metric: "accepted payments lost (never executed) or executed twice",
        value: lostValue,
        unit: "payments",
        target: "= 0",
        met: meets(lostValue, LOST) && ok,
        goal: LOST,
        failures: failed,
        notes: `${fmt(lost)} lost (not held ${LOST_WAIT_SECONDS} s after the burst), ${fmt(executedTwice)} executed twice, of ${fmt(acceptedIds.length)} accepted in all three phases`,
      },
      {
        benchmark: "burst",
        metric: "seconds from the burst's end until every payment accepted during it is executed",
        value: secondsToHeld,
        unit: "s",
        target: `≤ ${RECOVER_SECONDS.value} s`,
        met: heldMet,
        goal: RECOVER_SECONDS,
        failures: failed,
        notes: `${secondsToHeld === null ? `NOT every payment accepted during the burst was held within ${options.recoverSeconds} s; ` : ""}${fmt(burstAccepted.length)} accepted during the burst; CPU per payment over the three phases (${fmt(cpu.seconds, 1)} s) for the ${fmt(held)} payments held`,
        cpu: perPayment,
        duplicates,
        ...(heldMet ? {} : { bottleneck: { stage: "relay and chain behind the backlog", evidence: `${fmt(duplicates.duplicates)} duplicate relayed items of ${fmt(duplicates.relayed)}; CPU: ${cpuText}` } }),
      },
      {
        benchmark: "burst",
        metric: `seconds from the burst's end until new payments are held at ≥ ${Math.round(options.fullRateShare * 100)}% of the capacity before it`,
        value: secondsToFullRate,
        unit: "s",
        target: `≤ ${RECOVER_SECONDS.value} s`,
        met: fullRateMet,
        goal: RECOVER_SECONDS,
        failures: failed,
        notes:
          secondsToFullRate === null
            ? `payments submitted after the burst were NOT held at ${fmt(capacity * options.fullRateShare)}/s over any ${options.rateWindowSeconds} s within ${options.recoverSeconds} s`
            : `payments submitted after the burst (same client as before it) held at ${fmt(afterRate ?? 0)}/s over the ${options.rateWindowSeconds} s from then, against ${fmt(capacity)}/s before the burst`,
        ...(fullRateMet ? {} : { bottleneck: { stage: "admission and relay after the burst", evidence: `CPU: ${cpuText}` } }),
      },
      {
        benchmark: "burst",
        metric: "duplicate relayed items (share of escrow items sent on-chain)",
        value: duplicatePercent,
        unit: "%",
        target: `≤ ${DUPLICATE_PERCENT.value}%`,
        met: meets(duplicatePercent, DUPLICATE_PERCENT) && ok,
        goal: DUPLICATE_PERCENT,
        failures: failed,
        notes: `${fmt(duplicates.duplicates)} of ${fmt(duplicates.relayed)} items in ${fmt(scan.relayed.transactions)} escrow transactions over the three phases, from the blocks' calldata (each costs gas and chain time; only the first relay of an operation can execute); nodes' ${duplicates.metric === null ? "settlenet_relay_duplicate_items_total n/a (not exported)" : `settlenet_relay_duplicate_items_total ${fmt(duplicates.metric)}`}`,
      },
    ],
    details: {
      capacity,
      offeredRate,
      factor: options.factor,
      baselineSeconds: options.baselineSeconds,
      burstSeconds: options.burstSeconds,
      batch: BATCH,
      concurrency: options.concurrency,
      maxInFlight: options.maxInFlight,
      pool: options.payments,
      burstOffered,
      notSent: offers.notSent,
      burstAccepted: burstAccepted.length,
      accepted: acceptedIds.length,
      refusedRetryable,
      failures: failed,
      failureExamples: failures.examples,
      lost,
      executedTwice,
      secondsToHeld,
      secondsToFullRate,
      rateAfter: afterRate ?? null,
      recoverSeconds: options.recoverSeconds,
      chain: { blocks: scan.blocks.length, relayed: scan.relayed },
      duplicates,
      duplicatePercent,
      cpu: cpuShares,
      machineCores: { busy: cpu.machineCores, otherWork: cpu.otherCores },
      cpuWindowSeconds: cpu.seconds,
      cpuMsPerPayment: perPayment,
      idleCores: idle,
    },
    durationSeconds: (performance.now() - started) / 1000,
  };
}
