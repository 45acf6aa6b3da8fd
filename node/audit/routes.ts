/**
 * Audit API (on every node; read-only, so a regulator node serves it too):
 * - a payment's full history: each operation with signer, signature, relayer, transaction, block,
 *   time and outcome, the chain events that moved it, and the merchant's signed notes on its dispute;
 * - payment queries by account (payer), merchant, institution and time range with cursor pagination
 *   (the payment indexes);
 * - settlement cycles: state, attestations, records, alerts;
 * - a Merkle inclusion proof of any record of a finalized cycle (leaf values, proof, root), which
 *   verifies with @openzeppelin/merkle-tree and with SettlementLedger.verifyRecord / verifyLeaf;
 * - settlement statements per cycle and merchant or institution, in JSON or CSV.
 */
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { FastifyInstance } from "fastify";
import type { ZodTypeProvider } from "fastify-type-provider-zod";

import { auditRoutes } from "../../core/api/audit.js";
import { settlementRoutes } from "../../core/api/settlement.js";
import { SettlenetError } from "../../core/errors.js";
import type { Storage } from "../services.js";
import type { LevelCycleRepository } from "../storage/cycles.js";
import type { LevelDisputeRepository } from "../storage/disputes.js";
import { noteView } from "../disputes/notes.js";
import type { ListOptions } from "../../core/records.js";
import { LEAF_ENCODING, RECORD_KINDS, kindName, recordFromJson, recordValues, type RecordValues } from "../../core/settlement/records.js";
import { statementCsv } from "../../core/settlement/statement.js";
import { statementOf } from "../settlement/statement.js";

export interface AuditModules {
  storage: Storage & { cycles: LevelCycleRepository; disputes: LevelDisputeRepository };
}

/** Proof trees of finalized cycles (their records no longer change), a few at a time. */
const TREE_CACHE_SIZE = 8;

/** Registers the audit routes on the node API. */
export function registerAuditRoutes(app: FastifyInstance, modules: AuditModules): void {
  const api = app.withTypeProvider<ZodTypeProvider>();
  const { storage } = modules;
  const cycles = storage.cycles;
  const trees = new Map<string, { root: string; tree: StandardMerkleTree<RecordValues> }>();

  api.route({
    ...auditRoutes.getPaymentHistory,
    handler: async (request) => {
      const id = request.params.id.toLowerCase();
      const [payment, operations, notes] = await Promise.all([storage.payments.get(id), storage.operations.listByPayment(id), storage.disputes.notesOf(id)]);
      if (!payment && operations.length === 0) throw new SettlenetError("PAYMENT_NOT_FOUND", `no payment ${id}`, { id });
      const history = operations
        .map((op) => ({
          id: op.id,
          kind: op.kind,
          signer: op.signer,
          signature: "signature" in op.op ? op.op.signature : null,
          reason: "reason" in op.op ? op.op.reason : null,
          reasonText: op.op.kind === "dispute" ? (op.op.reasonText ?? null) : null,
          origin: op.origin,
          receivedAtMs: op.receivedAtMs,
          relayer: op.execution?.relayer ?? null,
          txHash: op.execution?.txHash ?? op.txHash ?? null,
          blockNumber: op.execution?.blockNumber ?? null,
          timestamp: op.execution?.timestamp ?? null,
          outcome: op.status,
          ...(op.error ? { error: op.error } : {}),
        }))
        .sort((a, b) => (a.blockNumber ?? Number.MAX_SAFE_INTEGER) - (b.blockNumber ?? Number.MAX_SAFE_INTEGER) || a.receivedAtMs - b.receivedAtMs);
      return { paymentId: id, payment: payment ?? null, operations: history, events: payment?.events ?? [], disputeNotes: notes.map(noteView) };
    },
  });

  api.route({
    ...auditRoutes.listAuditPayments,
    handler: async (request) => {
      const { account, merchant, institution, limit, cursor, from, to } = request.query;
      if ([account, merchant, institution].filter((v) => v !== undefined).length > 1) {
        throw new SettlenetError("MALFORMED", "filter by one of account, merchant or institution", {});
      }
      const list: ListOptions = { limit, ...(cursor ? { cursor } : {}), ...(from !== undefined ? { from } : {}), ...(to !== undefined ? { to } : {}) };
      if (account) return storage.payments.listByPayer(account, list);
      if (merchant) return storage.payments.listByMerchant(merchant, list);
      if (institution) return storage.payments.listByInstitution(institution, list);
      return storage.payments.listByTime(list);
    },
  });

  api.route({
    ...settlementRoutes.listCycles,
    handler: async (request) => {
      const { limit, cursor } = request.query;
      return cycles.list({ limit, ...(cursor ? { cursor } : {}) });
    },
  });

  const cycleOrFail = async (id: string) => {
    const state = await cycles.get(id);
    if (!state) throw new SettlenetError("CYCLE_NOT_FOUND", `this node has no settlement cycle ${id} (not closed yet, or empty)`, { cycleId: id });
    return state;
  };

  api.route({
    ...settlementRoutes.getCycle,
    handler: async (request) => {
      const state = await cycleOrFail(request.params.id);
      const attestations = await cycles.attestations(request.params.id);
      return { ...state, attestations };
    },
  });

  api.route({
    ...settlementRoutes.listCycleRecords,
    handler: async (request) => {
      await cycleOrFail(request.params.id);
      const { limit, cursor } = request.query;
      return cycles.recordsPage(request.params.id, { limit, ...(cursor ? { cursor } : {}) });
    },
  });

  api.route({
    ...settlementRoutes.getRecordProof,
    handler: async (request) => {
      const cycleId = request.params.id;
      const state = await cycleOrFail(cycleId);
      if (state.status !== "finalized" || !state.finalized) {
        throw new SettlenetError("CYCLE_NOT_FINALIZED", `cycle ${cycleId} is not finalized yet`, { cycleId, status: state.status });
      }
      if (!state.finalized.matches) {
        throw new SettlenetError("CYCLE_DIVERGED", `this node's records of cycle ${cycleId} do not match the finalized root`, {
          cycleId,
          localRoot: state.summary.merkleRoot,
          finalizedRoot: state.finalized.merkleRoot,
        });
      }
      let cached = trees.get(cycleId);
      if (!cached || cached.root !== state.finalized.merkleRoot) {
        const records = (await cycles.records(cycleId)).map(recordFromJson);
        const tree = StandardMerkleTree.of(records.map(recordValues), LEAF_ENCODING);
        if (tree.root.toLowerCase() !== state.finalized.merkleRoot.toLowerCase()) {
          throw new SettlenetError("CYCLE_DIVERGED", `this node's stored records of cycle ${cycleId} no longer give the finalized root`, {
            cycleId,
            localRoot: tree.root,
            finalizedRoot: state.finalized.merkleRoot,
          });
        }
        cached = { root: state.finalized.merkleRoot, tree };
        trees.set(cycleId, cached);
        if (trees.size > TREE_CACHE_SIZE) trees.delete(trees.keys().next().value as string);
      }
      const kind = RECORD_KINDS[request.query.kind];
      const recordId = request.query.recordId.toLowerCase();
      for (const [index, values] of cached.tree.entries()) {
        if (values[2] !== kind || values[1].toLowerCase() !== recordId) continue;
        const [cid, rid, k, account, counterparty, token, amount, fee] = values;
        return {
          cycleId,
          root: cached.tree.root,
          leafEncoding: LEAF_ENCODING,
          record: {
            cycleId: cid.toString(),
            recordId: rid,
            kind: k,
            kindName: kindName(k),
            account,
            counterparty,
            token,
            amount: amount.toString(),
            fee: fee.toString(),
          },
          /** Leaf values in encoding order (numbers as decimal strings), ready for StandardMerkleTree.verify. */
          leaf: [cid.toString(), rid, String(k), account, counterparty, token, amount.toString(), fee.toString()],
          leafHash: cached.tree.leafHash(values),
          proof: cached.tree.getProof(index),
        };
      }
      throw new SettlenetError("RECORD_NOT_FOUND", `cycle ${cycleId} has no ${request.query.kind} record ${recordId}`, { cycleId, kind: request.query.kind, recordId });
    },
  });

  api.route({
    ...settlementRoutes.getStatement,
    handler: async (request, reply) => {
      const { merchant, institution, format } = request.query;
      if ((merchant === undefined) === (institution === undefined)) {
        throw new SettlenetError("MALFORMED", "name exactly one of merchant or institution", {});
      }
      const state = await cycleOrFail(request.params.id);
      const records = await cycles.records(request.params.id);
      const statement = statementOf(state, records, merchant ? { type: "merchant", account: merchant } : { type: "institution", account: institution as string });
      if (format === "csv") {
        return reply
          .type("text/csv; charset=utf-8")
          .header("content-disposition", `attachment; filename="statement-${statement.cycleId}-${statement.party.account}.csv"`)
          .send(statementCsv(statement));
      }
      return statement;
    },
  });

  api.route({
    ...settlementRoutes.listSettlementAlerts,
    handler: async (request) => {
      const { cycle, limit, cursor } = request.query;
      return cycles.alerts({ limit, ...(cursor ? { cursor } : {}), ...(cycle !== undefined ? { cycleId: cycle } : {}) });
    },
  });
}
