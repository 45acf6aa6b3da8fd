/**
 * Settlement cycle repository: each built cycle's state (`cycles`), its records in tree order
 * (`cycleRecords`), the attestations this node made or received (`cycleAttestations`) and the
 * settlement alerts it raised (`cycleAlerts`). Key layouts: keyspaces.ts.
 */
import type { CycleState, SettlementAlert } from "../../core/api/settlement.js";
import { SettlenetError } from "../../core/errors.js";
import { cursorKey, entryPage } from "../../core/storage/pages.js";
import type { AttestationRecord } from "../settlement/attestation.js";
import type { RecordJson } from "../../core/settlement/records.js";
import type { Page } from "../../core/records.js";
import type { StorageContext, WriteOp } from "./keyspaces.js";
import { SEP, pad, prefixRange } from "./keyspaces.js";

export type { CycleState, CycleStatus, SettlementAlert } from "../../core/api/settlement.js";

export type SettlementAlertType = SettlementAlert["type"];

const ID_WIDTH = 20;
const cid = (cycleId: bigint | string) => BigInt(cycleId).toString().padStart(ID_WIDTH, "0");
const recordKey = (cycleId: bigint | string, index: number) => `${cid(cycleId)}${SEP}${pad(index, 8)}`;

function decodeCursor(cursor: string, prefix: string): string {
  return cursorKey(cursor, (key) => key.startsWith(prefix), "INVALID_CURSOR");
}

/** Cycles, their records, attestations and alerts on LevelDB. */
export class LevelCycleRepository {
  constructor(private readonly ctx: StorageContext) {}

  get(cycleId: bigint | string): Promise<CycleState | undefined> {
    return this.ctx.read(async () => (await this.ctx.spaces.cycles.get(cid(cycleId))) as CycleState | undefined);
  }

  /** Stores a built cycle with its records (and this node's attestation or alert) in one synced batch. */
  saveBuilt(state: CycleState, records: RecordJson[], extra: { attestation?: AttestationRecord; alert?: SettlementAlert } = {}): Promise<void> {
    return this.ctx.write(async () => {
      const { spaces } = this.ctx;
      if ((await spaces.cycles.get(cid(state.cycleId))) !== undefined) {
        throw new SettlenetError("CYCLE_EXISTS", `cycle ${state.cycleId} is already built`, { cycleId: state.cycleId });
      }
      const writes: WriteOp[] = [{ type: "put", sublevel: spaces.cycles, key: cid(state.cycleId), value: state }];
      records.forEach((record, i) => writes.push({ type: "put", sublevel: spaces.cycleRecords, key: recordKey(state.cycleId, i), value: record }));
      if (extra.attestation) writes.push(this.attestationWrite(state.cycleId, extra.attestation));
      if (extra.alert) writes.push({ type: "put", sublevel: spaces.cycleAlerts, key: this.alertKey(extra.alert), value: extra.alert });
      await this.ctx.commit(writes);
    });
  }

  /** Replaces a cycle's state (status changes, finalization). */
  update(cycleId: string, patch: Partial<CycleState>): Promise<CycleState> {
    return this.ctx.write(async () => {
      const current = (await this.ctx.spaces.cycles.get(cid(cycleId))) as CycleState | undefined;
      if (!current) throw new SettlenetError("CYCLE_NOT_FOUND", `no cycle ${cycleId}`, { cycleId });
      const next = { ...current, ...patch };
      await this.ctx.commit([{ type: "put", sublevel: this.ctx.spaces.cycles, key: cid(cycleId), value: next }]);
      return next;
    });
  }

  /** Cycles newest first. */
  list(options: { limit: number; cursor?: string }): Promise<Page<CycleState>> {
    return this.ctx.read(async () => {
      const lt = options.cursor ? decodeCursor(options.cursor, "") : undefined;
      return entryPage<CycleState>(this.ctx.spaces.cycles, { reverse: true, ...(lt ? { lt } : {}) }, options.limit);
    });
  }

  /** Cycles not yet seen finalized. */
  unfinalized(): Promise<CycleState[]> {
    return this.ctx.read(async () => {
      const values = await this.ctx.spaces.cycles.values().all();
      return (values as CycleState[]).filter((state) => state.status !== "finalized");
    });
  }

  /** Every record of a cycle, in tree order. */
  records(cycleId: bigint | string): Promise<RecordJson[]> {
    return this.ctx.read(async () => (await this.ctx.spaces.cycleRecords.values(prefixRange(`${cid(cycleId)}${SEP}`)).all()) as RecordJson[]);
  }

  /** A page of a cycle's records, in tree order. */
  recordsPage(cycleId: bigint | string, options: { limit: number; cursor?: string }): Promise<Page<RecordJson>> {
    return this.ctx.read(async () => {
      const prefix = `${cid(cycleId)}${SEP}`;
      const range = prefixRange(prefix);
      const gt = options.cursor ? decodeCursor(options.cursor, prefix) : undefined;
      return entryPage<RecordJson>(this.ctx.spaces.cycleRecords, { ...(gt ? { gt, lt: range.lt } : range), reverse: false }, options.limit);
    });
  }

  /** Replaces one stored record (used by tests and repair tools to model a corrupted view). */
  putRecord(cycleId: string, index: number, record: RecordJson): Promise<void> {
    return this.ctx.write(() => this.ctx.commit([{ type: "put", sublevel: this.ctx.spaces.cycleRecords, key: recordKey(cycleId, index), value: record }]));
  }

  /** Stores an attestation; false if this institution's attestation of this root was already stored. */
  putAttestation(cycleId: string, attestation: AttestationRecord): Promise<boolean> {
    return this.ctx.write(async () => {
      const write = this.attestationWrite(cycleId, attestation);
      if ((await this.ctx.spaces.cycleAttestations.get(write.key)) !== undefined) return false;
      await this.ctx.commit([write]);
      return true;
    });
  }

  /** Every stored attestation of a cycle (all roots). */
  attestations(cycleId: bigint | string): Promise<AttestationRecord[]> {
    return this.ctx.read(async () => (await this.ctx.spaces.cycleAttestations.values(prefixRange(`${cid(cycleId)}${SEP}`)).all()) as AttestationRecord[]);
  }

  /** Stores an alert once (same id: kept as first raised); true if new. */
  putAlert(alert: SettlementAlert): Promise<boolean> {
    return this.ctx.write(async () => {
      const key = this.alertKey(alert);
      if ((await this.ctx.spaces.cycleAlerts.get(key)) !== undefined) return false;
      await this.ctx.commit([{ type: "put", sublevel: this.ctx.spaces.cycleAlerts, key, value: alert }]);
      return true;
    });
  }

  /** Alerts, newest cycle first; optionally of one cycle. */
  alerts(options: { limit: number; cursor?: string; cycleId?: string }): Promise<Page<SettlementAlert>> {
    return this.ctx.read(async () => {
      const prefix = options.cycleId !== undefined ? `${cid(options.cycleId)}${SEP}` : "";
      const range = prefix ? prefixRange(prefix) : {};
      const lt = options.cursor ? decodeCursor(options.cursor, prefix) : undefined;
      return entryPage<SettlementAlert>(this.ctx.spaces.cycleAlerts, { ...range, ...(lt ? { lt } : {}), reverse: true }, options.limit);
    });
  }

  private attestationWrite(cycleId: string, attestation: AttestationRecord): WriteOp & { key: string } {
    const key = `${cid(cycleId)}${SEP}${attestation.summary.merkleRoot.toLowerCase()}${SEP}${attestation.institution.toLowerCase()}`;
    return { type: "put", sublevel: this.ctx.spaces.cycleAttestations, key, value: attestation };
  }

  private alertKey(alert: SettlementAlert): string {
    return `${cid(alert.cycleId)}${SEP}${alert.id}`;
  }
}
