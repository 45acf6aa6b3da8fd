/**
 * Webhook endpoints (Standard Webhooks 1.0): merchants register endpoints, each with its own `whsec_`
 * secret (shown once, stored sealed under the master key), read their event log and delivery logs,
 * and ask for an event to be sent again. Delivery itself is the dispatcher's (jobs/webhooks.ts).
 */
import { randomBytes } from "node:crypto";

import type { Logger } from "pino";

import { SettlenetError } from "../../core/errors.js";
import type { Page } from "../../core/records.js";
import type { GatewayStorage } from "../storage/db.js";
import { EVENT_TYPES, type DeliveryRecord, type EventRecord, type EventType, type WebhookEndpointRecord } from "./events.js";
import type { MerchantRecord } from "./records.js";
import type { SecretBox } from "./secrets.js";
import { resolveWebhookTarget, type HostResolver } from "./webhook-target.js";

/** Limits on merchants' endpoints (config: `webhooks`). */
export interface WebhookEndpointOptions {
  maxEndpointsPerMerchant: number;
  /** Refuse endpoints that are not https (leave off only for development and tests on loopback). */
  requireHttps: boolean;
  /** Allow hosts resolving to loopback (development); private and link-local targets stay refused. */
  allowLoopback: boolean;
}

/** The sealing context of an endpoint's secret. */
export function webhookSecretContext(endpointId: string): string {
  return `webhookEndpoint:${endpointId}`;
}

/** A new endpoint secret: `whsec_` + base64 of 32 random bytes (the spec asks for 24 to 64). */
export function newWebhookSecret(): string {
  return `whsec_${randomBytes(32).toString("base64")}`;
}

export interface WebhookServiceModules {
  storage: GatewayStorage;
  secrets: SecretBox;
  logger: Logger;
  now: () => number;
  /** Host name resolution for the target check (the system resolver unless a test pins it). */
  resolve?: HostResolver;
}

/** What merchants do with endpoints, events and deliveries (the routes call this). */
export class WebhookService {
  constructor(
    private readonly options: WebhookEndpointOptions,
    private readonly modules: WebhookServiceModules,
  ) {}

  /** Registers an endpoint; the secret is returned here only. */
  async createEndpoint(merchant: MerchantRecord, input: { url: string; description?: string | undefined; eventTypes?: EventType[] | undefined }): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    const url = new URL(input.url);
    if (url.username || url.password) throw new SettlenetError("WEBHOOK_URL_INVALID", "webhook URLs must not carry credentials", { field: "url" });
    if (this.options.requireHttps && url.protocol !== "https:") throw new SettlenetError("WEBHOOK_URL_INVALID", "webhook URLs must be https", { field: "url" });
    await resolveWebhookTarget(url, { allowLoopback: this.options.allowLoopback }, this.modules.resolve);
    const id = `we_${randomBytes(12).toString("hex")}`;
    const secret = newWebhookSecret();
    const endpoint: WebhookEndpointRecord = {
      id,
      merchantId: merchant.id,
      url: url.toString(),
      description: input.description ?? null,
      eventTypes: input.eventTypes ? [...new Set(input.eventTypes)] : [...EVENT_TYPES],
      secret: this.modules.secrets.seal(secret, webhookSecretContext(id)),
      status: "active",
      createdAtMs: this.modules.now(),
    };
    await this.modules.storage.webhooks.createEndpoint(endpoint, this.options.maxEndpointsPerMerchant);
    this.modules.logger.info({ merchantId: merchant.id, endpointId: id }, "webhook endpoint registered");
    return { endpoint, secret };
  }

  listEndpoints(merchant: MerchantRecord): Promise<WebhookEndpointRecord[]> {
    return this.modules.storage.webhooks.listEndpoints(merchant.id);
  }

  /** The merchant's endpoint; WEBHOOK_ENDPOINT_NOT_FOUND for anyone else's. */
  async endpoint(merchant: MerchantRecord, id: string): Promise<WebhookEndpointRecord> {
    const endpoint = await this.modules.storage.webhooks.getEndpoint(id);
    if (!endpoint || endpoint.merchantId !== merchant.id) throw new SettlenetError("WEBHOOK_ENDPOINT_NOT_FOUND", `no webhook endpoint ${id}`, { id });
    return endpoint;
  }

  async deleteEndpoint(merchant: MerchantRecord, id: string): Promise<WebhookEndpointRecord> {
    const endpoint = await this.modules.storage.webhooks.deleteEndpoint(merchant.id, id);
    this.modules.logger.info({ merchantId: merchant.id, endpointId: id }, "webhook endpoint deleted");
    return endpoint;
  }

  /**
   * Gives the endpoint a new signing secret, returned here only. Every attempt from now on is signed
   * with it, retries of earlier events too (each attempt is signed when it is sent), so a receiver
   * still on the old secret refuses them and they are retried until it has the new one: nothing is lost.
   */
  async rotateSecret(merchant: MerchantRecord, id: string): Promise<{ endpoint: WebhookEndpointRecord; secret: string }> {
    const secret = newWebhookSecret();
    const endpoint = await this.modules.storage.webhooks.replaceSecret(merchant.id, id, this.modules.secrets.seal(secret, webhookSecretContext(id)));
    this.modules.logger.info({ merchantId: merchant.id, endpointId: id }, "webhook endpoint secret rotated");
    return { endpoint, secret };
  }

  async deliveries(merchant: MerchantRecord, endpointId: string, page: { limit: number; cursor?: string }): Promise<Page<DeliveryRecord>> {
    await this.endpoint(merchant, endpointId);
    return this.modules.storage.webhooks.listDeliveries(endpointId, page);
  }

  events(merchant: MerchantRecord, page: { limit: number; cursor?: string }): Promise<Page<EventRecord>> {
    return this.modules.storage.webhooks.listEvents(merchant.id, page);
  }

  /** The merchant's event; EVENT_NOT_FOUND for anyone else's. */
  async event(merchant: MerchantRecord, id: string): Promise<EventRecord> {
    const event = await this.modules.storage.webhooks.getEvent(id);
    if (!event || event.merchantId !== merchant.id) throw new SettlenetError("EVENT_NOT_FOUND", `no event ${id}`, { id });
    return event;
  }

  /** Sends an event again (same webhook-id) to one endpoint or to every active endpoint taking its type. */
  async redeliver(merchant: MerchantRecord, eventId: string, endpointId?: string): Promise<DeliveryRecord[]> {
    const event = await this.event(merchant, eventId);
    let targets: WebhookEndpointRecord[];
    if (endpointId !== undefined) {
      const endpoint = await this.endpoint(merchant, endpointId);
      if (endpoint.status !== "active") throw new SettlenetError("WEBHOOK_ENDPOINT_DISABLED", `webhook endpoint ${endpointId} is disabled`, { id: endpointId });
      if (!endpoint.eventTypes.includes(event.type)) {
        throw new SettlenetError("WEBHOOK_EVENT_TYPE_NOT_SUBSCRIBED", `webhook endpoint ${endpointId} does not take ${event.type}`, { id: endpointId, type: event.type });
      }
      targets = [endpoint];
    } else {
      targets = (await this.listEndpoints(merchant)).filter((e) => e.status === "active" && e.eventTypes.includes(event.type));
      if (targets.length === 0) throw new SettlenetError("NO_WEBHOOK_ENDPOINT", `no active webhook endpoint takes ${event.type}`, { type: event.type });
    }
    const deliveries = await this.modules.storage.webhooks.redeliver(event, targets.map((e) => e.id), this.modules.now());
    this.modules.logger.info({ merchantId: merchant.id, eventId, endpoints: targets.length }, "webhook redelivery queued");
    return deliveries;
  }
}
