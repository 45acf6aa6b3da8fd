/**
 * Proof of reserves (备付金): per settlement token and custodian, the outstanding supply (minted less
 * burned), the latest attested reserves, their ratio and the chain-time age of the attestation, all
 * read from SettlementToken at one block; the age runs from the attestor's as-of time of the balance. Custodians are found from CustodianChanged events (a former
 * custodian stays in the report while it has supply outstanding). The monitor raises
 * RESERVES_STALE when an attestation is older than the configured age (or an active custodian never
 * attested) and RESERVES_RATIO_LOW when reserves fall below outstanding × minRatioBps / 10000.
 */
import { Contract, Interface, type AbstractProvider } from "ethers";
import type { Registry } from "prom-client";
import type { z } from "zod";

import type { custodianReservesSchema, ReservesReport, tokenReservesSchema } from "../../core/api/reserves.js";
import { SettlenetError } from "../../core/errors.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { Serial } from "../../core/serial.js";
import type { Logger } from "../services.js";
import type { NodeStorage } from "../storage/db.js";
import { ALERT_CATEGORY, alertId, type Alert, type AlertRecord } from "./alert.js";
import { ComplianceMetrics } from "./metrics.js";

export type { ReservesReport } from "../../core/api/reserves.js";

/** One custodian's position in one token. */
export type CustodianReserves = z.infer<typeof custodianReservesSchema>;

/** One token's supply and reserves, per custodian. */
export type TokenReserves = z.infer<typeof tokenReservesSchema>;

export interface ReserveMonitorOptions {
  deployment: Deployment;
  maxAttestationAgeSeconds: number;
  minRatioBps: number;
  checkIntervalMs: number;
  reporter?: string;
}

export interface ReserveMonitorModules {
  provider: AbstractProvider;
  storage: NodeStorage;
  logger: Logger;
  metrics: Registry | ComplianceMetrics;
  onAlerts?: (alerts: AlertRecord[]) => void;
}

/** reserves / outstanding as a decimal string with 4 decimals, rounded down; null if outstanding is 0. */
export function reserveRatio(reserves: bigint, outstanding: bigint): string | null {
  if (outstanding === 0n) return null;
  const scaled = (reserves * 10_000n) / outstanding;
  return `${scaled / 10_000n}.${(scaled % 10_000n).toString().padStart(4, "0")}`;
}

interface TokenState {
  contract: Contract;
  custodians: Map<string, boolean>;
  scannedTo: number;
}

/** Reads the reserves report and raises reserve alerts; see the module comment. */
export class ReserveMonitor {
  private readonly metrics: ComplianceMetrics;
  private readonly tokens = new Map<string, TokenState>();
  private readonly iface = new Interface(loadArtifact("SettlementToken").abi);
  private timer: NodeJS.Timeout | undefined;
  private running = false;
  private readonly serial = new Serial();

  constructor(
    private readonly options: ReserveMonitorOptions,
    private readonly modules: ReserveMonitorModules,
  ) {
    this.metrics = modules.metrics instanceof ComplianceMetrics ? modules.metrics : new ComplianceMetrics(modules.metrics);
    for (const [symbol, token] of Object.entries(options.deployment.tokens)) {
      this.tokens.set(symbol, { contract: new Contract(token.address, this.iface, modules.provider), custodians: new Map(), scannedTo: options.deployment.deploymentBlock - 1 });
    }
  }

  /** The report at the chain head (or at `blockNumber`). */
  async report(blockNumber?: number): Promise<ReservesReport> {
    const { provider } = this.modules;
    const block = await provider.getBlock(blockNumber ?? (await provider.getBlockNumber()));
    if (!block) throw new SettlenetError("RPC_INCONSISTENT", "the RPC does not know the block to report at", { blockNumber });
    const blockTag = block.number;
    const now = block.timestamp;
    const tokens: TokenReserves[] = [];
    for (const [symbol, deployed] of Object.entries(this.options.deployment.tokens)) {
      const state = this.tokens.get(symbol);
      if (!state) continue;
      await this.scanCustodians(state, blockTag);
      const call = (name: string, ...args: unknown[]) => state.contract.getFunction(name).staticCall(...args, { blockTag });
      const totalSupply = (await call("totalSupply")) as bigint;
      const custodians: CustodianReserves[] = [];
      let outstandingSum = 0n;
      let reservesSum = 0n;
      for (const [custodian, active] of [...state.custodians].sort(([a], [b]) => (a < b ? -1 : 1))) {
        const outstanding = (await call("outstandingOf", custodian)) as bigint;
        const attestation = (await call("reservesOf", custodian)) as { amount: bigint; statementHash: string; asOf: bigint; sequence: bigint };
        if (!active && outstanding === 0n) continue;
        // The age runs from when the bank account held the amount (the statement's as-of time), not from when it reached the chain.
        const attestedAt = attestation.sequence === 0n ? null : Number(attestation.asOf);
        const ageSeconds = attestedAt === null ? null : Math.max(0, now - attestedAt);
        const reserves = attestation.amount;
        outstandingSum += outstanding;
        reservesSum += reserves;
        custodians.push({
          custodian,
          active,
          outstanding: outstanding.toString(),
          reserves: reserves.toString(),
          statementHash: attestation.statementHash,
          attestedAt,
          ageSeconds,
          ratio: reserveRatio(reserves, outstanding),
          stale: ageSeconds === null ? active : ageSeconds > this.options.maxAttestationAgeSeconds,
          belowMinRatio: outstanding > 0n && reserves * 10_000n < outstanding * BigInt(this.options.minRatioBps),
        });
      }
      tokens.push({
        symbol,
        token: deployed.address,
        decimals: deployed.decimals,
        totalSupply: totalSupply.toString(),
        outstanding: outstandingSum.toString(),
        reserves: reservesSum.toString(),
        ratio: reserveRatio(reservesSum, outstandingSum),
        custodians,
      });
    }
    return {
      asOf: { blockNumber: blockTag, timestamp: now },
      maxAttestationAgeSeconds: this.options.maxAttestationAgeSeconds,
      minRatioBps: this.options.minRatioBps,
      tokens,
    };
  }

  /** The alerts a report implies (deterministic ids: one per attestation and condition). */
  alertsOf(report: ReservesReport): Alert[] {
    const alerts: Alert[] = [];
    for (const token of report.tokens) {
      for (const c of token.custodians) {
        const base = { category: ALERT_CATEGORY.RESERVES_STALE, account: c.custodian, token: token.token, paymentIds: [], at: report.asOf.timestamp, blockNumber: report.asOf.blockNumber };
        if (c.stale) {
          alerts.push({
            ...base,
            id: alertId("RESERVES_STALE", token.token, c.custodian, c.attestedAt ?? 0),
            rule: "RESERVES_STALE",
            amount: c.outstanding,
            facts: { symbol: token.symbol, attestedAt: String(c.attestedAt ?? "never"), ageSeconds: String(c.ageSeconds ?? "none"), maxAgeSeconds: String(report.maxAttestationAgeSeconds) },
          });
        }
        if (c.belowMinRatio) {
          alerts.push({
            ...base,
            id: alertId("RESERVES_RATIO_LOW", token.token, c.custodian, c.attestedAt ?? 0, c.outstanding),
            rule: "RESERVES_RATIO_LOW",
            amount: c.outstanding,
            threshold: ((BigInt(c.outstanding) * BigInt(report.minRatioBps) + 9_999n) / 10_000n).toString(),
            facts: { symbol: token.symbol, reserves: c.reserves, ratio: c.ratio ?? "none", minRatioBps: String(report.minRatioBps) },
          });
        }
      }
    }
    return alerts;
  }

  /** Reads the report, updates the gauges and stores new alerts; returns them. Calls run one at a time. */
  checkOnce(): Promise<AlertRecord[]> {
    return this.serial.run(() => this.check());
  }

  async start(): Promise<void> {
    if (this.running) return;
    this.running = true;
    const tick = () => {
      this.checkOnce()
        .catch((error: unknown) => this.modules.logger.warn({ err: error }, "reserves check failed; retrying"))
        .finally(() => {
          if (this.running) this.timer = setTimeout(tick, this.options.checkIntervalMs);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.running = false;
    clearTimeout(this.timer);
    await this.serial.idle();
  }

  private async check(): Promise<AlertRecord[]> {
    const report = await this.report();
    for (const token of report.tokens) {
      for (const c of token.custodians) {
        const labels = { token: token.symbol, custodian: c.custodian };
        if (c.ratio === null) this.metrics.reserveRatio.remove(labels);
        else this.metrics.reserveRatio.set(labels, Number(c.ratio));
        if (c.ageSeconds !== null) this.metrics.attestationAge.set(labels, c.ageSeconds);
      }
    }
    const created = await this.modules.storage.alerts.record(this.alertsOf(report), {
      origin: "local",
      ...(this.options.reporter ? { reporter: this.options.reporter } : {}),
      nowMs: Date.now(),
    });
    for (const record of created) this.metrics.alertsRaised.inc({ rule: record.rule, origin: "local" });
    if (created.length > 0) {
      this.modules.logger.warn({ alerts: created.map((a) => ({ id: a.id, rule: a.rule, custodian: a.account })) }, "reserve alerts raised");
      try {
        this.modules.onAlerts?.(created);
      } catch (error) {
        this.modules.logger.error({ err: error }, "onAlerts listener failed");
      }
    }
    return created;
  }

  /** Folds CustodianChanged events up to `toBlock` into the token's custodian set. */
  private async scanCustodians(state: TokenState, toBlock: number): Promise<void> {
    if (state.scannedTo >= toBlock) return;
    const event = this.iface.getEvent("CustodianChanged");
    if (!event) throw new SettlenetError("ABI_MISMATCH", "SettlementToken ABI lacks CustodianChanged", {});
    const logs = await this.modules.provider.getLogs({ address: await state.contract.getAddress(), topics: [event.topicHash], fromBlock: state.scannedTo + 1, toBlock });
    logs.sort((a, b) => a.blockNumber - b.blockNumber || a.index - b.index);
    for (const log of logs) {
      const parsed = this.iface.parseLog(log);
      if (!parsed) continue;
      state.custodians.set(String(parsed.args.getValue("institution")), Boolean(parsed.args.getValue("custodian")));
    }
    state.scannedTo = toBlock;
  }
}
