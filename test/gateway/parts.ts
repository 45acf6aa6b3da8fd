/**
 * The gateway's parts on real components, without the app (so domain and job tests build services
 * straight from them): LevelDB in a temp dir with the scenario's merchants registered, each holding
 * one API key; the node client and chain reader; the bank simulator over HTTP with its own LevelDB
 * and the money modules that reach it.
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { FastifyInstance } from "fastify";
import { pino, type Logger } from "pino";

import { ChainRedemptions } from "../../bank-sim/redemptions.js";
import { buildBankSimulator, type BankSimulatorModules, type BankSimulatorOptions } from "../../bank-sim/simulator.js";
import { openBankStore, type BankStore } from "../../bank-sim/store.js";
import { NodeApiClient } from "../../core/api/client.js";
import { launchedCredentials } from "../../scripts/lib/launch/nodes.js";
import { HttpBankAdapter } from "../../gateway/adapters/bank.js";
import { createChainReader, type ChainReader } from "../../gateway/adapters/chain.js";
import { MoneyChain } from "../../gateway/adapters/money-chain.js";
import { addMerchant, createApiKey } from "../../gateway/domain/merchants.js";
import type { MerchantRecord } from "../../gateway/domain/records.js";
import { SecretBox } from "../../gateway/domain/secrets.js";
import type { GatewayMoneyModules } from "../../gateway/options.js";
import { openGatewayStorage, type GatewayStorage } from "../../gateway/storage/db.js";
import { devWallet, type Scenario } from "../helpers/chain.js";

/** A port nothing listens on: node calls fail fast with NODE_UNAVAILABLE. */
export const NO_NODE = "http://127.0.0.1:9";

export interface TestMerchant {
  id: string;
  address: string;
  keyId: string;
  secret: string;
}

/** Display names of the scenario's merchants, as the payer sees them on the checkout. */
export const FIXTURE_MERCHANT_NAMES = ["Jasmine Tea Shop", "Harbour Books"] as const;

/** The gateway's database in a temp dir, with the scenario's merchants and their API keys. */
export interface GatewayStore {
  dir: string;
  storage: GatewayStorage;
  secrets: SecretBox;
  merchants: TestMerchant[];
  /** The stored record of merchant `i`. */
  merchant(i: number): Promise<MerchantRecord>;
  /** Closes the database, keeping it on disk (once; later calls do nothing). */
  shut(): Promise<void>;
  /** Opens the database again after `shut`. */
  reopen(): Promise<GatewayStorage>;
  /** Closes the database and removes the directory. */
  close(): Promise<void>;
}

/** Opens a fresh gateway database and registers every scenario merchant with one API key. */
export async function gatewayStore(scenario: Scenario): Promise<GatewayStore> {
  const dir = await mkdtemp(join(tmpdir(), "settlenet-gateway-"));
  const secrets = new SecretBox(randomBytes(32));
  const dbDir = join(dir, "db");
  let storage = await openGatewayStorage(dbDir);
  let open = true;
  const merchants: TestMerchant[] = [];
  for (const [i, wallet] of scenario.merchants.entries()) {
    const added = await addMerchant({ id: `merchant-${i}`, name: FIXTURE_MERCHANT_NAMES[i] ?? `Test Shop ${i}`, privateKey: wallet.privateKey }, { storage, secrets });
    const key = await createApiKey(added.id, { storage, secrets });
    merchants.push({ id: added.id, address: added.address, keyId: key.keyId, secret: key.secret });
  }
  const store: GatewayStore = {
    dir,
    get storage() {
      return storage;
    },
    secrets,
    merchants,
    async merchant(i) {
      const record = await storage.merchants.get(`merchant-${i}`);
      if (!record) throw new Error(`no merchant-${i}`);
      return record;
    },
    async shut() {
      if (!open) return;
      open = false;
      await storage.close();
    },
    async reopen() {
      await store.shut();
      storage = await openGatewayStorage(dbDir);
      open = true;
      return storage;
    },
    async close() {
      await store.shut();
      await rm(dir, { recursive: true, force: true });
    },
  };
  return store;
}

/** The node client and chain reader the gateway uses; `close` closes the chain reader. */
export function nodeAndChain(scenario: Scenario, nodeUrl = NO_NODE): { node: NodeApiClient; chain: ChainReader; close(): Promise<void> } {
  const chain = createChainReader(scenario.chain.url, scenario.deployment);
  const credentials = launchedCredentials(nodeUrl)?.gateway;
  return { node: new NodeApiClient({ baseUrl: nodeUrl, timeoutMs: 5_000, ...(credentials ? { credentials } : {}) }), chain, close: () => chain.close() };
}

export interface BankSimulatorHandle {
  url: string;
  app: FastifyInstance;
  store: BankStore;
  /** Closes the app and the store (once; later calls do nothing), keeping the directory. */
  stop(): Promise<void>;
}

/**
 * The bank simulator in-process, listening on 127.0.0.1 (`port`, 0 for any) with its LevelDB in `dir`;
 * it pays payouts only against redemptions `redemptions` finds (none without it). Silent unless given a logger.
 */
export async function startBankSimulator(dir: string, options: BankSimulatorOptions, port = 0, redemptions?: BankSimulatorModules["redemptions"], logger: Logger = pino({ level: "silent" })): Promise<BankSimulatorHandle> {
  const store = await openBankStore(dir);
  const app = await buildBankSimulator(options, { logger, store, ...(redemptions ? { redemptions } : {}) });
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

/** The bank simulator on a temp dir of its own (no failures, the given latency), reading `scenario`'s chain for redemptions. */
export async function bankFixture(latencyMs: BankSimulatorOptions["latencyMs"], scenario: Scenario): Promise<BankFixture> {
  const dir = await mkdtemp(join(tmpdir(), "settlenet-gateway-bank-"));
  const redemptions = ChainRedemptions.connect(scenario.chain.url, BigInt(scenario.deployment.chainId), { deployment: scenario.deployment, confirmations: 0 });
  const bank = await startBankSimulator(dir, { latencyMs, failureRate: 0 }, 0, redemptions);
  return {
    ...bank,
    async close() {
      await bank.stop();
      redemptions.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

/** Money modules: dev wallet 15 as permit relayer, the bank at `bankUrl` (no custodian key: mints are the custodian service's). */
export function moneyModules(scenario: Scenario, bankUrl: string): () => GatewayMoneyModules {
  const logger = pino({ level: "silent" });
  return () => ({
    chain: new MoneyChain(scenario.chain.url, scenario.deployment, { permitRelayer: devWallet(15), logger }),
    bank: new HttpBankAdapter({ baseUrl: bankUrl, retryDelayMs: 50 }, { logger }),
  });
}
