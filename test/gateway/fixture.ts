/**
 * A gateway app on real parts for tests (parts.ts: LevelDB in a temp dir, a master key, the deployed
 * scenario's merchants with one API key each, the bank simulator and the money modules), a signed
 * `inject` helper, and signed GET/POST/poll helpers for a merchant.
 */
import { randomBytes } from "node:crypto";
import { join } from "node:path";

import { expect } from "chai";
import type { HDNodeWallet, Wallet } from "ethers";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";

import { buildApp, type GatewayAppOptions, type GatewayMoneyModules } from "../../gateway/app.js";
import { signRequest } from "../../gateway/client/signing.js";
import { orderDefaultsSchema } from "../../gateway/config.js";
import { issueAdminCredential } from "../../gateway/domain/admin-credentials.js";
import type { SecretBox } from "../../gateway/domain/secrets.js";
import type { HostResolver } from "../../gateway/domain/webhook-target.js";
import type { GatewayStorage } from "../../gateway/storage/db.js";
import type { Scenario } from "../helpers/chain.js";
import { waitFor } from "../helpers/network.js";
import { gatewayStore, nodeAndChain, type TestMerchant } from "./parts.js";

export { NO_NODE, bankFixture, moneyModules, startBankSimulator, type BankFixture, type BankSimulatorHandle, type TestMerchant } from "./parts.js";

export interface GatewayFixture {
  dir: string;
  app: FastifyInstance;
  storage: GatewayStorage;
  secrets: SecretBox;
  merchants: TestMerchant[];
  /** An admin credential's bearer token (admin API, /metrics), unless the test gave its own credentials file. */
  adminToken: string;
  /** GET /metrics with the admin credential. */
  metrics(): Promise<string>;
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
  /** Money modules, built anew for each (re)start; their chain access is closed on stop. */
  money?: () => GatewayMoneyModules;
  /** Host name resolution for webhook targets (names no real resolver knows, or answers that change). */
  resolve?: HostResolver;
}

/** Builds a gateway with every scenario merchant registered and holding one API key. */
export async function gatewayFixture(options: FixtureOptions): Promise<GatewayFixture> {
  const store = await gatewayStore(options.scenario);
  const { dir, secrets, merchants } = store;
  let adminToken = "";
  let adminCredentialsFile = options.app?.adminCredentialsFile;
  if (adminCredentialsFile === undefined) {
    adminCredentialsFile = join(dir, "admin-credentials.json");
    adminToken = (await issueAdminCredential(adminCredentialsFile, "test-admin")).token;
  }
  const logger = pino({ level: "silent" });
  const appOptions: GatewayAppOptions = {
    deployment: options.scenario.deployment,
    orders: orderDefaultsSchema.parse({}),
    rateLimit: { max: 1_000, timeWindowMs: 60_000 },
    bodyLimit: 64 * 1024,
    clockSkewSeconds: 300,
    idempotencyTtlSeconds: 86_400,
    pruneIntervalMs: 0,
    ...options.app,
    adminCredentialsFile,
  };
  let reader: { close(): Promise<void> };
  let money: GatewayMoneyModules | undefined;
  const build = async () => {
    const { node, chain, close } = nodeAndChain(options.scenario, options.nodeUrl);
    reader = { close };
    money = options.money?.();
    const app = await buildApp(appOptions, { storage: store.storage, secrets, node, chain, logger, ...(options.now ? { now: options.now } : {}), ...(money ? { money } : {}), ...(options.resolve ? { resolve: options.resolve } : {}) });
    await app.ready();
    return app;
  };
  const fixture: GatewayFixture = {
    dir,
    app: await build(),
    get storage() {
      return store.storage;
    },
    secrets,
    merchants,
    adminToken,
    async metrics() {
      return (await fixture.app.inject({ method: "GET", url: "/metrics", headers: { authorization: `Bearer ${adminToken}` } })).body;
    },
    async stop() {
      await fixture.app.close();
      await reader.close();
      await money?.chain.close();
      await store.shut();
    },
    async restart() {
      await fixture.stop();
      await store.reopen();
      fixture.app = await build();
    },
    async close() {
      await fixture.stop();
      await store.close();
    },
  };
  return fixture;
}

export interface SignedInjectOptions {
  /** Sent as Idempotency-Key; a POST gets a fresh one unless this is null (sent without one). */
  idempotencyKey?: string | null;
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
  if (typeof options.idempotencyKey === "string") headers["idempotency-key"] = options.idempotencyKey;
  else if (options.idempotencyKey === undefined && method === "POST") headers["idempotency-key"] = `k-${randomBytes(8).toString("hex")}`;
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

/** The part of a payment view the order helpers read. */
export interface SignablePayment {
  id: string;
  status: string;
  typedData: { domain: Record<string, unknown>; types: Record<string, { name: string; type: string }[]>; message: Record<string, unknown> } | null;
}

/**
 * Signed requests as one merchant (by default) through the fixture's current app. Both are read
 * lazily, so the helpers can be declared in a `describe` before `before` builds the fixture.
 */
export function merchantRequests(fixture: () => GatewayFixture, defaultMerchant: () => TestMerchant, nowMs?: () => number) {
  // Signed with the gateway's clock when the test moves it (the signature's timestamp must be within its skew).
  const clock = () => (nowMs ? { timestamp: Math.floor(nowMs() / 1000) } : {});
  const get = <T>(path: string, as: TestMerchant = defaultMerchant()) => signedInject<T>(fixture().app, as, "GET", path, undefined, clock());
  const post = <T>(path: string, body: unknown = {}, as: TestMerchant = defaultMerchant()) =>
    signedInject<T>(fixture().app, as, "POST", path, body, { idempotencyKey: `k-${Math.random()}`, ...clock() });
  /** GETs `path` until it answers 200 with a body that passes `check`. */
  const poll = <T>(what: string, path: string, check: (v: T) => boolean, as: TestMerchant = defaultMerchant()) =>
    waitFor(what, async () => {
      const res = await get<T>(path, as);
      return res.status === 200 && check(res.body) ? res.body : undefined;
    }, 60_000, 250);
  /** Creates a payment for `payer` and has the payer sign its authorization (not yet submitted). */
  const signedOrder = async <V extends SignablePayment>(payer: Wallet | HDNodeWallet, merchantOrderId: string, overrides: Record<string, unknown> = {}) => {
    const created = await post<V>("/v1/payments", paymentBody(payer.address, merchantOrderId, overrides));
    expect(created.status, JSON.stringify(created.body)).to.equal(201);
    const typed = created.body.typedData;
    if (!typed) throw new Error("no typed data");
    return { order: created.body, signature: await payer.signTypedData(typed.domain, typed.types, typed.message) };
  };
  /** Creates a payment, submits the payer's authorization and waits until the payment is `until`. */
  const paidOrder = async <V extends SignablePayment>(payer: Wallet | HDNodeWallet, merchantOrderId: string, overrides: Record<string, unknown> = {}, until = "held") => {
    const { order, signature } = await signedOrder<V>(payer, merchantOrderId, overrides);
    expect((await post(`/v1/payments/${order.id}/authorization`, { signature })).status).to.equal(202);
    return poll<V>(`${merchantOrderId} to be ${until}`, `/v1/payments/${order.id}`, (v) => v.status === until);
  };
  return { get, post, poll, signedOrder, paidOrder };
}
