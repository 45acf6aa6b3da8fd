/**
 * Settlement cycles (清结算) on one node. Each tick it
 * 1. closes every cycle whose end the chain has passed (a block with timestamp ≥ end is known; the
 *    boundaries are chain time, so every node cuts the same block range), once the indexer has indexed
 *    through the cycle's last block;
 * 2. builds the cycle's records twice, from a fresh read of the chain and from its own store, and
 *    compares them: equal → an institution node signs the EIP-712 `Cycle` summary, stores the
 *    attestation and gossips it; different → it does not sign and raises an alert naming the records;
 * 3. follows open cycles: gathers attestations of its summary and, once more than two thirds of the
 *    active institutions attested, submits `SettlementLedger.finalize` through the key's transaction
 *    sender (the relayer's) — one institution at a time in the cycle's failover order
 *    (core/chain/failover.ts), the first at quorum, each later one only after
 *    `finalizeFailoverMs × position` and only if the cycle is still open; "already finalized" is success;
 * 4. records the on-chain finalization and alerts when its root is not this node's.
 * Attestations of a root other than this node's raise an alert too. A regulator node builds and checks
 * cycles (for proofs and statements) but never signs or submits.
 */
import { Contract, Interface, ZeroHash, getAddress, type AbstractProvider, type Signer } from "ethers";
import { Counter, Histogram, type Registry } from "prom-client";

import { failoverDelayMs, failoverPosition } from "../../core/chain/failover.js";
import { outcomeOf, revertDataOf } from "../../core/chain/outcome.js";
import { SettlenetError } from "../../core/errors.js";
import type { GossipValidationResult } from "../p2p/network.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { describe, type TransactionSender } from "../relay/sender.js";
import type { Logger, RegistryView, Storage } from "../services.js";
import type { CycleState, LevelCycleRepository, SettlementAlert, SettlementAlertType } from "../storage/cycles.js";
import { decodeAttestation, encodeAttestation, recoverCycleSigner, signCycle, type AttestationRecord, type LedgerContext } from "./attestation.js";
import { buildCycle, diffRecords, type RecordDifference } from "./records.js";
import { PAYMENT_KINDS, recordToJson, summaryFromJson, summaryToJson } from "../../core/settlement/records.js";
import { ChainClock, ChainEventSource, storeEvents, type CycleWindow } from "./source.js";

export interface CycleServiceOptions {
  deployment: Deployment;
  /** Cycle length in seconds of chain time (86 400: daily, UTC days). */
  cycleSeconds: number;
  /** Pause between ticks. */
  tickMs: number;
  /** Wait per failover position before a later institution submits a finalization the first did not. */
  finalizeFailoverMs: number;
  /** How often an open cycle's own attestation is gossiped again (late or restarted peers). */
  rebroadcastMs: number;
  /** Blocks behind the head treated as not yet final (as the indexer). */
  confirmations: number;
  /** This node's institution id; absent on a regulator node (never signs). */
  institutionId?: string;
}

export interface CycleServiceModules {
  provider: AbstractProvider;
  storage: Storage & { cycles: LevelCycleRepository };
  registry: RegistryView;
  /** The operator's key, which signs attestations (institutions only). */
  wallet?: Signer;
  /** The transaction sender of the operator's key, which sends finalize (institutions only). */
  sender?: TransactionSender;
  /** Publishes on the attestations topic. */
  publish?: (data: Uint8Array) => Promise<number>;
  logger: Logger;
  metrics: Registry;
}

const PROGRESS_META = "settlement.progress";
const PROGRESS_VERSION = 1;

interface Progress {
  v: number;
  cycleSeconds: number;
  /** Next cycle to close and the first block at or after its start. */
  nextCycle: string;
  fromBlock: number;
}

/** Builds, attests, finalizes and checks settlement cycles; see the module comment. */
export class CycleService {
  private readonly clock: ChainClock;
  private readonly chainSource: ChainEventSource;
  private readonly ledger: Contract;
  private readonly ledgerIface = new Interface(loadArtifact("SettlementLedger").abi);
  private readonly ctx: LedgerContext;
  private readonly log: Logger;
  private readonly lastBroadcast = new Map<string, number>();
  private readonly submitting = new Set<string>();
  private readonly m: {
    built: Counter<"status">;
    received: Counter<"outcome">;
    submissions: Counter<"outcome">;
    finalized: Counter<"matches">;
    alerts: Counter<"type">;
    buildSeconds: Histogram;
  };
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = true;
  /** Aborted by stop(): ends a wait for a finalize receipt. */
  private abort = new AbortController();

  constructor(
    private readonly options: CycleServiceOptions,
    private readonly modules: CycleServiceModules,
  ) {
    if (!Number.isInteger(options.cycleSeconds) || options.cycleSeconds < 1) {
      throw new SettlenetError("INVALID_ARGUMENT", "cycleSeconds must be a positive integer", { cycleSeconds: options.cycleSeconds });
    }
    if (options.institutionId && (!modules.wallet || !modules.sender || !modules.publish)) {
      throw new SettlenetError("INVALID_ARGUMENT", "an attesting node needs its wallet, its transaction sender and the attestation publisher", {});
    }
    this.clock = new ChainClock(modules.provider);
    this.chainSource = new ChainEventSource(options.deployment, modules.provider);
    this.ledger = new Contract(options.deployment.contracts.ledger, loadArtifact("SettlementLedger").abi, modules.provider);
    this.ctx = { chainId: BigInt(options.deployment.chainId), ledger: options.deployment.contracts.ledger };
    this.log = modules.logger.child({ module: "settlement" });
    const registers = [modules.metrics];
    this.m = {
      built: new Counter({ name: "settlenet_cycles_built_total", help: "Settlement cycles built, by outcome", labelNames: ["status"], registers }),
      received: new Counter({ name: "settlenet_cycle_attestations_received_total", help: "Gossiped cycle attestations, by outcome", labelNames: ["outcome"], registers }),
      submissions: new Counter({ name: "settlenet_cycle_finalize_submissions_total", help: "finalize transactions sent by this node, by outcome", labelNames: ["outcome"], registers }),
      finalized: new Counter({ name: "settlenet_cycles_finalized_total", help: "Cycles seen finalized on-chain, by whether the root is this node's", labelNames: ["matches"], registers }),
      alerts: new Counter({ name: "settlenet_settlement_alerts_total", help: "Settlement alerts raised, by type", labelNames: ["type"], registers }),
      buildSeconds: new Histogram({ name: "settlenet_cycle_build_seconds", help: "Time to build and check one cycle", registers }),
    };
  }

  /** The cycle that chain time `timestamp` falls in. */
  cycleOf(timestamp: number): bigint {
    return BigInt(Math.floor(timestamp / this.options.cycleSeconds));
  }

  async start(): Promise<void> {
    if (!this.stopped) return;
    this.stopped = false;
    this.abort = new AbortController();
    this.schedule(0);
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.abort.abort();
    clearTimeout(this.timer);
    await this.running?.catch(() => undefined);
  }

  /** Runs one tick now (ticks never overlap). */
  tick(): Promise<void> {
    if (!this.running) {
      this.running = this.runTick().finally(() => {
        this.running = undefined;
      });
    }
    return this.running;
  }

  private schedule(delay: number): void {
    if (this.stopped) return;
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.tick()
        .catch((error: unknown) => {
          if (error instanceof SettlenetError && error.code === "STORAGE_CLOSED") return;
          this.log.warn({ err: error }, "settlement tick failed; retrying");
        })
        .finally(() => this.schedule(this.options.tickMs));
    }, delay);
    this.timer.unref();
  }

  private async runTick(): Promise<void> {
    await this.closeCycles();
    for (const state of await this.modules.storage.cycles.unfinalized()) {
      if (this.stopped) return;
      await this.followUp(state);
    }
  }

  // ---------------------------------------------------------------- closing cycles

  private async closeCycles(): Promise<void> {
    const { provider, storage } = this.modules;
    const head = (await provider.getBlockNumber()) - this.options.confirmations;
    const first = this.options.deployment.deploymentBlock;
    if (head < first) return;
    const headTime = await this.clock.timestampOf(head);
    let progress = await storage.getMeta<Progress>(PROGRESS_META);
    if (progress && progress.cycleSeconds !== this.options.cycleSeconds) {
      throw new SettlenetError("CYCLE_LENGTH_CHANGED", `cycles were cut at ${progress.cycleSeconds} s; the configuration now says ${this.options.cycleSeconds} s`, {
        stored: progress.cycleSeconds,
        configured: this.options.cycleSeconds,
      });
    }
    progress ??= { v: PROGRESS_VERSION, cycleSeconds: this.options.cycleSeconds, nextCycle: this.cycleOf(await this.clock.timestampOf(first)).toString(), fromBlock: first };
    const length = BigInt(this.options.cycleSeconds);
    for (;;) {
      if (this.stopped) return;
      const cycleId: bigint = BigInt(progress.nextCycle);
      const start = Number(cycleId * length);
      const end = start + this.options.cycleSeconds;
      if (headTime < end) return;
      const nextFrom = await this.clock.firstBlockAtOrAfter(end, progress.fromBlock, head);
      const window: CycleWindow = { cycleId, start, end, fromBlock: progress.fromBlock, toBlock: nextFrom - 1 };
      if (window.fromBlock <= window.toBlock) {
        const indexed = await storage.getCursor();
        // The store view must cover the whole window before it can be compared with the chain's.
        if (indexed === undefined || indexed < window.toBlock) return;
        if (!(await storage.cycles.get(cycleId))) await this.build(window);
      }
      progress = { ...progress, nextCycle: (cycleId + 1n).toString(), fromBlock: nextFrom };
      await storage.putMeta(PROGRESS_META, progress);
    }
  }

  private async build(window: CycleWindow): Promise<void> {
    const { storage, registry } = this.modules;
    const timer = this.m.buildSeconds.startTimer();
    const institutionOf = (merchant: string) => registry.account(merchant)?.institution;
    const chainEvents = await this.chainSource.events(window);
    const chainView = buildCycle(window.cycleId, chainEvents, institutionOf);
    const paymentIds = chainEvents.flatMap((e) => ("paymentId" in e ? [e.paymentId] : []));
    // Token movements are not in the payment index: both views take them from the chain.
    const tokenEvents = chainEvents.filter((e) => e.type === "minted" || e.type === "burned");
    const storeView = buildCycle(window.cycleId, [...(await storeEvents(storage, window, paymentIds)), ...tokenEvents], institutionOf);
    if (storeView.records.length === 0 && chainView.records.length === 0) {
      timer();
      return;
    }
    const cycleId = window.cycleId.toString();
    const differences = diffRecords(storeView.records, chainView.records, PAYMENT_KINDS);
    const state: CycleState = {
      cycleId,
      start: window.start,
      end: window.end,
      fromBlock: window.fromBlock,
      toBlock: window.toBlock,
      status: "built",
      summary: summaryToJson(storeView.summary),
      builtAtMs: Date.now(),
    };
    let attestation: AttestationRecord | undefined;
    let alert: SettlementAlert | undefined;
    if (differences.length > 0) {
      alert = this.alertOf(cycleId, "RECORDS_DIFFER", storeView.summary.merkleRoot, differences, { otherRoot: chainView.summary.merkleRoot });
      state.status = "diverged";
      state.alertId = alert.id;
    } else if (this.options.institutionId && this.modules.wallet) {
      const signer = getAddress(await this.modules.wallet.getAddress());
      const signature = await signCycle(this.ctx, this.modules.wallet, storeView.summary);
      attestation = { institution: getAddress(this.options.institutionId), signer, summary: state.summary, signature, receivedAtMs: Date.now(), origin: "self" };
      state.status = "attested";
    }
    await storage.cycles.saveBuilt(state, storeView.records.map(recordToJson), { ...(attestation ? { attestation } : {}), ...(alert ? { alert } : {}) });
    timer();
    this.m.built.inc({ status: state.status });
    if (alert) this.reportAlert(alert);
    this.log.info({ cycleId, status: state.status, records: storeView.records.length, root: state.summary.merkleRoot, fromBlock: window.fromBlock, toBlock: window.toBlock }, "settlement cycle built");
    if (attestation) await this.broadcast(state, attestation);
    // Attestations that arrived before this node closed the cycle.
    for (const other of await storage.cycles.attestations(cycleId)) await this.compareAttestation(state, other);
  }

  // ---------------------------------------------------------------- open cycles

  private async followUp(state: CycleState): Promise<void> {
    const onChain = (await this.ledger.getFunction("cycleOf")(BigInt(state.cycleId))) as { merkleRoot: string; attestationCount: bigint; finalizedAt: bigint };
    if (onChain.merkleRoot !== ZeroHash) {
      await this.recordFinalized(state, onChain);
      return;
    }
    if (state.status !== "attested" || !this.options.institutionId) return;
    const own = (await this.modules.storage.cycles.attestations(state.cycleId)).find(
      (a) => a.origin === "self" && a.summary.merkleRoot.toLowerCase() === state.summary.merkleRoot.toLowerCase(),
    );
    if (own && Date.now() - (this.lastBroadcast.get(state.cycleId) ?? 0) >= this.options.rebroadcastMs) await this.broadcast(state, own);

    const { signatures, active } = await this.quorumOf(state);
    if (signatures.length * 3 <= active.length * 2) return;
    let quorumSeenAtMs = state.quorumSeenAtMs;
    if (quorumSeenAtMs === undefined) {
      quorumSeenAtMs = Date.now();
      await this.modules.storage.cycles.update(state.cycleId, { quorumSeenAtMs });
      this.log.info({ cycleId: state.cycleId, attestations: signatures.length, active: active.length }, "quorum of attestations gathered");
    }
    const position = failoverPosition(BigInt(state.cycleId), this.options.institutionId, active.map((o) => o.id));
    if (position < 0 || Date.now() < quorumSeenAtMs + failoverDelayMs(position, this.options.finalizeFailoverMs)) return;
    await this.submit(state, signatures);
  }

  /** Valid attestations of this node's summary, one per active institution, by ascending institution id. */
  private async quorumOf(state: CycleState): Promise<{ signatures: string[]; active: { id: string; signer: string }[] }> {
    const active = this.modules.registry.activeInstitutions();
    const current = new Map(active.map((o) => [o.id.toLowerCase(), o.signer.toLowerCase()]));
    const summary = summaryFromJson(state.summary);
    const byInstitution = new Map<string, string>();
    for (const a of await this.modules.storage.cycles.attestations(state.cycleId)) {
      if (a.summary.merkleRoot.toLowerCase() !== state.summary.merkleRoot.toLowerCase()) continue;
      const institution = a.institution.toLowerCase();
      // Only the institution's current key counts (the ledger checks the same).
      if (current.get(institution) !== a.signer.toLowerCase()) continue;
      if (recoverCycleSigner(this.ctx, summary, a.signature).toLowerCase() !== a.signer.toLowerCase()) continue;
      byInstitution.set(institution, a.signature);
    }
    const ordered = [...byInstitution.entries()].sort(([x], [y]) => (BigInt(x) < BigInt(y) ? -1 : 1));
    return { signatures: ordered.map(([, signature]) => signature), active };
  }

  private async submit(state: CycleState, signatures: string[]): Promise<void> {
    const sender = this.modules.sender;
    if (!sender || this.submitting.has(state.cycleId)) return;
    this.submitting.add(state.cycleId);
    try {
      const data = this.ledgerIface.encodeFunctionData("finalize", [summaryFromJson(state.summary), signatures]);
      let txHash: string;
      try {
        ({ hash: txHash } = await sender.send({ to: this.options.deployment.contracts.ledger, data, extraGas: 20_000n, purpose: "finalize" }));
      } catch (error) {
        const revert = revertDataOf(error);
        const outcome = revert === undefined ? undefined : outcomeOf("finalize", revert);
        if (outcome?.kind === "alreadyExecuted") {
          // Another institution was first: that is success; the next tick records it from the chain.
          this.m.submissions.inc({ outcome: "already_finalized" });
          this.log.info({ cycleId: state.cycleId }, "cycle already finalized by another institution");
        } else {
          this.m.submissions.inc({ outcome: "error" });
          this.log.warn({ cycleId: state.cycleId, error: describe(error), revert: outcome?.kind === "failed" ? outcome.error.code : undefined }, "finalize failed; retrying next tick");
        }
        return;
      }
      this.log.info({ cycleId: state.cycleId, txHash, attestations: signatures.length }, "finalize submitted");
      const receipt = await sender.waitForReceipt(txHash, this.abort.signal);
      // Stopped, or dropped: the next tick reads the cycle from the chain and submits again if still open.
      if (receipt === undefined || receipt === "dropped") return;
      this.m.submissions.inc({ outcome: receipt.status === 1 ? "finalized" : "reverted" });
      if (receipt.status === 1) await this.modules.storage.cycles.update(state.cycleId, { finalized: { merkleRoot: state.summary.merkleRoot, matches: true, attestationCount: signatures.length, finalizedAt: 0, txHash } });
    } finally {
      this.submitting.delete(state.cycleId);
    }
  }

  private async recordFinalized(state: CycleState, onChain: { merkleRoot: string; attestationCount: bigint; finalizedAt: bigint }): Promise<void> {
    const matches = onChain.merkleRoot.toLowerCase() === state.summary.merkleRoot.toLowerCase();
    await this.modules.storage.cycles.update(state.cycleId, {
      status: "finalized",
      finalized: {
        ...(state.finalized?.txHash ? { txHash: state.finalized.txHash } : {}),
        merkleRoot: onChain.merkleRoot,
        matches,
        attestationCount: Number(onChain.attestationCount),
        finalizedAt: Number(onChain.finalizedAt),
      },
    });
    this.m.finalized.inc({ matches: String(matches) });
    this.log.info({ cycleId: state.cycleId, root: onChain.merkleRoot, matches }, "settlement cycle finalized on-chain");
    if (!matches) {
      // A chain/store divergence already named its records; repeat them here.
      const earlier = state.alertId ? (await this.modules.storage.cycles.alerts({ limit: 100, cycleId: state.cycleId })).items.find((a) => a.id === state.alertId) : undefined;
      const alert = this.alertOf(state.cycleId, "FINALIZED_ROOT_DIFFERS", state.summary.merkleRoot, earlier?.records ?? [], { otherRoot: onChain.merkleRoot });
      if (await this.modules.storage.cycles.putAlert(alert)) this.reportAlert(alert);
    }
  }

  private async broadcast(state: CycleState, attestation: AttestationRecord): Promise<void> {
    if (!this.modules.publish) return;
    this.lastBroadcast.set(state.cycleId, Date.now());
    try {
      const peers = await this.modules.publish(encodeAttestation(attestation.institution, summaryFromJson(attestation.summary), attestation.signature));
      this.log.debug({ cycleId: state.cycleId, peers }, "attestation gossiped");
    } catch (error) {
      this.log.warn({ cycleId: state.cycleId, err: error }, "attestation gossip failed; will retry");
    }
  }

  // ---------------------------------------------------------------- gossip

  /** Validates and stores a gossiped attestation (the attestations topic's validator). */
  async onGossip(_from: string, data: Uint8Array): Promise<GossipValidationResult> {
    const outcome = await this.judge(data);
    this.m.received.inc({ outcome });
    return outcome;
  }

  private async judge(data: Uint8Array): Promise<GossipValidationResult> {
    let message;
    try {
      message = decodeAttestation(data);
    } catch {
      return "reject";
    }
    let recovered: string;
    try {
      recovered = recoverCycleSigner(this.ctx, message.parsed, message.signature);
    } catch {
      return "reject";
    }
    const operators = this.modules.registry.operators();
    const institution = operators.find((o) => o.id.toLowerCase() === message.institution.toLowerCase() && !o.regulator);
    // A key no operator holds is a forgery; a known key that is not the institution's current one may
    // just be this node's registry mirror lagging a rotation: dropped without blame.
    if (!operators.some((o) => o.signer.toLowerCase() === recovered.toLowerCase())) return "reject";
    if (!institution || !institution.active || institution.signer.toLowerCase() !== recovered.toLowerCase()) return "ignore";
    const record: AttestationRecord = {
      institution: getAddress(institution.id),
      signer: recovered,
      summary: message.summary,
      signature: message.signature,
      receivedAtMs: Date.now(),
      origin: "gossip",
    };
    const cycles = this.modules.storage.cycles;
    if (!(await cycles.putAttestation(message.summary.cycleId, record))) return "ignore";
    const local = await cycles.get(message.summary.cycleId);
    if (local) await this.compareAttestation(local, record);
    // Gathering a quorum should not wait for the next tick.
    this.schedule(0);
    return "accept";
  }

  private async compareAttestation(state: CycleState, attestation: AttestationRecord): Promise<void> {
    if (attestation.summary.merkleRoot.toLowerCase() === state.summary.merkleRoot.toLowerCase()) return;
    const alert = this.alertOf(state.cycleId, "ATTESTED_ROOT_DIFFERS", state.summary.merkleRoot, [], {
      otherRoot: attestation.summary.merkleRoot,
      institution: attestation.institution,
    });
    if (state.alertId) {
      // This node's own view already failed its chain check: the differing records are known.
      const earlier = (await this.modules.storage.cycles.alerts({ limit: 100, cycleId: state.cycleId })).items.find((a) => a.id === state.alertId);
      alert.records = earlier?.records ?? [];
    }
    if (await this.modules.storage.cycles.putAlert(alert)) this.reportAlert(alert);
  }

  // ---------------------------------------------------------------- alerts

  private alertOf(cycleId: string, type: SettlementAlertType, localRoot: string, records: RecordDifference[], extra: { otherRoot?: string; institution?: string }): SettlementAlert {
    const id = `${type}:${(extra.institution ?? "chain").toLowerCase()}:${(extra.otherRoot ?? "").toLowerCase()}`;
    return { id, cycleId, type, raisedAtMs: Date.now(), localRoot, ...extra, records };
  }

  private reportAlert(alert: SettlementAlert): void {
    this.m.alerts.inc({ type: alert.type });
    this.log.error(
      {
        cycleId: alert.cycleId,
        type: alert.type,
        localRoot: alert.localRoot,
        otherRoot: alert.otherRoot,
        institution: alert.institution,
        records: alert.records.slice(0, 20).map((r) => ({ kind: r.kind, recordId: r.recordId })),
        differing: alert.records.length,
      },
      "settlement alert",
    );
  }
}
