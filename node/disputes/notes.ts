/**
 * Merchants' notes on disputes, on the node. A gateway submits a note its merchant's key signed; the
 * node checks it against what it indexed (the payment exists, the signer is its merchant, the dispute
 * is open), stores it with an entry in its audit log (one synced batch) and gossips it on its own
 * topic, so that an arbiter signed in at any node reads it. A note is not a chain operation: it is
 * never relayed.
 *
 * Peers check the signature against the payment's merchant as they indexed it and store the note;
 * they do not judge the dispute's state again (their index may lag or lead the origin's by a block, and
 * the origin node checked it; a merchant's signature is what makes the note trustworthy). A peer that
 * has not indexed the payment yet ignores the note (not the forwarder's fault). The origin publishes a
 * payment's notes again with each new one and, while the dispute is open, every `rebroadcastMs`, so a
 * peer that was down or not yet connected (or had not indexed the dispute) gets them.
 */
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";
import { z } from "zod";

import { disputeRoutes, type DisputeNoteView } from "../../core/api/disputes.js";
import { SettlenetError } from "../../core/errors.js";
import { disputeNoteId, disputeNoteSchema, disputeNoteSigner, type DisputeNote, type NoteDomain } from "../../core/protocol/dispute-note.js";
import type { PaymentRecord, StoredOperation } from "../../core/records.js";
import type { GossipValidationResult } from "../p2p/network.js";
import type { Logger } from "../services.js";
import type { NodeStorage } from "../storage/db.js";
import type { StoredDisputeNote } from "../storage/disputes.js";

export const DISPUTE_NOTES_TOPIC = "/settlenet/dispute-notes/1";
/** Notes per gossip message at most. */
const MAX_NOTES_PER_MESSAGE = 50;

/**
 * The gossip message: a payment's notes, and when this node sent them. Gossip ids hash the data, so
 * the send time makes each re-publication a new message rather than a duplicate dropped unseen.
 */
const messageSchema = z.strictObject({ v: z.literal(1), sentAtMs: z.number().int().nonnegative(), notes: z.array(disputeNoteSchema).min(1).max(MAX_NOTES_PER_MESSAGE) });
const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });

export interface DisputeNoteModules {
  storage: Pick<NodeStorage, "payments" | "disputes" | "operations">;
  logger: Logger;
}

/** The view of a stored note. */
export function noteView(stored: StoredDisputeNote): DisputeNoteView {
  const { note } = stored;
  return {
    id: stored.id,
    paymentId: note.paymentId.toLowerCase(),
    merchant: stored.merchant,
    text: note.text,
    evidence: note.evidence,
    createdAtMs: note.createdAtMs,
    signature: note.signature,
    receivedAtMs: stored.receivedAtMs,
  };
}

/** Notes in, checked, stored and gossiped. */
export class DisputeNotes {
  private publish: ((data: Uint8Array) => Promise<number>) | undefined;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly domain: NoteDomain,
    private readonly modules: DisputeNoteModules,
  ) {}

  setPublisher(publish: (data: Uint8Array) => Promise<number>): void {
    this.publish = publish;
  }

  /** Starts re-publishing, every `rebroadcastMs`, the notes this node took from its API on open disputes. */
  start(rebroadcastMs: number): void {
    const tick = () => {
      this.timer = setTimeout(() => {
        void this.rebroadcast()
          .catch((error: unknown) => this.modules.logger.warn({ err: error }, "dispute notes not re-published"))
          .finally(() => {
            if (this.timer) tick();
          });
      }, rebroadcastMs);
      this.timer.unref();
    };
    tick();
  }

  stop(): void {
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Publishes again the notes of every open dispute that has notes this node took from its API. */
  async rebroadcast(): Promise<void> {
    let cursor: string | undefined;
    do {
      const page = await this.modules.storage.disputes.list("open", { limit: 500, ...(cursor ? { cursor } : {}) });
      for (const payment of page.items) {
        const notes = await this.modules.storage.disputes.notesOf(payment.paymentId);
        if (notes.some((n) => n.origin === "api")) await this.gossip(payment.paymentId);
      }
      cursor = page.next;
    } while (cursor !== undefined && this.timer !== undefined);
  }

  /** The note's id and its signer, checked against the payment's merchant (NOTE_NOT_BY_MERCHANT). */
  private authenticate(note: DisputeNote, payment: PaymentRecord): { id: string; merchant: string } {
    const signer = disputeNoteSigner(note, this.domain);
    const merchant = payment.merchant.toLowerCase();
    if (signer !== merchant) {
      throw new SettlenetError("NOTE_NOT_BY_MERCHANT", `the note on ${payment.paymentId} is not signed by its merchant`, { paymentId: payment.paymentId, ...(signer ? { signer } : {}) });
    }
    return { id: disputeNoteId(note, this.domain), merchant };
  }

  /**
   * Whether the payer's dispute has executed though the indexer has not applied it to the payment yet
   * (a gateway learns of the execution from the operation and may send the merchant's note at once).
   */
  private async disputeExecuted(paymentId: string): Promise<boolean> {
    const ops = await this.modules.storage.operations.listByPayment(paymentId);
    return ops.some((op) => op.kind === "dispute" && op.status === "executed") && !ops.some((op) => op.kind === "resolve" && op.status === "executed");
  }

  /** A note from this node's API (a gateway): checked, stored, then gossiped. */
  async submit(note: DisputeNote): Promise<{ stored: StoredDisputeNote; created: boolean }> {
    const paymentId = note.paymentId.toLowerCase();
    const payment = await this.modules.storage.payments.get(paymentId);
    if (!payment) throw new SettlenetError("PAYMENT_NOT_FOUND", `no payment ${paymentId}`, { id: paymentId });
    const { id, merchant } = this.authenticate(note, payment);
    if (payment.status === "resolved") throw new SettlenetError("DISPUTE_RESOLVED", `the dispute on ${paymentId} is resolved`, { paymentId });
    if (payment.status !== "disputed" && !(await this.disputeExecuted(paymentId))) throw new SettlenetError("PAYMENT_NOT_DISPUTED", `payment ${paymentId} is ${payment.status}, not disputed`, { paymentId, paymentStatus: payment.status });
    const result = await this.modules.storage.disputes.addNote({ id, note, merchant, origin: "api", receivedAtMs: Date.now() });
    if (result.created) {
      this.modules.logger.info({ paymentId, noteId: id, merchant }, "dispute note stored");
      await this.gossip(paymentId);
    }
    return result;
  }

  /** Publishes every note of the payment (the new one and any a missing peer never got); failures are logged, the note stays stored. */
  private async gossip(paymentId: string): Promise<void> {
    if (!this.publish) return;
    const notes = (await this.modules.storage.disputes.notesOf(paymentId)).slice(-MAX_NOTES_PER_MESSAGE).map((n) => n.note);
    try {
      await this.publish(encoder.encode(JSON.stringify({ v: 1, sentAtMs: Date.now(), notes })));
    } catch (error) {
      this.modules.logger.warn({ err: error, paymentId }, "dispute notes not gossiped");
    }
  }

  /** The dispute-notes topic validator: reject what is malformed or not the merchant's; store the rest. */
  async onGossip(from: string, data: Uint8Array): Promise<GossipValidationResult> {
    let notes: DisputeNote[];
    try {
      notes = messageSchema.parse(JSON.parse(decoder.decode(data))).notes;
    } catch {
      this.modules.logger.debug({ remote: from }, "dispute note message malformed");
      return "reject";
    }
    let unknown = false;
    for (const note of notes) {
      const payment = await this.modules.storage.payments.get(note.paymentId);
      if (!payment) {
        unknown = true;
        continue;
      }
      let checked: { id: string; merchant: string };
      try {
        checked = this.authenticate(note, payment);
      } catch (error) {
        this.modules.logger.debug({ remote: from, code: (error as SettlenetError).code, paymentId: note.paymentId }, "dispute note rejected");
        return "reject";
      }
      const { created } = await this.modules.storage.disputes.addNote({ ...checked, note, origin: "gossip", receivedAtMs: Date.now() });
      if (created) this.modules.logger.info({ remote: from, paymentId: note.paymentId, noteId: checked.id }, "dispute note received");
    }
    return unknown ? "ignore" : "accept";
  }
}

/**
 * The payer's reason in words, as this node received it with the dispute of `reason` among a payment's
 * stored operations (the chain has only the bytes32); null when none came with its text.
 */
export function disputeReasonTextOf(operations: readonly StoredOperation[], reason: string | null): string | null {
  if (reason === null) return null;
  for (const stored of operations) {
    const op = stored.op;
    if (op.kind === "dispute" && op.reasonText !== undefined && op.reason.toLowerCase() === reason.toLowerCase()) return op.reasonText;
  }
  return null;
}

/** Registers the disputes routes (the queue and the notes). */
export function registerDisputeRoutes(app: FastifyInstance, modules: { notes: DisputeNotes; storage: Pick<NodeStorage, "disputes" | "operations"> }): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { storage, notes } = modules;
  api.route({
    ...disputeRoutes.listDisputes,
    handler: async (request) => {
      const { status, limit, cursor } = request.query;
      const page = await storage.disputes.list(status, { limit, ...(cursor ? { cursor } : {}) });
      const items = await Promise.all(
        page.items.map(async (payment) => {
          const disputed = payment.events.findLast((e) => e.event === "PaymentDisputed");
          const signed = disputed?.args["reason"];
          const reason = typeof signed === "string" ? signed : null;
          return {
            payment,
            reason,
            reasonText: disputeReasonTextOf(reason === null ? [] : await storage.operations.listByPayment(payment.paymentId), reason),
            disputedAt: disputed?.timestamp ?? null,
            notes: (await storage.disputes.notesOf(payment.paymentId)).map(noteView),
          };
        }),
      );
      return { items, ...(page.next ? { next: page.next } : {}) };
    },
  });
  api.route({
    ...disputeRoutes.listDisputeNotes,
    handler: async (request) => ({ items: (await storage.disputes.notesOf(request.params.id)).map(noteView) }),
  });
  api.route({
    ...disputeRoutes.submitDisputeNote,
    handler: async (request, reply) => {
      if (request.body.paymentId.toLowerCase() !== request.params.id.toLowerCase()) {
        throw new SettlenetError("MALFORMED", "the note is on another payment than the URL's", { id: request.params.id });
      }
      const { stored, created } = await notes.submit(request.body);
      return reply.status(created ? 201 : 200).send(noteView(stored));
    },
  });
}
