/**
 * The steady stream of payments every scenario runs under: at a fixed rate (open loop, so a stalled
 * system does not slow the offered load, up to a cap of payments in flight) a shopper creates a payment
 * at the gateway (POST /v1/payments), the payer signs its payment id (the EIP-712 digest), and the
 * shopper authorises it (POST /v1/payments/{id}/authorization). Each attempt is kept with its times and
 * outcome; an authorisation answered 202 is "acknowledged": the gateway and the node took it.
 */
import { Agent } from "undici";

import type { GatewayCredentials } from "../../gateway/client/client.js";
import { BenchGatewayClient } from "../lib/gateway-client.js";
import { signDigest } from "../lib/ops.js";

export interface Attempt {
  seq: number;
  /** Date.now() when the create was sent. */
  startedAt: number;
  /** The payment id (lower case) once created. */
  paymentId?: string;
  /** Date.now() when the authorisation was answered 202. */
  ackedAt?: number;
  /** Why it was not acknowledged (status and code, or the network error). */
  error?: string;
}

export interface StreamOptions {
  gatewayUrl: string;
  /** The development CA the gateway's certificate is from. */
  ca: string;
  merchants: GatewayCredentials[];
  payers: { address: string; privateKey: string }[];
  perSecond: number;
  maxInFlight: number;
}

export class PaymentStream {
  readonly attempts: Attempt[] = [];
  private readonly agent: Agent;
  private readonly clients: BenchGatewayClient[];
  private timer: NodeJS.Timeout | undefined;
  private inFlight = 0;
  private readonly running = new Set<Promise<void>>();
  private readonly run = `chaos-${Date.now().toString(36)}`;

  constructor(private readonly options: StreamOptions) {
    // A request the gateway never answers (killed, or waiting on a dead chain) fails after 30 s.
    this.agent = new Agent({ connect: { ca: options.ca }, keepAliveTimeout: 10_000, headersTimeout: 30_000, bodyTimeout: 30_000, connections: 64 });
    this.clients = options.merchants.map((m) => new BenchGatewayClient(options.gatewayUrl, m, this.agent));
  }

  start(): void {
    const every = 1000 / this.options.perSecond;
    let next = Date.now();
    const tick = () => {
      const now = Date.now();
      while (next <= now) {
        next += every;
        if (this.inFlight >= this.options.maxInFlight) continue;
        const p = this.one(this.attempts.length);
        this.running.add(p);
        void p.finally(() => this.running.delete(p));
      }
    };
    this.timer = setInterval(tick, Math.max(10, Math.floor(every / 2)));
  }

  /** Stops starting payments and waits for those in flight. */
  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await Promise.allSettled([...this.running]);
    await this.agent.close();
  }

  private async one(seq: number): Promise<void> {
    const attempt: Attempt = { seq, startedAt: Date.now() };
    this.attempts.push(attempt);
    this.inFlight += 1;
    const client = this.clients[seq % this.clients.length];
    const payer = this.options.payers[seq % this.options.payers.length];
    try {
      if (!client || !payer) throw new Error("no merchant or payer");
      const created = await client.post<{ id: string; paymentId: string; code?: string }>("/v1/payments", { amount: "100", currency: "CNY", merchantOrderId: `${this.run}-${seq}`, payer: payer.address });
      if (created.status !== 201) {
        attempt.error = `create ${created.status} ${created.body?.code ?? ""}`.trim();
        return;
      }
      attempt.paymentId = created.body.paymentId.toLowerCase();
      const signature = signDigest(created.body.paymentId, payer.privateKey);
      const authorized = await client.post<{ code?: string }>(`/v1/payments/${created.body.id}/authorization`, { signature });
      if (authorized.status === 202) attempt.ackedAt = Date.now();
      else attempt.error = `authorize ${authorized.status} ${authorized.body?.code ?? ""}`.trim();
    } catch (error) {
      attempt.error = `${attempt.paymentId ? "authorize" : "create"}: ${(error as { code?: string }).code ?? (error as Error).message}`;
    } finally {
      this.inFlight -= 1;
    }
  }
}
