/**
 * GET /v1/disputes: the merchant's disputed payments with the payer's reason and the merchant's notes;
 * POST and GET /v1/disputes/:id/notes: the merchant's notes for the arbiter (behaviour in
 * domain/dispute-notes.ts, domain/payments.ts and domain/payer-actions.ts).
 */
import type { FastifyPluginAsyncZod } from "fastify-type-provider-zod";

import type { DisputeNoteView } from "../../../core/api/disputes.js";
import { merchantOf } from "../../plugins/app/auth.js";
import { paymentIdParam } from "../payments/schemas.js";
import { paymentViewOf } from "../payments/views.js";
import { SIGNED, problemResponses, requiredIdempotencyHeaders } from "../schemas.js";
import { disputeList, disputeListQuery, disputeNoteBody, disputeNoteList, disputeNoteView } from "./schemas.js";

const iso = (ms: number) => new Date(ms).toISOString();
const noteViewOf = (note: DisputeNoteView) => ({ object: "dispute_note" as const, id: note.id, text: note.text, evidence: note.evidence, createdAt: iso(note.createdAtMs) });

/** Registers the disputes routes on the signed /v1 scope. */
export const disputeRoutes: FastifyPluginAsyncZod = async (app) => {
  /** The payer actions relayed for an order (none without money modules). */
  const actionsOf = (orderId: string) => (app.payerActions ? app.payerActions.actionsOf(orderId) : Promise.resolve([]));
  app.get(
    "/disputes",
    {
      schema: {
        tags: ["payments"],
        security: SIGNED,
        operationId: "listDisputes",
        summary: "The merchant's disputed payments (newest first, cursor pagination)",
        querystring: disputeListQuery,
        response: { 200: disputeList, ...problemResponses },
      },
    },
    async (request) => {
      const merchant = merchantOf(request);
      const { status, limit, cursor } = request.query;
      const page = await app.payments.list(merchant, { status, limit, ...(cursor ? { cursor } : {}) });
      const items = await Promise.all(
        page.items.map(async (order) => {
          const [actions, notes] = await Promise.all([actionsOf(order.id), app.disputeNotes.notesOf(order)]);
          const dispute = actions.filter((a) => a.action === "dispute").pop();
          return {
            object: "dispute" as const,
            payment: paymentViewOf(order, app.payments),
            reason: dispute?.reason ?? null,
            reasonHash: dispute?.reasonHash ?? null,
            openedAt: dispute ? iso(dispute.submittedAtMs) : null,
            notes: notes.map(noteViewOf),
          };
        }),
      );
      return { object: "list" as const, items, nextCursor: page.next ?? null };
    },
  );

  app.post(
    "/disputes/:id/notes",
    {
      schema: {
        tags: ["payments"],
        security: SIGNED,
        operationId: "addDisputeNote",
        summary: "Add a note for the arbiter to an open dispute of the merchant's payment",
        description:
          "The gateway signs the note with the merchant's key (EIP-712 DisputeNote) and submits it to its institution node, which gossips it to every node: an arbiter signed in at any of them reads it. Refused with PAYMENT_NOT_FOUND (not this merchant's payment), PAYMENT_NOT_DISPUTED or DISPUTE_RESOLVED.",
        headers: requiredIdempotencyHeaders,
        params: paymentIdParam,
        body: disputeNoteBody,
        response: { 201: disputeNoteView, ...problemResponses },
      },
    },
    async (request, reply) => {
      const { note } = await app.disputeNotes.add(merchantOf(request), request.params.id, request.body);
      return reply.status(201).send(noteViewOf(note));
    },
  );

  app.get(
    "/disputes/:id/notes",
    {
      schema: {
        tags: ["payments"],
        security: SIGNED,
        operationId: "listDisputeNotes",
        summary: "The merchant's notes on a dispute of its payment, oldest first",
        params: paymentIdParam,
        response: { 200: disputeNoteList, ...problemResponses },
      },
    },
    async (request) => ({ object: "list" as const, items: (await app.disputeNotes.list(merchantOf(request), request.params.id)).map(noteViewOf) }),
  );
};
