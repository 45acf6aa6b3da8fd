/**
 * A gateway app on real parts for tests: LevelDB in a temp dir, a master key, the deployed scenario's
 * merchants added with their keys and one API key each, and a signed `inject` helper; the bank
 * simulator over HTTP and the money modules that reach it; signed GET/POST/poll helpers for a merchant.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import type { HDNodeWallet, Wallet } from "ethers";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";

import { buildApp, type GatewayAppOptions, type GatewayMoneyModules } from "../../gateway/app.js";
import { HttpBankAdapter } from "../../gateway/adapters/bank.js";
import { buildBankSimulator, type BankSimulatorOptions } from "../../bank-sim/simulator.js";
import { openBankStore, type BankStore } from "../../bank-sim/store.js";
import { createChainReader, type ChainReader } from "../../gateway/adapters/chain.js";
import { orderDefaultsSchema } from "../../gateway/config.js";
import { addMerchant, createApiKey } from "../../gateway/domain/merchants.js";
import { NodeApiClient } from "../../core/api/client.js";
import { SecretBox } from "../../gateway/domain/secrets.js";
import { MoneyChain } from "../../gateway/adapters/money-chain.js";
import { signRequest } from "../../gateway/client/signing.js";
import { openGatewayStorage, type GatewayStorage } from "../../gateway/storage/db.js";
import { devWallet, type Scenario } from "../helpers/chain.js";
import { waitFor } from "../helpers/network.js";

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
  /** Money modules, built anew for each (re)start; their chain access is closed on stop. */
  money?: () => GatewayMoneyModules;
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
  let money: GatewayMoneyModules | undefined;
  const build = async () => {
    chain = createChainReader(options.scenario.chain.url, options.scenario.deployment);
    const node = new NodeApiClient({ baseUrl: options.nodeUrl ?? NO_NODE, timeoutMs: 5_000 });
    money = options.money?.();
    const app = await buildApp(appOptions, { storage, secrets, node, chain, logger, ...(options.now ? { now: options.now } : {}), ...(money ? { money } : {}) });
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
      await money?.chain.close();
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

export interface BankSimulatorHandle {
  url: string;
  app: FastifyInstance;
  store: BankStore;
  /** Closes the app and the store (once; later calls do nothing), keeping the directory. */
  stop(): Promise<void>;
}

/** The bank simulator in-process, listening on 127.0.0.1 (`port`, 0 for any) with its LevelDB in `dir`. */
export async function startBankSimulator(dir: string, options: BankSimulatorOptions, port = 0): Promise<BankSimulatorHandle> {
  const store = await openBankStore(dir);
  const app = await buildBankSimulator(options, { logger: pino({ level: "silent" }), store });
  await app.listen({ host: "127.0.0.1", port });
  const address = app.server.address();
  const url = `http://127.0.0.1:${typeof address === "object" && address ? address.port : port}`;
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await app.close();
    await store.close();
  };
  return { url, app, store, stop };
}

/** A bank simulator on a temp dir of its own. */
export interface BankFixture extends BankSimulatorHandle {
  /** Stops the simulator and removes its directory. */
  close(): Promise<void>;
}

/** The bank simulator on a temp dir of its own (no failures, the given latency). */
export async function bankFixture(latencyMs: BankSimulatorOptions["latencyMs"]): Promise<BankFixture> {
  const dir = await mkdtemp(join(tmpdir(), "settlenet-gateway-bank-"));
  const bank = await startBankSimulator(dir, { latencyMs, failureRate: 0 });
  return {
    ...bank,
    async close() {
      await bank.stop();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Money modules for `gatewayFixture`: institution 0 as custodian, dev wallet 15 as permit relayer, the bank at `bankUrl`. */
export function moneyModules(scenario: Scenario, bankUrl: string): () => GatewayMoneyModules {
  const custodian = scenario.institutions[0];
  if (!custodian) throw new Error("no custodian");
  const logger = pino({ level: "silent" });
  return () => ({
    chain: new MoneyChain(scenario.chain.url, scenario.deployment, { permitRelayer: devWallet(15), logger }),
    custodian,
    bank: new HttpBankAdapter({ baseUrl: bankUrl, retryDelayMs: 50 }, { logger }),
  });
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
export function merchantRequests(fixture: () => GatewayFixture, defaultMerchant: () => TestMerchant) {
  const get = <T>(path: string, as: TestMerchant = defaultMerchant()) => signedInject<T>(fixture().app, as, "GET", path);
  const post = <T>(path: string, body: unknown = {}, as: TestMerchant = defaultMerchant()) =>
    signedInject<T>(fixture().app, as, "POST", path, body, { idempotencyKey: `k-${Math.random()}` });
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
