/**
 * A merchant's notes on a dispute of one of its payments: its answer to the payer's reason, for the
 * arbiter. The gateway signs each note with the merchant's key (EIP-712, core/protocol/dispute-note.ts)
 * and submits it to its institution node, which checks the signer against the payment's merchant,
 * stores it and gossips it to every node, so an arbiter signed in anywhere reads it. The notes live on
 * the nodes; the gateway keeps none of its own and reads them back from its node.
 */
import type { Logger } from "pino";

import { NodeApiError, isRetryLater, type NodeApiClient } from "../../core/api/client.js";
import type { DisputeNoteView } from "../../core/api/disputes.js";
import { SettlenetError } from "../../core/errors.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { signDisputeNote } from "../../core/protocol/dispute-note.js";
import { merchantWallet } from "./merchants.js";
import { nodeRefusal, retryLater } from "./node-refusal.js";
import type { PaymentService } from "./payments.js";
import type { MerchantRecord, OrderRecord } from "./records.js";
import type { SecretBox } from "./secrets.js";

export interface DisputeNoteModules {
  payments: PaymentService;
  node: NodeApiClient;
  secrets: SecretBox;
  logger: Logger;
  now: () => number;
}

/** Adds and reads merchants' notes on their disputes. */
export class DisputeNoteService {
  private readonly domain: { chainId: bigint; escrow: string };

  constructor(
    options: { deployment: Deployment },
    private readonly modules: DisputeNoteModules,
  ) {
    this.domain = { chainId: BigInt(options.deployment.chainId), escrow: options.deployment.contracts.escrow };
  }

  /**
   * Signs and submits a note on the merchant's disputed payment `id`: PAYMENT_NOT_FOUND for another
   * merchant's, DISPUTE_RESOLVED once decided, PAYMENT_NOT_DISPUTED otherwise; node refusals keep the
   * node's code.
   */
  async add(merchant: MerchantRecord, id: string, input: { text: string; evidence: string[] }): Promise<{ order: OrderRecord; note: DisputeNoteView }> {
    const order = await this.disputed(merchant, id);
    const note = await signDisputeNote(merchantWallet(merchant, this.modules.secrets), { paymentId: order.paymentId, text: input.text, evidence: input.evidence, createdAtMs: this.modules.now() }, this.domain);
    try {
      const { note: stored } = await this.modules.node.submitDisputeNote(note);
      this.modules.logger.info({ merchantId: merchant.id, id, noteId: stored.id }, "dispute note submitted");
      return { order, note: stored };
    } catch (error) {
      if (isRetryLater(error)) throw retryLater(error, "dispute note");
      if (error instanceof NodeApiError) throw nodeRefusal(error.problem, "dispute note");
      throw error;
    }
  }

  /** The notes on the merchant's payment `id`, oldest first (PAYMENT_NOT_FOUND for another merchant's). */
  async list(merchant: MerchantRecord, id: string): Promise<DisputeNoteView[]> {
    const { order } = await this.modules.payments.get(merchant, id);
    return this.notesOf(order);
  }

  /** The notes on an order the caller already holds (none before a dispute). */
  async notesOf(order: OrderRecord): Promise<DisputeNoteView[]> {
    return order.status === "disputed" || order.status === "resolved" ? this.modules.node.disputeNotes(order.paymentId) : [];
  }

  /** The order, if the merchant's and its dispute is open (asking the node when the feed has not said so yet). */
  private async disputed(merchant: MerchantRecord, id: string): Promise<OrderRecord> {
    let { order } = await this.modules.payments.get(merchant, id);
    if (order.status !== "disputed" && order.status !== "resolved") order = await this.modules.payments.syncOrder(order, await this.modules.node.payment(order.paymentId));
    if (order.status === "resolved") throw new SettlenetError("DISPUTE_RESOLVED", `the dispute on payment ${id} is resolved: notes are closed`, { id });
    if (order.status !== "disputed") throw new SettlenetError("PAYMENT_NOT_DISPUTED", `payment ${id} is ${order.status}, not disputed`, { id, paymentStatus: order.status });
    return order;
  }
}
