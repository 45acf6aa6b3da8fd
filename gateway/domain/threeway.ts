/**
 * Three-way reconciliation (对账): the gateway's records (orders, transfers, payouts, top-ups) against
 * the chain's (payments and token mints/burns, read through the institution node's API) and the
 * custodian bank's (deposits and payouts). Every disagreement is a break with a kind:
 *
 * | kind                 | meaning                                                                         |
 * | -------------------- | ------------------------------------------------------------------------------- |
 * | `missing_in_gateway` | the chain or the bank has a record of a gateway merchant the gateway never made |
 * | `missing_on_chain`   | the gateway's record says it happened on-chain (pay, burn, mint) but the chain has nothing |
 * | `missing_at_bank`    | the gateway's payout or top-up went to the bank but the bank has no record of it |
 * | `status_mismatch`    | the sides contradict each other's state (e.g. paid here, rejected at the bank)  |
 * | `amount_mismatch`    | the same record with different amounts (or refunded amounts)                    |
 *
 * Only contradictions are breaks: a step still in flight on one side (a pay the node has not executed
 * yet, a bank transfer still pending) is not. Matching keys: payments by payment id; payouts by the
 * burn's bankRef (keccak256 of the payout id) and the bank reference (the payout id); top-ups by the
 * bank reference (the top-up id and merchant: core/bank/references.ts) and the mint's bankRef (keccak256 of the bank's bt_ reference).
 *
 * Sources: the gateway side from its database (`gatewaySideFromStorage`: the CLI opens it while the
 * gateway is stopped, the gateway's own GET /v1/reports/threeway reads it in-process for one
 * merchant); the chain side from the node (`GET /v1/payments?merchant=|payer=`, and the newest 500
 * events per token from `GET /v1/tokens/{token}/events`: the report says when that bound was reached);
 * the bank side from the bank's transfer feed (`BankAdapter.listTransfers`).
 */
import { z } from "zod";

import type { Deployment } from "../../core/protocol/deployment.js";
import type { BankAdapter, BankTransfer } from "../adapters/bank.js";
import type { PayoutRecord, TopupRecord, TransferRecord } from "./money-types.js";
import { chainBankRef } from "./token-ops.js";
import { depositReference } from "../../core/bank/references.js";
import type { NodeApiClient } from "../../core/api/client.js";
import type { GatewayStorage } from "../storage/db.js";
import { ON_CHAIN_ORDER_STATUSES, type MerchantRecord, type OrderRecord } from "./records.js";

export const BREAK_KINDS = ["missing_in_gateway", "missing_on_chain", "missing_at_bank", "status_mismatch", "amount_mismatch"] as const;
export type BreakKind = (typeof BREAK_KINDS)[number];
export type BreakSubject = "payment" | "payout" | "topup";

/** One disagreement between the three sides. */
export interface ThreeWayBreak {
  kind: BreakKind;
  subject: BreakSubject;
  /** The gateway's id (pay_…, po_…, tu_…, tr_…) when it has the record, else the chain's payment id or bankRef, or the bank's reference. */
  ref: string;
  merchantId: string | null;
  /** What each side says (status and amount), null where the side has no record. */
  gateway: string | null;
  chain: string | null;
  bank: string | null;
  detail: string;
}

export interface ThreeWayReport {
  generatedAt: string;
  merchantId: string | null;
  counts: { orders: number; transfers: number; payouts: number; topups: number; chainPayments: number; chainTokenEvents: number; bankTransfers: number };
  /** The node lists at most 500 events per token: older mints and burns were not compared. */
  chainEventsTruncated: boolean;
  breaks: ThreeWayBreak[];
}

/** The gateway's records in scope. */
export interface GatewaySide {
  merchants: Pick<MerchantRecord, "id" | "address">[];
  orders: OrderRecord[];
  transfers: TransferRecord[];
  payouts: PayoutRecord[];
  topups: TopupRecord[];
  /** Payment ids of other merchants' transfers to the merchants in scope (scoped reports: not breaks). */
  incomingTransfers: string[];
}

/** A payment as the node indexed it from the chain. */
export const chainPaymentSchema = z.looseObject({
  paymentId: z.string(),
  payer: z.string(),
  merchant: z.string(),
  amount: z.string(),
  refunded: z.string(),
  status: z.string(),
});
export type ChainPayment = z.infer<typeof chainPaymentSchema>;

const tokenEventSchema = z.looseObject({
  event: z.string(),
  args: z.record(z.string(), z.union([z.string(), z.boolean()])),
});

/** A settlement-token mint or burn. */
export interface ChainTokenMove {
  event: "Minted" | "Burned";
  account: string;
  amount: string;
  bankRef: string;
}

export interface ChainSide {
  payments: ChainPayment[];
  moves: ChainTokenMove[];
  truncated: boolean;
}

const TOKEN_EVENT_LIMIT = 500;
const PAGE = 500;

/** The gateway's orders, transfers, payouts and top-ups (of one merchant, or of all). */
export async function gatewaySideFromStorage(storage: GatewayStorage, merchantId?: string): Promise<GatewaySide> {
  const merchants = (await storage.merchants.list()).filter((m) => merchantId === undefined || m.id === merchantId);
  const side: GatewaySide = { merchants: merchants.map((m) => ({ id: m.id, address: m.address })), orders: [], transfers: [], payouts: [], topups: [], incomingTransfers: [] };
  for (const merchant of merchants) {
    let cursor: string | undefined;
    do {
      const page = await storage.orders.list(merchant.id, { limit: PAGE, ...(cursor ? { cursor } : {}) });
      side.orders.push(...page.items);
      cursor = page.next;
    } while (cursor);
    side.transfers.push(...(await allMoney(storage, "transfer", merchant.id)));
    side.payouts.push(...(await allMoney(storage, "payout", merchant.id)));
    side.topups.push(...(await allMoney(storage, "topup", merchant.id)));
  }
  if (merchantId !== undefined) {
    const addresses = new Set(merchants.map((m) => m.address.toLowerCase()));
    for (const other of await storage.merchants.list()) {
      if (other.id === merchantId) continue;
      for (const t of await allMoney(storage, "transfer", other.id)) if (addresses.has(t.to.toLowerCase())) side.incomingTransfers.push(t.paymentId);
    }
  }
  return side;
}

async function allMoney<K extends "payout" | "topup" | "transfer">(storage: GatewayStorage, kind: K, merchantId: string) {
  const out = [];
  let cursor: string | undefined;
  do {
    const page = await storage.money.list(kind, merchantId, { limit: PAGE, ...(cursor ? { cursor } : {}) });
    out.push(...page.items);
    cursor = page.next;
  } while (cursor);
  return out;
}

/** The chain's payments of the merchants (as merchant or as payer) and the tokens' mints and burns, through the node. */
export async function chainSideFromNode(node: Pick<NodeApiClient, "payments" | "tokenEvents">, deployment: Deployment, merchants: Pick<MerchantRecord, "address">[]): Promise<ChainSide> {
  const payments = new Map<string, ChainPayment>();
  for (const merchant of merchants) {
    for (const filter of [{ merchant: merchant.address }, { payer: merchant.address }]) {
      let cursor: string | undefined;
      do {
        const page = await node.payments({ ...filter, limit: PAGE, ...(cursor ? { cursor } : {}) });
        for (const item of page.items) {
          const payment = chainPaymentSchema.parse(item);
          payments.set(payment.paymentId.toLowerCase(), payment);
        }
        cursor = page.next;
      } while (cursor);
    }
  }
  const moves: ChainTokenMove[] = [];
  let truncated = false;
  for (const token of Object.values(deployment.tokens)) {
    const events = await node.tokenEvents(token.address, TOKEN_EVENT_LIMIT);
    if (events.length >= TOKEN_EVENT_LIMIT) truncated = true;
    for (const raw of events) {
      const { event, args } = tokenEventSchema.parse(raw);
      if (event !== "Minted" && event !== "Burned") continue;
      const account = event === "Minted" ? args["to"] : args["from"];
      if (typeof account !== "string" || typeof args["amount"] !== "string" || typeof args["bankRef"] !== "string") continue;
      moves.push({ event, account, amount: args["amount"], bankRef: args["bankRef"] });
    }
  }
  return { payments: [...payments.values()], moves, truncated };
}

/** Every transfer the bank knows (its change feed from the start, the latest state of each). */
export async function bankSideFromAdapter(bank: Pick<BankAdapter, "listTransfers">): Promise<BankTransfer[]> {
  const byRef = new Map<string, BankTransfer>();
  let cursor: string | undefined;
  for (;;) {
    const page = await bank.listTransfers({ limit: PAGE, ...(cursor ? { cursor } : {}) });
    for (const t of page.transfers) byRef.set(t.bankRef, t);
    if (!page.hasMore || !page.nextCursor) break;
    cursor = page.nextCursor;
  }
  return [...byRef.values()];
}

const ON_CHAIN = new Set<string>(Object.values(ON_CHAIN_ORDER_STATUSES));
const lower = (s: string) => s.toLowerCase();

/** Compares the three sides; `scoped` restricts orphan bank records to the accounts the merchant used. */
export function reconcileThreeWay(gateway: GatewaySide, chain: ChainSide, bank: BankTransfer[], options: { merchantId?: string } = {}): ThreeWayBreak[] {
  const breaks: ThreeWayBreak[] = [];
  const merchantByAddress = new Map(gateway.merchants.map((m) => [lower(m.address), m.id]));
  const chainPayments = new Map(chain.payments.map((p) => [lower(p.paymentId), p]));
  const describePayment = (p: ChainPayment | undefined) => (p ? `${p.status} ${p.amount} refunded ${p.refunded}` : null);

  // Payments: orders and transfers against the node's index of the chain.
  const known = new Set<string>(gateway.incomingTransfers.map(lower));
  for (const order of gateway.orders) {
    const key = lower(order.paymentId);
    known.add(key);
    const onChain = chainPayments.get(key);
    const here = `${order.status} ${order.amount} refunded ${order.onChain?.refunded ?? "0"}`;
    const base = { subject: "payment" as const, ref: order.id, merchantId: order.merchantId, gateway: here, chain: describePayment(onChain), bank: null };
    if (!onChain) {
      if (ON_CHAIN.has(order.status)) breaks.push({ ...base, kind: "missing_on_chain", detail: `the gateway has the payment ${order.status}; the chain has no payment ${order.paymentId}` });
      continue;
    }
    // Any other status than the chain's: behind it (processing, or a release not yet seen), or contradicting it (expired, cancelled, failed).
    if (order.status !== onChain.status) breaks.push({ ...base, kind: "status_mismatch", detail: `the gateway says ${order.status}, the chain ${onChain.status}` });
    if (onChain.amount !== order.amount || (ON_CHAIN.has(order.status) && onChain.refunded !== (order.onChain?.refunded ?? "0"))) {
      breaks.push({ ...base, kind: "amount_mismatch", detail: `the gateway has ${order.amount} (refunded ${order.onChain?.refunded ?? "0"}), the chain ${onChain.amount} (refunded ${onChain.refunded})` });
    }
  }
  for (const transfer of gateway.transfers) {
    const key = lower(transfer.paymentId);
    known.add(key);
    const onChain = chainPayments.get(key);
    const base = { subject: "payment" as const, ref: transfer.id, merchantId: transfer.merchantId, gateway: `transfer ${transfer.operation.status} ${transfer.amount}`, chain: describePayment(onChain), bank: null };
    if (transfer.operation.status === "executed" && !onChain) breaks.push({ ...base, kind: "missing_on_chain", detail: `transfer ${transfer.id} executed here; the chain has no payment ${transfer.paymentId}` });
    else if (transfer.operation.status === "failed" && onChain) breaks.push({ ...base, kind: "status_mismatch", detail: `transfer ${transfer.id} failed here; the chain has it ${onChain.status}` });
    if (onChain && onChain.amount !== transfer.amount) breaks.push({ ...base, kind: "amount_mismatch", detail: `transfer of ${transfer.amount}; the chain paid ${onChain.amount}` });
  }
  for (const payment of chain.payments) {
    if (known.has(lower(payment.paymentId))) continue;
    const merchantId = merchantByAddress.get(lower(payment.merchant)) ?? merchantByAddress.get(lower(payment.payer)) ?? null;
    breaks.push({
      kind: "missing_in_gateway",
      subject: "payment",
      ref: payment.paymentId,
      merchantId,
      gateway: null,
      chain: describePayment(payment),
      bank: null,
      detail: `the chain has payment ${payment.paymentId} (payer ${payment.payer}, merchant ${payment.merchant}) that the gateway never made`,
    });
  }

  // Money: payouts (burn, then bank) and top-ups (bank, then mint).
  const moves = new Map(chain.moves.map((m) => [`${m.event}:${lower(m.bankRef)}`, m]));
  const bankByReference = new Map(bank.map((t) => [`${t.kind}:${t.reference}`, t]));
  const usedMoves = new Set<string>();
  const usedBank = new Set<string>();
  const describeBank = (t: BankTransfer | undefined) => (t ? `${t.status} ${t.amount.toString()}` : null);
  const describeMove = (m: ChainTokenMove | undefined) => (m ? `${m.event.toLowerCase()} ${m.amount}` : null);

  for (const payout of gateway.payouts) {
    const burnKey = `Burned:${lower(chainBankRef(payout.id))}`;
    const reversalKey = `Minted:${lower(chainBankRef(`${payout.id}:reversal`))}`;
    const burn = moves.get(burnKey);
    const reversal = moves.get(reversalKey);
    const atBank = bankByReference.get(`payout:${payout.id}`);
    usedMoves.add(burnKey).add(reversalKey);
    usedBank.add(`payout:${payout.id}`);
    const base = { subject: "payout" as const, ref: payout.id, merchantId: payout.merchantId, gateway: `${payout.stage} ${payout.amount}`, chain: describeMove(burn), bank: describeBank(atBank) };
    const burned = payout.stage === "paying" || payout.stage === "paid" || payout.stage === "reversing" || (payout.stage === "failed" && payout.reversed);
    const bankAsked = payout.stage === "paid" || payout.stage === "reversing" || (payout.stage === "failed" && payout.reversed);
    if (burned && !burn) breaks.push({ ...base, kind: "missing_on_chain", detail: `payout ${payout.id} is ${payout.stage}; the chain has no burn for it` });
    if (payout.stage === "failed" && !payout.reversed && burn) breaks.push({ ...base, kind: "status_mismatch", detail: `payout ${payout.id} failed without a burn here; the chain burned ${burn.amount}` });
    if (burn && burn.amount !== payout.amount) breaks.push({ ...base, kind: "amount_mismatch", detail: `payout of ${payout.amount}; the chain burned ${burn.amount}` });
    if (payout.reversed && !reversal) breaks.push({ ...base, kind: "missing_on_chain", detail: `payout ${payout.id} was reversed here; the chain has no re-mint` });
    if (bankAsked && !atBank) breaks.push({ ...base, kind: "missing_at_bank", detail: `payout ${payout.id} is ${payout.stage}; the bank has no payout with this reference` });
    if (atBank) {
      const contradicts =
        (payout.stage === "paid" && atBank.status !== "confirmed") ||
        ((payout.stage === "reversing" || (payout.stage === "failed" && payout.reversed)) && atBank.status !== "rejected") ||
        (payout.stage === "failed" && !payout.reversed);
      if (contradicts) breaks.push({ ...base, kind: "status_mismatch", detail: `payout ${payout.id} is ${payout.stage}${payout.reversed ? " (reversed)" : ""}; the bank says ${atBank.status}` });
      if (atBank.amount.toString() !== payout.amount) breaks.push({ ...base, kind: "amount_mismatch", detail: `payout of ${payout.amount}; the bank paid ${atBank.amount.toString()}` });
    }
  }
  for (const topup of gateway.topups) {
    // The deposit's reference names the merchant (top-ups stored before it did carry the bare id).
    const atBank = bankByReference.get(`deposit:${depositReference(topup.id, topup.merchant)}`) ?? bankByReference.get(`deposit:${topup.id}`);
    usedBank.add(`deposit:${depositReference(topup.id, topup.merchant)}`).add(`deposit:${topup.id}`);
    const bankRef = topup.bank?.bankRef ?? atBank?.bankRef;
    const mintKey = bankRef ? `Minted:${lower(chainBankRef(bankRef))}` : undefined;
    const mint = mintKey ? moves.get(mintKey) : undefined;
    if (mintKey) usedMoves.add(mintKey);
    const base = { subject: "topup" as const, ref: topup.id, merchantId: topup.merchantId, gateway: `${topup.stage} ${topup.amount}`, chain: describeMove(mint), bank: describeBank(atBank) };
    if (topup.stage !== "requesting" && !atBank) breaks.push({ ...base, kind: "missing_at_bank", detail: `top-up ${topup.id} is ${topup.stage}; the bank has no deposit with this reference` });
    if (atBank) {
      const contradicts = ((topup.stage === "completed" || topup.stage === "minting") && atBank.status !== "confirmed") || (topup.stage === "failed" && atBank.status === "confirmed");
      if (contradicts) breaks.push({ ...base, kind: "status_mismatch", detail: `top-up ${topup.id} is ${topup.stage}; the bank says ${atBank.status}` });
      if (atBank.amount.toString() !== topup.amount) breaks.push({ ...base, kind: "amount_mismatch", detail: `top-up of ${topup.amount}; the bank collected ${atBank.amount.toString()}` });
    }
    if (topup.stage === "completed" && !mint) breaks.push({ ...base, kind: "missing_on_chain", detail: `top-up ${topup.id} is completed; the chain has no mint for it` });
    if (topup.stage === "failed" && mint) breaks.push({ ...base, kind: "status_mismatch", detail: `top-up ${topup.id} failed here; the chain minted ${mint.amount}` });
    if (mint && mint.amount !== topup.amount) breaks.push({ ...base, kind: "amount_mismatch", detail: `top-up of ${topup.amount}; the chain minted ${mint.amount}` });
  }

  // Orphans: bank records and token moves of the gateway's merchants that no gateway record explains.
  const accounts = new Set([...gateway.payouts.map((p) => p.account), ...gateway.topups.map((t) => t.account)]);
  for (const t of bank) {
    if (usedBank.has(`${t.kind}:${t.reference}`)) continue;
    if (options.merchantId !== undefined && !accounts.has(t.account)) continue;
    breaks.push({
      kind: "missing_in_gateway",
      subject: t.kind === "payout" ? "payout" : "topup",
      ref: t.reference,
      merchantId: null,
      gateway: null,
      chain: null,
      bank: describeBank(t),
      detail: `the bank has a ${t.kind} ${t.bankRef} (reference ${t.reference}, account ${t.account}) that the gateway never made`,
    });
  }
  for (const move of chain.moves) {
    const key = `${move.event}:${lower(move.bankRef)}`;
    const merchantId = merchantByAddress.get(lower(move.account));
    if (usedMoves.has(key) || merchantId === undefined) continue;
    breaks.push({
      kind: "missing_in_gateway",
      subject: move.event === "Burned" ? "payout" : "topup",
      ref: move.bankRef,
      merchantId,
      gateway: null,
      chain: describeMove(move),
      bank: null,
      detail: `the chain ${move.event === "Burned" ? "burned" : "minted"} ${move.amount} for ${move.account} (bankRef ${move.bankRef}) without a gateway payout or top-up`,
    });
  }
  return breaks;
}

export interface ThreeWayModules {
  storage: GatewayStorage;
  node: Pick<NodeApiClient, "payments" | "tokenEvents">;
  bank: Pick<BankAdapter, "listTransfers">;
  deployment: Deployment;
  now?: () => number;
}

/** The three-way reconciliation of every merchant of the gateway (or of `merchantId`). */
export async function threeWayReport(modules: ThreeWayModules, options: { merchantId?: string } = {}): Promise<ThreeWayReport> {
  const gateway = await gatewaySideFromStorage(modules.storage, options.merchantId);
  const [chain, bank] = await Promise.all([chainSideFromNode(modules.node, modules.deployment, gateway.merchants), bankSideFromAdapter(modules.bank)]);
  const breaks = reconcileThreeWay(gateway, chain, bank, options);
  return {
    generatedAt: new Date((modules.now ?? Date.now)()).toISOString(),
    merchantId: options.merchantId ?? null,
    counts: {
      orders: gateway.orders.length,
      transfers: gateway.transfers.length,
      payouts: gateway.payouts.length,
      topups: gateway.topups.length,
      chainPayments: chain.payments.length,
      chainTokenEvents: chain.moves.length,
      bankTransfers: bank.length,
    },
    chainEventsTruncated: chain.truncated,
    breaks,
  };
}

/** Column order of the CSV report. */
export const THREEWAY_CSV_COLUMNS = ["kind", "subject", "ref", "merchantId", "gateway", "chain", "bank", "detail"] as const;

function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

/** The breaks as CSV (RFC 4180, header row first, CRLF like the other gateway reports). */
export function threeWayCsv(report: ThreeWayReport): string {
  const rows = report.breaks.map((b) => [b.kind, b.subject, b.ref, b.merchantId ?? "", b.gateway ?? "", b.chain ?? "", b.bank ?? "", b.detail].map(csvField).join(","));
  return [THREEWAY_CSV_COLUMNS.join(","), ...rows].join("\r\n") + "\r\n";
}
