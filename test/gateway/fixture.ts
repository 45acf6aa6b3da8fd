/**
 * A gateway app on real parts for tests: LevelDB in a temp dir, a master key, the deployed scenario's
 * merchants added with their keys and one API key each, and a signed `inject` helper.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { FastifyInstance } from "fastify";
import { pino } from "pino";

import { buildApp, type GatewayAppOptions } from "../../gateway/app.js";
import { createChainReader, type ChainReader } from "../../gateway/chain.js";
import { orderDefaultsSchema } from "../../gateway/config.js";
import { addMerchant, createApiKey } from "../../gateway/merchants.js";
import { NodeClient } from "../../gateway/node-client.js";
import { SecretBox } from "../../gateway/secrets.js";
import { signRequest } from "../../gateway/signing.js";
import { openGatewayStorage, type GatewayStorage } from "../../gateway/storage/db.js";
import type { Scenario } from "../helpers/chain.js";

export interface TestMerchant {
  id: string;
  address: string;
  keyId: string;
  secret: string;
}

export interface GatewayFixture {
  dir: string;
  app: FastifyInstance;
  storage: GatewayStorage;
  secrets: SecretBox;
  merchants: TestMerchant[];
  /** Closes the app and the database, keeping the directory. */
  stop(): Promise<void>;
  /** Opens the same directory again with a fresh app (a restart). */
  restart(): Promise<void>;
  /** Stops and removes the directory. */
  close(): Promise<void>;
}

export interface FixtureOptions {
  scenario: Scenario;
  /** The institution node's API (a closed port when the test needs no node). */
  nodeUrl?: string;
  app?: Partial<GatewayAppOptions>;
  now?: () => number;
}

/** A port nothing listens on: node calls fail fast with NODE_UNAVAILABLE. */
export const NO_NODE = "http://127.0.0.1:9";

/** Builds a gateway with every scenario merchant registered and holding one API key. */
export async function gatewayFixture(options: FixtureOptions): Promise<GatewayFixture> {
  const dir = await mkdtemp(join(tmpdir(), "settlenet-gateway-"));
  const secrets = new SecretBox(randomBytes(32));
  const logger = pino({ level: "silent" });
  let storage = await openGatewayStorage(join(dir, "db"));
  const merchants: TestMerchant[] = [];
  for (const [i, wallet] of options.scenario.merchants.entries()) {
    const added = await addMerchant({ id: `merchant-${i}`, privateKey: wallet.privateKey }, { storage, secrets });
    const key = await createApiKey(added.id, { storage, secrets });
    merchants.push({ id: added.id, address: added.address, keyId: key.keyId, secret: key.secret });
  }
  const appOptions: GatewayAppOptions = {
    deployment: options.scenario.deployment,
    orders: orderDefaultsSchema.parse({}),
    rateLimit: { max: 1_000, timeWindowMs: 60_000 },
    bodyLimit: 64 * 1024,
    clockSkewSeconds: 300,
    idempotencyTtlSeconds: 86_400,
    pruneIntervalMs: 0,
    ...options.app,
  };
  let chain: ChainReader;
  const build = async () => {
    chain = createChainReader(options.scenario.chain.url, options.scenario.deployment);
    const node = new NodeClient({ baseUrl: options.nodeUrl ?? NO_NODE, timeoutMs: 5_000 });
    const app = await buildApp(appOptions, { storage, secrets, node, chain, logger, ...(options.now ? { now: options.now } : {}) });
    await app.ready();
    return app;
  };
  const fixture: GatewayFixture = {
    dir,
    app: await build(),
    get storage() {
      return storage;
    },
    secrets,
    merchants,
    async stop() {
      await fixture.app.close();
      await chain.close();
      await storage.close();
    },
    async restart() {
      await fixture.stop();
      storage = await openGatewayStorage(join(dir, "db"));
      fixture.app = await build();
    },
    async close() {
      await fixture.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return fixture;
}

export interface SignedInjectOptions {
  idempotencyKey?: string;
  timestamp?: number;
  nonce?: string;
  /** Overrides or removes (undefined) headers after signing. */
  headers?: Record<string, string | undefined>;
  /** Sign with this secret instead (a wrong one for bad-signature tests). */
  secret?: string;
  /** Send this raw body text instead of JSON.stringify(body). */
  rawBody?: string;
}

export interface InjectResult<T = Record<string, unknown>> {
  status: number;
  body: T;
  headers: Record<string, string | string[] | number | undefined>;
}

/** Sends a request signed as `merchant` would sign it, through `app.inject`. */
export async function signedInject<T = Record<string, unknown>>(
  app: FastifyInstance,
  merchant: Pick<TestMerchant, "keyId" | "secret">,
  method: "GET" | "POST" | "DELETE",
  path: string,
  body?: unknown,
  options: SignedInjectOptions = {},
): Promise<InjectResult<T>> {
  const text = options.rawBody ?? (body === undefined ? undefined : JSON.stringify(body));
  const headers: Record<string, string> = {
    ...signRequest({
      keyId: merchant.keyId,
      secret: options.secret ?? merchant.secret,
      method,
      path,
      ...(text !== undefined ? { body: text } : {}),
      ...(options.timestamp !== undefined ? { timestamp: options.timestamp } : {}),
      ...(options.nonce !== undefined ? { nonce: options.nonce } : {}),
    }),
  };
  if (text !== undefined) headers["content-type"] = "application/json";
  if (options.idempotencyKey !== undefined) headers["idempotency-key"] = options.idempotencyKey;
  for (const [name, value] of Object.entries(options.headers ?? {})) {
    if (value === undefined) delete headers[name];
    else headers[name] = value;
  }
  const response = await app.inject({ method, url: path, headers, ...(text !== undefined ? { payload: text } : {}) });
  return { status: response.statusCode, body: (response.body ? response.json() : undefined) as T, headers: response.headers };
}

/** A create-payment body for `payer` (defaults: 100.00 CNY, escrow). */
export function paymentBody(payer: string, merchantOrderId: string, overrides: Record<string, unknown> = {}) {
  return { amount: "10000", currency: "CNY", merchantOrderId, description: "test order", mode: "escrow", payer, ...overrides };
}
