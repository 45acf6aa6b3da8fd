/**
 * Relay leases: how an institution tells the others that it is relaying, so that they stay out of
 * its way while it makes progress and step in once it stops. A lease message, on its own gossip
 * topic and signed with the institution's operator key, says:
 * - `claims`: operations it has taken on since its previous message (its API's and any it took over
 *   from another institution), as 32-byte ids;
 * - `renew`: whether it made progress since its previous renewal (a transaction of its own was mined,
 *   or it has nothing waiting longer than a batch takes). Only a renewal extends the lease, by
 *   `validForMs`, which the holder sets from the latency it observes between sending a transaction and
 *   seeing it mined, and from how late its own timers fire (a busy machine's stalls);
 * - its backlog: how many operations it has pending and how old the oldest one is, so that others can
 *   tell whether an operation nobody claimed may still be in its queue;
 * - its key's next nonce: a lease whose messages stop arriving while the key keeps mining transactions
 *   is alive (its messages are late), and others count that as a renewal.
 * The board below is one node's view of everyone else's leases.
 */
import { keccak256, toUtf8Bytes } from "ethers";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { recoverSigner } from "../validation/signature.js";

/** The gossip topic of lease messages. */
export const LEASE_TOPIC = "/settlenet/relay-lease/1";

/** Most claimed ids in one lease message (about 175 KB of base64). */
export const MAX_CLAIMS_PER_MESSAGE = 4_096;

const ID_BYTES = 32;
const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/);

/** What a lease message states (its signed body). */
export const leaseBodySchema = z.strictObject({
  v: z.literal(1),
  chainId: z.string().regex(/^[0-9]+$/),
  institution: address,
  /** Strictly increasing per holder (its clock in ms when issued, or one more than the last). */
  seq: z.number().int().nonnegative(),
  renew: z.boolean(),
  validForMs: z.number().int().positive().max(3_600_000),
  /** The last block in which one of its transactions was mined (0 before any). */
  progressBlock: z.number().int().nonnegative(),
  /** Transactions its key had broadcast when it was issued (its next nonce): a later count on-chain shows progress since. */
  nonce: z.number().int().nonnegative(),
  pending: z.number().int().nonnegative(),
  oldestPendingAgeMs: z.number().int().nonnegative(),
  /** Concatenated 32-byte operation ids, base64. */
  claims: z
    .string()
    .max(Math.ceil((MAX_CLAIMS_PER_MESSAGE * ID_BYTES) / 3) * 4)
    .regex(/^[A-Za-z0-9+/]*={0,2}$/),
});
export type LeaseBody = z.infer<typeof leaseBodySchema>;

const messageSchema = z.strictObject({ body: z.string(), signature: z.string().regex(/^0x[0-9a-fA-F]{130}$/) });

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

/** The digest an institution signs: the body's exact bytes under a domain tag. */
function leaseDigest(body: string): string {
  return keccak256(toUtf8Bytes(`settlenet relay lease\n${body}`));
}

/** Concatenated ids as base64. */
export function encodeClaims(ids: readonly string[]): string {
  return Buffer.concat(ids.map((id) => Buffer.from(id.slice(2), "hex"))).toString("base64");
}

/** The ids of a claims field (lower-case 0x hex). */
export function decodeClaims(claims: string): string[] {
  const bytes = Buffer.from(claims, "base64");
  if (bytes.length % ID_BYTES !== 0) throw new SettlenetError("MALFORMED", "lease claims are not whole 32-byte ids");
  const ids: string[] = [];
  for (let at = 0; at < bytes.length; at += ID_BYTES) ids.push(`0x${bytes.subarray(at, at + ID_BYTES).toString("hex")}`);
  return ids;
}

/** A signed lease message. */
export function encodeLease(body: LeaseBody, sign: (digest: string) => string): Uint8Array {
  const text = JSON.stringify(body);
  return encoder.encode(JSON.stringify({ body: text, signature: sign(leaseDigest(text)) }));
}

/**
 * The body of a lease message whose signature is by `signerOf(body.institution)`. MALFORMED for bytes
 * that are no lease message, UNKNOWN_INSTITUTION if `signerOf` knows no key for it, BAD_SIGNATURE for a
 * signature by anyone else.
 */
export function decodeLease(data: Uint8Array, signerOf: (institution: string) => string | undefined): LeaseBody {
  let text: string;
  let outer: z.infer<typeof messageSchema>;
  let body: LeaseBody;
  try {
    text = decoder.decode(data);
    outer = messageSchema.parse(JSON.parse(text));
    body = leaseBodySchema.parse(JSON.parse(outer.body));
  } catch (error) {
    throw new SettlenetError("MALFORMED", "not a lease message", {}, { cause: error });
  }
  const expected = signerOf(body.institution);
  if (expected === undefined) throw new SettlenetError("UNKNOWN_INSTITUTION", "lease of an institution this node does not know as active", { institution: body.institution });
  let signer: string;
  try {
    signer = recoverSigner(leaseDigest(outer.body), outer.signature);
  } catch (error) {
    throw new SettlenetError("BAD_SIGNATURE", "lease signature does not recover", { institution: body.institution }, { cause: error });
  }
  if (signer.toLowerCase() !== expected.toLowerCase()) {
    throw new SettlenetError("BAD_SIGNATURE", "lease not signed by the institution's operator key", { institution: body.institution });
  }
  return body;
}

/** One holder's lease as this node last heard of it (times on this node's clock). */
export interface LeaseView {
  institution: string;
  seq: number;
  /** When its first message arrived. */
  firstHeardAt: number;
  /** When its last renewal arrived (undefined: none yet). */
  renewedAt: number | undefined;
  validForMs: number;
  /** When the oldest operation it still has pending was accepted, as well as this node can tell. */
  oldestPendingAt: number;
  pending: number;
  progressBlock: number;
  /** The holder key's nonce as last known: from its last message, or read on-chain since. */
  nonce: number;
}

/** Everyone else's leases, as this node hears them. */
export class LeaseBoard {
  private readonly leases = new Map<string, LeaseView>();

  /** Records a verified lease message heard at `now`; false if it is older than one already heard (a replay). */
  record(body: LeaseBody, now: number): boolean {
    const key = body.institution.toLowerCase();
    const known = this.leases.get(key);
    if (known && body.seq <= known.seq) return false;
    this.leases.set(key, {
      institution: key,
      seq: body.seq,
      firstHeardAt: known?.firstHeardAt ?? now,
      renewedAt: body.renew ? now : known?.renewedAt,
      validForMs: body.renew ? body.validForMs : (known?.validForMs ?? body.validForMs),
      oldestPendingAt: now - body.oldestPendingAgeMs,
      pending: body.pending,
      progressBlock: body.progressBlock,
      nonce: Math.max(body.nonce, known?.nonce ?? 0),
    });
    return true;
  }

  /**
   * The holder's key has `nonce` transactions mined on-chain now: if that is more than last known, it
   * made progress since (its lease messages are late), which renews its lease at `now`. True if so.
   */
  progressedOnChain(institution: string, nonce: number, now: number): boolean {
    const lease = this.get(institution);
    if (!lease || nonce <= lease.nonce) return false;
    lease.nonce = nonce;
    lease.renewedAt = now;
    return true;
  }

  /**
   * This node could not read the chain until `now`: as far as it can tell nobody could make progress,
   * so every lease counts as renewed now (a holder stalled by an outage everyone shared is not lapsed).
   */
  renewAll(now: number): void {
    for (const lease of this.leases.values()) lease.renewedAt = Math.max(lease.renewedAt ?? lease.firstHeardAt, now);
  }

  /** True if this node heard from `institution` and its lease has lapsed since (never heard of: false). */
  knownLapsed(institution: string, now: number, floorMs: number): boolean {
    return this.get(institution) !== undefined && !this.live(institution, now, floorMs);
  }

  /** Holders whose lease has lapsed at `now`. */
  lapsedHolders(now: number, floorMs: number): LeaseView[] {
    return [...this.leases.values()].filter((lease) => !this.live(lease.institution, now, floorMs));
  }

  get(institution: string): LeaseView | undefined {
    return this.leases.get(institution.toLowerCase());
  }

  /**
   * When `institution`'s lease lapses: its validity, and at least `floorMs`, after its last renewal
   * (after its first message if it never renewed; -Infinity if never heard of).
   */
  expiresAt(institution: string, floorMs: number): number {
    const lease = this.get(institution);
    if (!lease) return -Infinity;
    if (lease.renewedAt === undefined) return lease.firstHeardAt + floorMs;
    return lease.renewedAt + Math.max(lease.validForMs, floorMs);
  }

  /** True while `institution` holds a lease (renewed within its validity, and at least `floorMs`). */
  live(institution: string, now: number, floorMs: number): boolean {
    return now < this.expiresAt(institution, floorMs);
  }

  /** The holders whose lease is live. */
  liveHolders(now: number, floorMs: number): LeaseView[] {
    return [...this.leases.values()].filter((lease) => this.live(lease.institution, now, floorMs));
  }
}
