/**
 * The custodian service's reading of its bank: the transfer change feed and single transfers, over
 * the bank's HTTP API with signed requests (core/bank/wire.ts). Read-only: the custodian never asks
 * the bank to move money; it acts on what the bank reports.
 */
import type { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { bankProblemSchema, bankRequestHeaders, transferPageSchema, transferSchema, type TransferWire } from "../../core/bank/wire.js";

export interface CustodianBankOptions {
  url: string;
  client?: { id: string; secret: string } | undefined;
  timeoutMs: number;
}

/** The bank as the custodian reads it; errors are BANK_UNAVAILABLE (retry later), BANK_TRANSFER_NOT_FOUND, BANK_INVALID_RESPONSE. */
export class CustodianBank {
  private readonly base: string;

  constructor(private readonly options: CustodianBankOptions) {
    this.base = options.url.replace(/\/+$/, "");
  }

  /** One page of the bank's change feed after `cursor`, oldest change first. */
  async transfers(cursor: string | undefined, limit: number): Promise<{ transfers: TransferWire[]; nextCursor: string | null; hasMore: boolean }> {
    const query = new URLSearchParams({ limit: String(limit) });
    if (cursor !== undefined) query.set("cursor", cursor);
    return this.get(`/v1/transfers?${query.toString()}`, transferPageSchema);
  }

  /** The transfer as the bank holds it now. */
  async transfer(bankRef: string): Promise<TransferWire> {
    const transfer = await this.get(`/v1/transfers/${encodeURIComponent(bankRef)}`, transferSchema);
    if (transfer.bankRef !== bankRef) throw new SettlenetError("BANK_INVALID_RESPONSE", "the bank answered with another transfer", { bankRef, answered: transfer.bankRef });
    return transfer;
  }

  private async get<T>(path: string, schema: z.ZodType<T>): Promise<T> {
    const route = path.split("?")[0];
    let response: Response;
    let text: string;
    try {
      response = await fetch(`${this.base}${path}`, {
        headers: { accept: "application/json", ...(this.options.client ? bankRequestHeaders(this.options.client, "GET", path, "") : {}) },
        signal: AbortSignal.timeout(this.options.timeoutMs),
      });
      text = await response.text();
    } catch (error) {
      throw new SettlenetError("BANK_UNAVAILABLE", "the bank did not answer", { route, reason: (error as Error).name }, { cause: error });
    }
    if (response.status >= 500 || response.status === 429) throw new SettlenetError("BANK_UNAVAILABLE", "the bank is unavailable", { route, status: response.status });
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new SettlenetError("BANK_INVALID_RESPONSE", "the bank's answer is not JSON", { route, status: response.status });
    }
    if (!response.ok) {
      const problem = bankProblemSchema.safeParse(json);
      const bankCode = problem.success ? problem.data.code : undefined;
      if (response.status === 404 && bankCode === "TRANSFER_NOT_FOUND") throw new SettlenetError("BANK_TRANSFER_NOT_FOUND", "the bank does not know this transfer", { route });
      throw new SettlenetError("BANK_REFUSED", "the bank refused the request", { route, status: response.status, ...(bankCode ? { bankCode } : {}) });
    }
    const parsed = schema.safeParse(json);
    if (!parsed.success) throw new SettlenetError("BANK_INVALID_RESPONSE", "the bank's answer does not match its schema", { route, issues: parsed.error.issues.map((i) => i.path.join(".")) });
    return parsed.data;
  }
}
