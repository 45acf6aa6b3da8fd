/**
 * Failover by lease for operations that arrived by gossip: which of them this node must relay now.
 * Every watched operation is held by the institution that claimed it in its lease (lease.ts), or by
 * nobody yet. This node steps in only when:
 * - the holder's lease has lapsed (no renewal within its validity, and never sooner than
 *   `failoverTimeoutMs`): every operation it holds, by the institution first in the holder's failover
 *   order (core/chain/failover.ts); the next one `stepMs` later, by which time the first one's lease
 *   has claimed them if it did step in; or
 * - nobody claimed it for `failoverTimeoutMs` and no live holder can still have it queued (each
 *   holder's lease says how old its oldest pending operation is): by the institution first in the
 *   operation's own failover order, the next one `stepMs` after it became eligible. A node that is not
 *   first counts its own backlog too, as its last lease message gave it: the ones before it see that
 *   backlog as a live holder's and wait for it to clear, so its turns count from that moment as
 *   theirs do (counted from its own earlier view, its step would not keep it behind them).
 * The order leaves out only institutions this node heard from and whose lease lapsed since: one it never
 * heard from keeps its turn, because another node may well have heard from it (views of who is live
 * differ, and two nodes that both believe they are first relay everything twice).
 * The relayer (relayer.ts) then checks the chain and its index before it sends anything.
 */
import { failoverPosition } from "../../core/chain/failover.js";
import type { StoredOperation } from "../../core/records.js";
import type { LeaseBoard } from "./lease.js";

export interface LeaseFailoverOptions {
  /** This node's institution id. */
  institutionId: string;
  /** Shortest time after a holder's last renewal before anyone steps in; how long an unclaimed operation waits. */
  failoverTimeoutMs: number;
  /** How often holders send lease messages. */
  leaseRenewMs: number;
}

/** How much work an institution has pending, and since when, as a lease message gives it. */
export interface Backlog {
  pending: number;
  /** When the oldest pending operation was received (the receiver's clock). */
  oldestPendingAt: number;
}

export interface LeaseFailoverModules {
  /** Active institutions (RegistryView.activeInstitutions). */
  activeInstitutions: () => { id: string }[];
  leases: LeaseBoard;
  /** This node's backlog as its last lease message announced it (undefined: none, or its lease lapsed since). */
  announcedBacklog?: () => Backlog | undefined;
}

interface Watched {
  op: StoredOperation;
  /** When this node received it (its clock). */
  receivedAt: number;
  /** Lower-case institution id of the holder; undefined while nobody claimed it. */
  holder: string | undefined;
  /** Unclaimed: when it was first found past the timeout with no live holder that may have it (turns count from here). */
  eligibleAt?: number;
}

/** Operations due for this node to relay: those of one lapsed holder, or unclaimed ones. */
export interface DueGroup {
  /** The lapsed holder (lower-case id); undefined for operations nobody claimed. */
  holder: string | undefined;
  ops: StoredOperation[];
}

/** Claims of operations not received yet are kept this many times failoverTimeoutMs at most. */
const EARLY_CLAIM_LIFETIME = 20;
const MAX_EARLY_CLAIMS = 200_000;

/** Watches gossip operations and says which are due for this node; see the module comment. */
export class LeaseFailover {
  private readonly self: string;
  private readonly stepMs: number;
  private readonly watched = new Map<string, Watched>();
  private readonly byHolder = new Map<string, Set<string>>();
  /** Ids nobody claimed, in the order they arrived. */
  private readonly unclaimed = new Set<string>();
  /** Claims that arrived before their operation (gossip topics are not ordered). */
  private readonly earlyClaims = new Map<string, { holder: string; at: number }>();

  constructor(
    private readonly options: LeaseFailoverOptions,
    private readonly modules: LeaseFailoverModules,
  ) {
    this.self = options.institutionId.toLowerCase();
    this.stepMs = Math.max(1_000, 2 * options.leaseRenewMs);
  }

  /** Watches a gossip operation received at `receivedAt`; false if this node is no active institution (it never relays it). */
  watch(op: StoredOperation, receivedAt: number): boolean {
    if (!this.isActive()) return false;
    if (this.watched.has(op.id)) return true;
    const early = this.earlyClaims.get(op.id);
    this.earlyClaims.delete(op.id);
    const watched: Watched = { op, receivedAt, holder: undefined };
    this.watched.set(op.id, watched);
    this.assign(op.id, watched, early?.holder);
    return true;
  }

  has(id: string): boolean {
    return this.watched.has(id);
  }

  /** True if this node watches operations claimed by `holder`. */
  holds(holder: string): boolean {
    return (this.byHolder.get(holder.toLowerCase())?.size ?? 0) > 0;
  }

  get size(): number {
    return this.watched.size;
  }

  /** Stops watching `id` (settled, or now relayed by this node). */
  cancel(id: string): void {
    const watched = this.watched.get(id);
    this.earlyClaims.delete(id);
    if (!watched) return;
    this.watched.delete(id);
    this.assign(id, undefined, undefined, watched);
  }

  /** `holder` (not this node) claims `ids`: they are its to relay while its lease lasts. */
  claim(holder: string, ids: readonly string[], now: number): void {
    const key = holder.toLowerCase();
    if (key === this.self) return;
    for (const id of ids) {
      const watched = this.watched.get(id);
      if (watched) {
        if (watched.holder !== key) this.assign(id, watched, key, watched);
      } else {
        this.earlyClaims.set(id, { holder: key, at: now });
      }
    }
    this.forgetOldClaims(now);
  }

  /** Takes out and returns the operations due for this node at `now`; see the module comment. */
  due(now: number): DueGroup[] {
    const groups: DueGroup[] = [];
    const floor = this.options.failoverTimeoutMs;
    const { leases } = this.modules;
    const institutions = this.modules.activeInstitutions().map((institution) => institution.id.toLowerCase());
    const standby = institutions.filter((id) => id === this.self || !leases.knownLapsed(id, now, floor));
    for (const [holder, ids] of this.byHolder) {
      if (leases.live(holder, now, floor)) continue;
      const others = standby.filter((id) => id !== holder);
      const turn = failoverPosition(BigInt(holder), this.self, others);
      if (turn < 0 || now < leases.expiresAt(holder, floor) + turn * this.stepMs) continue;
      groups.push({ holder, ops: this.takeOut([...ids]) });
    }
    const holders = leases.liveHolders(now, floor).filter((lease) => lease.institution !== this.self && lease.pending > 0);
    const mine = this.modules.announcedBacklog?.();
    // A backlog whose oldest pending operation is older than this one may still hold it.
    const mayHold = (backlog: Backlog, watched: Watched) => backlog.pending > 0 && backlog.oldestPendingAt <= watched.receivedAt + this.options.leaseRenewMs;
    const orphans: string[] = [];
    for (const id of this.unclaimed) {
      const watched = this.watched.get(id);
      if (!watched) continue;
      if (now - watched.receivedAt < floor) break;
      if (holders.some((lease) => mayHold(lease, watched))) {
        watched.eligibleAt = undefined;
        continue;
      }
      const turn = failoverPosition(id, this.self, standby);
      if (turn > 0 && mine !== undefined && mayHold(mine, watched)) {
        watched.eligibleAt = undefined;
        continue;
      }
      // Turns count from when it became eligible, not from its arrival: after a holder that blocked it
      // lapses, the next institution in the order still waits its step behind the first.
      watched.eligibleAt ??= now;
      if (turn >= 0 && now >= watched.eligibleAt + turn * this.stepMs) orphans.push(id);
    }
    if (orphans.length > 0) groups.push({ holder: undefined, ops: this.takeOut(orphans) });
    return groups;
  }

  /**
   * True if `claimer` comes before this node in the failover order of an operation taken over from
   * `holder` (or, unclaimed, of the operation `id` itself): of two institutions that both took it over,
   * the later one leaves it to the earlier. The order here is over every active institution, so both
   * reach the same answer whatever each knows of the others' leases.
   */
  precedes(claimer: string, holder: string | undefined, id: string): boolean {
    const key = claimer.toLowerCase();
    if (holder !== undefined && key === holder) return false;
    const institutions = this.modules.activeInstitutions().map((institution) => institution.id.toLowerCase()).filter((institution) => institution !== holder);
    const subject = holder === undefined ? id : BigInt(holder);
    const theirs = failoverPosition(subject, key, institutions);
    const mine = failoverPosition(subject, this.self, institutions);
    return theirs >= 0 && mine >= 0 && theirs < mine;
  }

  /** The institution (other than this node) whose claim of `id` arrived while this node did not watch it. */
  claimedBy(id: string): string | undefined {
    return this.earlyClaims.get(id)?.holder;
  }

  /** Watches operations taken out by `due` again (this node could not take them over yet); a claim heard meanwhile wins. */
  restore(group: DueGroup, receivedAt: (op: StoredOperation) => number): void {
    for (const op of group.ops) {
      if (this.watched.has(op.id)) continue;
      const early = this.earlyClaims.get(op.id);
      this.earlyClaims.delete(op.id);
      const watched: Watched = { op, receivedAt: receivedAt(op), holder: undefined };
      this.watched.set(op.id, watched);
      this.assign(op.id, watched, early?.holder ?? group.holder);
    }
  }

  /** Forgets everything (stop). */
  clear(): void {
    this.watched.clear();
    this.byHolder.clear();
    this.unclaimed.clear();
    this.earlyClaims.clear();
  }

  private takeOut(ids: string[]): StoredOperation[] {
    const ops: StoredOperation[] = [];
    for (const id of ids) {
      const watched = this.watched.get(id);
      if (!watched) continue;
      this.cancel(id);
      ops.push(watched.op);
    }
    return ops;
  }

  /** Moves `id` from `previous`'s holder set (if any) to `holder`'s (or to the unclaimed ones). */
  private assign(id: string, watched: Watched | undefined, holder: string | undefined, previous?: Watched): void {
    if (previous) {
      if (previous.holder === undefined) this.unclaimed.delete(id);
      else {
        const set = this.byHolder.get(previous.holder);
        set?.delete(id);
        if (set?.size === 0) this.byHolder.delete(previous.holder);
      }
    }
    if (!watched) return;
    watched.holder = holder;
    if (holder === undefined) {
      this.unclaimed.add(id);
      return;
    }
    let set = this.byHolder.get(holder);
    if (!set) {
      set = new Set();
      this.byHolder.set(holder, set);
    }
    set.add(id);
  }

  private isActive(): boolean {
    return this.modules.activeInstitutions().some((institution) => institution.id.toLowerCase() === this.self);
  }

  private forgetOldClaims(now: number): void {
    const oldest = now - EARLY_CLAIM_LIFETIME * this.options.failoverTimeoutMs;
    for (const [id, claim] of this.earlyClaims) {
      if (claim.at >= oldest && this.earlyClaims.size <= MAX_EARLY_CLAIMS) break;
      this.earlyClaims.delete(id);
    }
  }
}
