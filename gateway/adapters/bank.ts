/**
 * How the gateway talks to the custodian bank. Deposits (top-ups): money arrives at the custodian's
 * reserve account and tokens are minted only once the bank confirms. Payouts (withdrawals): the
 * merchant redeems (burns) its tokens first, the bank pays the merchant's account only against that
 * redemption, final on-chain, and a rejection is reversed by re-minting.
 *
 * `reference` is the caller's idempotency key: asking twice with one reference returns the one
 * transfer made the first time, whatever its status (a different transfer under a used reference is
 * BANK_REFERENCE_CONFLICT), so a caller that lost an answer simply asks again; a new attempt after a
 * rejection needs a new reference. Confirmations arrive asynchronously, by a signed
 * callback the gateway forwards to `handleCallback`, or by polling the bank's change feed; both feed the
 * same `onSettled` listeners, at least once each (listeners must be idempotent by bankRef and status).
 *
 * Error codes: BANK_UNAVAILABLE (network, timeout, 5xx: safe to retry with the same reference),
 * BANK_REJECTED (the bank refused the request; meta.bankCode says why), BANK_REDEMPTION_NOT_FINAL (a
 * payout whose redemption the bank does not see final on-chain yet: retry later), BANK_REFERENCE_CONFLICT,
 * BANK_TRANSFER_NOT_FOUND, BANK_INVALID_RESPONSE (an answer that does not parse or does not match the
 * request), BANK_CALLBACK_* (a callback that is unsigned, badly signed, stale or malformed).
 */
import { setTimeout as sleep } from "node:timers/promises";

import type { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import type { Logger } from "pino";
import {
  bankRequestHeaders,
  BANK_CALLBACK_HEADERS,
  bankProblemSchema,
  callbackEventSchema,
  callbackSignatureMatches,
  reserveSchema,
  transferPageSchema,
  transferSchema,
  type RejectionReason,
  type TransferKind,
  type TransferStatus,
  type TransferWire,
} from "../../core/bank/wire.js";

export type { RejectionReason, TransferKind, TransferStatus };

/** A deposit or payout instruction. */
export interface BankTransferRequest {
  /** Idempotency key chosen by the caller (e.g. the top-up or payout id). */
  reference: string;
  /** The payer's account (deposit) or the merchant's account (payout). */
  account: string;
  /** Minor units, positive. */
  amount: bigint;
  /** ISO 4217 code, e.g. "CNY". */
  currency: string;
}

/** A transfer as the bank knows it. */
export interface BankTransfer {
  bankRef: string;
  kind: TransferKind;
  status: TransferStatus;
  /** Set when rejected. */
  reason?: RejectionReason;
  reference: string;
  account: string;
  amount: bigint;
  currency: string;
  /** Unix ms. */
  createdAt: number;
  updatedAt: number;
}

export interface BankTransferPage {
  transfers: BankTransfer[];
  /** Resume point after the last transfer returned (absent on an empty page: keep the old one). */
  nextCursor?: string;
  hasMore: boolean;
}

/** The custodian's reserve in one currency. */
export interface BankReserve {
  currency: string;
  balance: bigint;
  /** Held for payouts still pending. */
  held: bigint;
  available: bigint;
}

/** A transfer that reached `confirmed` or `rejected`, and how the adapter learnt it. */
export interface BankSettlement {
  transfer: BankTransfer;
  source: "callback" | "poll";
  /** The bank's event id (callbacks only; stable across the bank's retries). */
  eventId?: string;
}

/** Receives settlements; a throw means "not processed" (the callback is refused, the poll cursor stays). */
export type BankSettlementListener = (settlement: BankSettlement) => void | Promise<void>;

/** A raw callback request as the gateway's HTTP route received it. */
export interface BankCallbackRequest {
  headers: Record<string, string | string[] | undefined>;
  /** The exact bytes received (the signature covers them). */
  body: string | Buffer;
}

/** The gateway's view of the custodian bank. */
export interface BankAdapter {
  /** Asks the bank to collect a deposit into the reserve; answers `pending` (or the known transfer). */
  requestDeposit(request: BankTransferRequest): Promise<BankTransfer>;
  /** Asks the bank to pay out of the reserve; answers `pending` (or the known transfer). */
  requestPayout(request: BankTransferRequest): Promise<BankTransfer>;
  /** The transfer now (BANK_TRANSFER_NOT_FOUND if the bank does not know it). */
  getTransfer(bankRef: string): Promise<BankTransfer>;
  /** The bank's change feed, oldest change first: for polling and reconciliation. */
  listTransfers(options: { since?: number; limit: number; cursor?: string }): Promise<BankTransferPage>;
  getReserve(currency: string): Promise<BankReserve>;
  /** Registers a settlement listener; returns its removal. */
  onSettled(listener: BankSettlementListener): () => void;
  /** Verifies and parses a bank callback, then runs the listeners (rejects if any of them throws). */
  handleCallback(request: BankCallbackRequest): Promise<BankSettlement>;
  /** Reads the change feed from the poll cursor to its end; returns how many settlements it reported. */
  pollOnce(): Promise<number>;
  /** Calls pollOnce every `pollIntervalMs` until stopPolling. */
  startPolling(): void;
  stopPolling(): Promise<void>;
  /** Where the next poll starts (persist it to resume after a restart). */
  readonly pollCursor: string | undefined;
}

export interface HttpBankAdapterOptions {
  /** The bank API's base URL, e.g. http://127.0.0.1:7400. */
  baseUrl: string;
  /** Signs every request to the bank as this client (core/bank/wire.ts BANK_REQUEST_HEADERS). */
  client?: { id: string; secret: string };
  /** Verifies callbacks; without it handleCallback refuses everything. */
  callbackSecret?: string;
  /** Largest accepted distance between a callback's timestamp and now. */
  callbackToleranceSeconds?: number;
  /** Per request. */
  timeoutMs?: number;
  /** Tries per call while the bank is unavailable (requests are idempotent, so retrying is safe). */
  attempts?: number;
  retryDelayMs?: number;
  pollIntervalMs?: number;
  pollPageSize?: number;
  /** Resume polling here (a cursor saved from `pollCursor`). */
  pollCursor?: string;
}

function fromWire(wire: TransferWire): BankTransfer {
  return { ...wire, amount: BigInt(wire.amount) };
}

function header(headers: BankCallbackRequest["headers"], name: string): string | undefined {
  const value = headers[name] ?? headers[name.toLowerCase()];
  return Array.isArray(value) ? value[0] : value;
}

/** BankAdapter over the bank's HTTP API (wire.ts); the bank simulator serves the same API. */
export class HttpBankAdapter implements BankAdapter {
  private readonly baseUrl: string;
  private readonly logger: Logger;
  private readonly listeners = new Set<BankSettlementListener>();
  private cursor: string | undefined;
  private polling: { stop: AbortController; loop: Promise<void> } | undefined;

  constructor(
    private readonly options: HttpBankAdapterOptions,
    modules: { logger: Logger },
  ) {
    this.baseUrl = options.baseUrl.replace(/\/+$/, "");
    this.logger = modules.logger.child({ module: "bank-adapter" });
    this.cursor = options.pollCursor;
  }

  get pollCursor(): string | undefined {
    return this.cursor;
  }

  requestDeposit(request: BankTransferRequest): Promise<BankTransfer> {
    return this.requestTransfer("deposit", request);
  }

  requestPayout(request: BankTransferRequest): Promise<BankTransfer> {
    return this.requestTransfer("payout", request);
  }

  async getTransfer(bankRef: string): Promise<BankTransfer> {
    const wire = await this.call("GET", `/v1/transfers/${encodeURIComponent(bankRef)}`, undefined, transferSchema);
    if (wire.bankRef !== bankRef) throw this.invalid("the bank answered with another transfer", { bankRef, answered: wire.bankRef });
    return fromWire(wire);
  }

  async listTransfers(options: { since?: number; limit: number; cursor?: string }): Promise<BankTransferPage> {
    const query = new URLSearchParams({ limit: String(options.limit) });
    if (options.since !== undefined) query.set("since", String(options.since));
    if (options.cursor !== undefined) query.set("cursor", options.cursor);
    const page = await this.call("GET", `/v1/transfers?${query.toString()}`, undefined, transferPageSchema);
    return { transfers: page.transfers.map(fromWire), hasMore: page.hasMore, ...(page.nextCursor !== null ? { nextCursor: page.nextCursor } : {}) };
  }

  async getReserve(currency: string): Promise<BankReserve> {
    const wire = await this.call("GET", `/v1/reserves/${encodeURIComponent(currency)}`, undefined, reserveSchema);
    return { currency: wire.currency, balance: BigInt(wire.balance), held: BigInt(wire.held), available: BigInt(wire.available) };
  }

  onSettled(listener: BankSettlementListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  async handleCallback(request: BankCallbackRequest): Promise<BankSettlement> {
    const secret = this.options.callbackSecret;
    if (!secret) throw new SettlenetError("BANK_CALLBACK_NOT_CONFIGURED", "no callback secret is configured");
    const body = typeof request.body === "string" ? request.body : request.body.toString("utf8");
    const eventId = header(request.headers, BANK_CALLBACK_HEADERS.id);
    const timestampText = header(request.headers, BANK_CALLBACK_HEADERS.timestamp);
    const signature = header(request.headers, BANK_CALLBACK_HEADERS.signature);
    if (!eventId || !timestampText || !signature || !/^\d{1,12}$/.test(timestampText)) {
      throw new SettlenetError("BANK_CALLBACK_SIGNATURE_INVALID", "the callback is not signed", { headers: Object.values(BANK_CALLBACK_HEADERS) });
    }
    const timestamp = Number(timestampText);
    const tolerance = this.options.callbackToleranceSeconds ?? 300;
    if (Math.abs(Date.now() / 1000 - timestamp) > tolerance) {
      throw new SettlenetError("BANK_CALLBACK_STALE", "the callback timestamp is outside the tolerance", { timestamp, toleranceSeconds: tolerance });
    }
    if (!callbackSignatureMatches(secret, timestamp, body, signature)) {
      throw new SettlenetError("BANK_CALLBACK_SIGNATURE_INVALID", "the callback signature does not verify", { eventId });
    }
    let json: unknown;
    try {
      json = JSON.parse(body);
    } catch {
      throw new SettlenetError("BANK_CALLBACK_MALFORMED", "the callback body is not JSON", { eventId });
    }
    const parsed = callbackEventSchema.safeParse(json);
    if (!parsed.success || parsed.data.id !== eventId) {
      throw new SettlenetError("BANK_CALLBACK_MALFORMED", "the callback body is not a transfer event", {
        eventId,
        issues: parsed.success ? ["id"] : parsed.error.issues.map((issue) => issue.path.join(".")),
      });
    }
    const event = parsed.data;
    if (event.transfer.status === "pending" || event.type !== `transfer.${event.transfer.status}`) {
      throw new SettlenetError("BANK_CALLBACK_MALFORMED", "the callback type does not match the transfer status", { eventId });
    }
    const settlement: BankSettlement = { transfer: fromWire(event.transfer), source: "callback", eventId };
    await this.emit(settlement);
    return settlement;
  }

  async pollOnce(): Promise<number> {
    let reported = 0;
    const limit = this.options.pollPageSize ?? 100;
    for (;;) {
      const page = await this.listTransfers({ limit, ...(this.cursor !== undefined ? { cursor: this.cursor } : {}) });
      for (const transfer of page.transfers) {
        if (transfer.status === "pending") continue; // it reappears in the feed when it settles
        await this.emit({ transfer, source: "poll" });
        reported += 1;
      }
      // Advanced only after every listener took the page: a failure re-reads it next time.
      if (page.nextCursor !== undefined) this.cursor = page.nextCursor;
      if (!page.hasMore) return reported;
    }
  }

  startPolling(): void {
    if (this.polling) return;
    const stop = new AbortController();
    const interval = this.options.pollIntervalMs ?? 1_000;
    const loop = (async () => {
      while (!stop.signal.aborted) {
        try {
          await this.pollOnce();
        } catch (error) {
          this.logger.warn({ code: (error as SettlenetError).code, err: error }, "polling the bank failed");
        }
        try {
          await sleep(interval, undefined, { signal: stop.signal });
        } catch {
          return;
        }
      }
    })();
    this.polling = { stop, loop };
  }

  async stopPolling(): Promise<void> {
    const polling = this.polling;
    if (!polling) return;
    this.polling = undefined;
    polling.stop.abort();
    await polling.loop;
  }

  private async requestTransfer(kind: TransferKind, request: BankTransferRequest): Promise<BankTransfer> {
    const body = { reference: request.reference, account: request.account, amount: request.amount.toString(), currency: request.currency };
    const wire = await this.call("POST", `/v1/${kind}s`, body, transferSchema);
    // An answer about another transfer must never be taken for this one.
    if (wire.kind !== kind || wire.reference !== body.reference || wire.account !== body.account || wire.amount !== body.amount || wire.currency !== body.currency) {
      throw this.invalid("the bank answered with a transfer that does not match the request", { reference: request.reference, bankRef: wire.bankRef });
    }
    return fromWire(wire);
  }

  private async emit(settlement: BankSettlement): Promise<void> {
    for (const listener of [...this.listeners]) await listener(settlement);
  }

  private invalid(message: string, meta: Record<string, unknown>, cause?: unknown): SettlenetError {
    return new SettlenetError("BANK_INVALID_RESPONSE", message, meta, cause === undefined ? undefined : { cause });
  }

  /** One API call, retried while the bank is unavailable; the answer is parsed by `schema`. */
  private async call<T>(method: "GET" | "POST", path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    const attempts = Math.max(1, this.options.attempts ?? 3);
    for (let attempt = 1; ; attempt += 1) {
      try {
        return await this.callOnce(method, path, body, schema);
      } catch (error) {
        if (!(error instanceof SettlenetError) || error.code !== "BANK_UNAVAILABLE" || attempt >= attempts) throw error;
        this.logger.debug({ method, path: path.split("?")[0], attempt }, "bank unavailable; retrying");
        await sleep((this.options.retryDelayMs ?? 200) * 2 ** (attempt - 1));
      }
    }
  }

  private async callOnce<T>(method: "GET" | "POST", path: string, body: unknown, schema: z.ZodType<T>): Promise<T> {
    const route = path.split("?")[0];
    let response: Response;
    let text: string;
    const payload = body === undefined ? undefined : JSON.stringify(body);
    try {
      response = await fetch(`${this.baseUrl}${path}`, {
        method,
        headers: {
          accept: "application/json",
          ...(body === undefined ? {} : { "content-type": "application/json" }),
          ...(this.options.client ? bankRequestHeaders(this.options.client, method, path, payload ?? "") : {}),
        },
        ...(payload === undefined ? {} : { body: payload }),
        signal: AbortSignal.timeout(this.options.timeoutMs ?? 10_000),
      });
      text = await response.text();
    } catch (error) {
      throw new SettlenetError("BANK_UNAVAILABLE", "the bank did not answer", { method, route, reason: (error as Error).name }, { cause: error });
    }
    let json: unknown;
    try {
      json = text.length === 0 ? undefined : JSON.parse(text);
    } catch (error) {
      if (response.status >= 500) throw new SettlenetError("BANK_UNAVAILABLE", "the bank failed", { method, route, status: response.status });
      throw this.invalid("the bank's answer is not JSON", { method, route, status: response.status }, error);
    }

    if (response.ok) {
      const parsed = schema.safeParse(json);
      if (!parsed.success) {
        throw this.invalid("the bank's answer does not match its schema", { method, route, status: response.status, issues: parsed.error.issues.map((issue) => issue.path.join(".")) });
      }
      return parsed.data;
    }

    const problem = bankProblemSchema.safeParse(json);
    const bankCode = problem.success ? problem.data.code : undefined;
    const meta = { method, route, status: response.status, ...(bankCode ? { bankCode } : {}) };
    if (response.status >= 500 || response.status === 429 || response.status === 408) {
      throw new SettlenetError("BANK_UNAVAILABLE", "the bank is unavailable", meta);
    }
    if (!problem.success) throw this.invalid("the bank refused with an unreadable answer", meta);
    if (response.status === 404 && bankCode === "TRANSFER_NOT_FOUND") throw new SettlenetError("BANK_TRANSFER_NOT_FOUND", "the bank does not know this transfer", meta);
    // The bank pays a payout only once it sees the redemption final on-chain itself: ask again later.
    if (response.status === 409 && bankCode === "REDEMPTION_NOT_FINAL") throw new SettlenetError("BANK_REDEMPTION_NOT_FINAL", "the bank does not see the payout's redemption final yet", meta);
    if (response.status === 409 && bankCode === "REFERENCE_CONFLICT") throw new SettlenetError("BANK_REFERENCE_CONFLICT", "the reference was already used for a different transfer", { ...meta, ...pick(problem.data, "bankRef") });
    throw new SettlenetError("BANK_REJECTED", "the bank refused the request", meta);
  }
}

function pick(source: Record<string, unknown>, key: string): Record<string, unknown> {
  return typeof source[key] === "string" ? { [key]: source[key] } : {};
}
