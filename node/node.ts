/**
 * An institution (or regulator) node: registry mirror, LevelDB storage, chain indexer, validation
 * pipeline, permissioned gossip, relayer and HTTP API, wired together. `startNode` returns once the
 * node has caught up with the chain and listens; `stop` shuts everything down in reverse order.
 */
import { join } from "node:path";

import { Contract, Network, ZeroHash } from "ethers";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { Counter, Registry, collectDefaultMetrics } from "prom-client";

import { CONSOLE_DIST } from "../core/http/console.js";
import { buildNodeApi, type HealthReport } from "./api/app.js";
import { registerAuditRoutes } from "./audit/routes.js";
import { ChainHeads } from "./chain/heads.js";
import { ChainRegistryView } from "./chain/registry-view.js";
import { credentialsFileOf, type NodeConfig } from "./config.js";
import { HttpJsonRpcProvider } from "../core/chain/json-rpc.js";
import { checkDeploymentOnChain } from "../core/chain/startup.js";
import { SettlenetError } from "../core/errors.js";
import { armFailpointWhenServing, failpointFromEnv } from "../core/failpoints.js";
import { readTlsCredentials } from "../core/http/tls.js";
import { Indexer } from "./indexer/indexer.js";
import { TokenIndexer } from "./indexer/tokens.js";
import { BalanceIndexer } from "./indexer/balances.js";
import { FundsGuard } from "./validation/funds.js";
import { useNativeKeccakInEthers } from "../core/keccak.js";
import { loadOperatorWallet } from "../core/keys.js";
import { StopStack } from "../core/lifecycle.js";
import { createGossipNetwork, type GossipNetwork } from "./p2p/network.js";
import { loadOrCreatePeerKey, peerIdOf } from "./p2p/keys.js";
import { OperationPipeline } from "./pipeline.js";
import { loadArtifact } from "../core/protocol/artifacts.js";
import { readDeployment } from "../core/protocol/deployment.js";
import { PAYMENT_STATUSES } from "../core/protocol/eip712.js";
import { descriptorOf, operationSchema, tokenNamesOf } from "../core/operations/index.js";
import { BatchRelayer, LEASE_TOPIC } from "./relay/relayer.js";
import { TransactionSender } from "./relay/sender.js";
import { chainOf } from "../core/operator/chain.js";
import { ATTESTATION_TOPIC } from "./settlement/attestation.js";
import { CycleService } from "./settlement/service.js";
import type { ValidationContext } from "./services.js";
import { openStorage } from "./storage/db.js";
import { OutcomeMapper } from "./validation/outcome.js";
import { RiskEngine } from "./validation/risk.js";
import { registerRiskRulesRoutes } from "./risk/api.js";
import { RISK_RULES_TOPIC, RiskRulesService } from "./risk/rules.js";
import { createSignatureVerifier } from "./validation/signature.js";
import { ALERTS_TOPIC, startCompliance } from "./compliance/service.js";
import { registerBackupRoutes } from "./backup/api.js";
import { registerAuditLogRoutes } from "./api/audit-log.js";
import { ChainClock } from "./chain/clock.js";
import { CredentialVerifier } from "./api/credentials.js";
import { registerSessionRoutes, sessionAuthenticator } from "./api/session.js";
import { registerConsoleRoutes } from "./api/console.js";
import { closeInterruptedIntents, registerOnboardingRoutes } from "./api/onboarding.js";
import { DISPUTE_NOTES_TOPIC, DisputeNotes, registerDisputeRoutes } from "./disputes/notes.js";
import { registerUserAdminRoutes } from "./api/user-admin.js";
import { loadOrCreateUserSecrets } from "./api/users.js";
import { PeerSync, Readiness, SYNC_TOPIC } from "./backup/sync.js";
import { listenNotReady } from "./backup/not-ready-server.js";
import { startCustodian, registerCustodyRoutes } from "./custodian/start.js";
import { registerOverdueRoutes } from "./overdue/api.js";
import { OverdueMonitor } from "./overdue/monitor.js";

/**
 * The balance mirror judges a payer's funds only while at most this many blocks behind the head (it
 * catches up before the API serves, then steps once a second).
 */
const FUNDS_MAX_LAG_BLOCKS = 256;

export interface RunningNode {
  peerId: string;
  operator: string;
  apiUrl: string;
  /** The HTTP API itself (its registered routes; `inject()`). */
  api: FastifyInstance;
  multiaddrs(): string[];
  stop(): Promise<void>;
}

/** Starts a node from its validated configuration. */
export async function startNode(config: NodeConfig, modules: { logger: Logger }): Promise<RunningNode> {
  const logger = modules.logger;
  // Every transaction hash, parsed log and formatted receipt hashes with ethers' keccak256.
  if (!useNativeKeccakInEthers()) logger.warn("the native keccak binding did not load: hashing runs in JavaScript");
  const stack = new StopStack(logger);
  const stopAll = () => stack.stopAll();
  try {
    const deployment = await readDeployment(config.deploymentFile);
    const wallet = await loadOperatorWallet(config.keyFile, config.keyPasswordEnv);
    const chainId = BigInt(deployment.chainId);
    const provider = new HttpJsonRpcProvider(config.rpcUrl, Network.from(chainId), {
      staticNetwork: true,
      cacheTimeout: -1,
      pollingInterval: config.indexer.pollIntervalMs,
    });
    stack.push(async () => provider.destroy());
    // Before anything is opened or served: the right chain, with the deployment's contracts on it.
    await checkDeploymentOnChain(provider, deployment, { rpcUrl: config.rpcUrl, deploymentFile: config.deploymentFile });

    const storage = await openStorage(join(config.dataDir, "db"));
    stack.push(() => storage.close());
    // The change feed keeps a bounded number of changes.
    let pruning = false;
    const feedPruner = setInterval(() => {
      if (pruning) return;
      pruning = true;
      storage.changes
        .prune(config.feed.keepChanges)
        .then((deleted) => {
          if (deleted > 0) logger.info({ deleted, keep: config.feed.keepChanges }, "pruned the change feed");
        })
        .catch((error: unknown) => logger.warn({ err: error }, "change feed pruning failed"))
        .finally(() => (pruning = false));
    }, config.feed.pruneIntervalMs);
    feedPruner.unref();
    stack.push(async () => clearInterval(feedPruner));
    // While catching up with the chain, clients get 503 NOT_READY rather than a refused connection
    // (with port 0 the real API picks its own port: nothing to hold).
    const tls = await readTlsCredentials(config.api.tls);
    const notReady = config.api.port === 0 ? undefined : await listenNotReady({ ...config.api, tls }, { logger });
    if (notReady) stack.push(() => notReady.close());

    // One head poll for the indexers and the registry view: each catches up when it sees a new block.
    const heads = new ChainHeads({ pollIntervalMs: config.indexer.pollIntervalMs }, { provider, logger: logger.child({ module: "heads" }) });
    heads.start();
    stack.push(async () => heads.stop());
    const registry = new ChainRegistryView({ deployment, pollIntervalMs: 1_000 }, { provider, heads, logger: logger.child({ module: "registry" }) });
    await registry.start();
    stack.push(() => registry.stop());

    // The peer key first: an unregistered operator needs its peer id to get registered.
    const peerKey = await loadOrCreatePeerKey(config.peerKeyFile);
    const peerId = peerIdOf(peerKey);
    const operator = registry.operators().find((o) => o.signer.toLowerCase() === wallet.address.toLowerCase());
    if (!operator) {
      throw new SettlenetError(
        "NOT_REGISTERED",
        `key ${wallet.address} is not the signing key of any registered ${config.role}: register address ${wallet.address} with peer id ${peerId} (settlenet ${config.role} register)`,
        { signer: wallet.address, peerId },
      );
    }
    if (operator.regulator !== (config.role === "regulator")) {
      throw new SettlenetError("ROLE_MISMATCH", `configured role ${config.role} but ${operator.id} is registered as ${operator.regulator ? "a regulator" : "an institution"}`, { operator: operator.id });
    }
    if (operator.peerId !== peerId) {
      throw new SettlenetError("PEER_ID_MISMATCH", `this node's peer id ${peerId} differs from the one registered for ${operator.id} (${operator.peerId})`, { peerId, registered: operator.peerId });
    }

    const metrics = new Registry();
    collectDefaultMetrics({ register: metrics });
    const outcomes = new OutcomeMapper({ logger, metrics });
    // Synced LevelDB batches and the writes in them (how many writes share an fsync).
    const synced = () => storage.syncStats();
    new Counter({ name: "settlenet_storage_synced_batches_total", help: "Synced LevelDB batches written (group commits)", registers: [metrics], collect() { this.reset(); this.inc(synced().batches); } });
    const byKeyspace = (name: string, help: string, counts: () => Record<string, number>) =>
      new Counter({
        name,
        help,
        labelNames: ["keyspace"] as const,
        registers: [metrics],
        collect() {
          this.reset();
          for (const [keyspace, count] of Object.entries(counts())) this.inc({ keyspace }, count);
        },
      });
    byKeyspace("settlenet_storage_synced_writes_total", "Writes (puts and deletes) in the synced LevelDB batches, by keyspace", () => synced().byKeyspace);
    byKeyspace(
      "settlenet_storage_synced_bytes_total",
      "Length of the keys and JSON values written in the synced LevelDB batches, by keyspace (bytes for ASCII text)",
      () => synced().bytesByKeyspace,
    );
    const clock = new ChainClock({ pollIntervalMs: config.indexer.pollIntervalMs }, { provider, metrics, heads });
    clock.start();
    stack.push(async () => clock.stop());
    // Customers' KYC levels from the registry mirror and chain time as polled: no chain read on the validation path.
    const risk = new RiskEngine(
      config.risk,
      (account) => {
        const known = registry.account(account);
        return known?.kind === "customer" ? known.kycLevel : undefined;
      },
      () => clock.now(),
    );
    // Signed risk rules: the stored document replaces node.json's before anything is validated.
    const registryContract = new Contract(deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, provider);
    const riskRules = new RiskRulesService(
      { chainId, registry: deployment.contracts.registry, rebroadcastMs: config.riskRules.rebroadcastMs },
      {
        storage,
        risk,
        isGovernance: async (account) => (await registryContract.getFunction("hasRole")(ZeroHash, account)) as boolean,
        logger: logger.child({ module: "risk-rules" }),
      },
    );
    await riskRules.load();
    // Before anything is validated or relayed: the day totals and velocity windows survive a restart.
    const restored = await risk.restore(
      (sinceMs, visit) =>
        storage.operations.forEachReceivedSince(sinceMs, (stored) => {
          // Only kinds that move new money in count; parse just those.
          if ("riskSubject" in descriptorOf(stored.op.kind)) visit(operationSchema.parse(stored.op), stored.receivedAtMs);
        }),
      Math.floor(Date.now() / 1000),
    );
    if (restored > 0) logger.info({ operations: restored }, "risk counters rebuilt from stored operations");
    // An institution refuses on its API the pays their payers cannot fund (balances mirrored from the chain).
    const balanceIndexer =
      config.role === "institution"
        ? new BalanceIndexer(
            { deployment, confirmations: config.indexer.confirmations },
            { provider, heads, storage, logger: logger.child({ module: "balance-indexer" }), onStep: (cursor) => funds?.mirroredUpTo(cursor) },
          )
        : undefined;
    const funds = balanceIndexer
      ? new FundsGuard(
          { escrow: deployment.contracts.escrow, maxLagBlocks: FUNDS_MAX_LAG_BLOCKS },
          { balances: storage.balances, provider, mirrored: () => balanceIndexer.cursor, head: () => heads.latest, metrics },
        )
      : undefined;
    if (funds) {
      storage.changes.onAppend((drafts) => funds.onChanges(drafts));
      const pending = await funds.restore(storage.operations);
      if (pending > 0) logger.info({ operations: pending }, "pending debits rebuilt from stored pays, redemptions and burns");
    }
    const ctx: ValidationContext = {
      chainId,
      escrow: deployment.contracts.escrow,
      registry,
      storage,
      rules: config.risk,
      // Deadlines by chain time (the machine's clock only until the chain was first read).
      nowSeconds: () => clock.now() ?? Math.floor(Date.now() / 1000),
      chainNowSeconds: async (fresh) => (fresh ? clock.fresh() : (clock.cached() ?? clock.fresh())),
      tokenNames: tokenNamesOf(deployment),
    };

    // One transaction sender for the operator's key: the relayer and settlement finalization share its nonce.
    const sender = config.role === "institution" ? new TransactionSender({}, { wallet: wallet.connect(provider), logger, metrics }) : undefined;
    const relayer = sender
      ? new BatchRelayer(
          { deployment, institutionId: operator.id, ...config.relay },
          {
            sender,
            storage,
            logger: logger.child({ module: "relay" }),
            metrics,
            activeInstitutions: () => registry.activeInstitutions(),
            // Leases are signed with the institution's current operator key.
            signerOf: (institution) => registry.activeInstitutions().find((o) => o.id.toLowerCase() === institution.toLowerCase())?.signer,
            // Before a takeover: index up to the head, so what another node executed is not sent again.
            catchUp: () => Promise.all([indexer.syncOnce(), tokenIndexer.syncOnce()]),
            onBlockMined: (blockNumber) => heads.saw(blockNumber),
          },
        )
      : undefined;
    const signatures = createSignatureVerifier(
      {
        ...(config.validation.signatureWorkers !== undefined ? { workers: config.validation.signatureWorkers } : {}),
        ...(config.validation.inlineSignatures !== undefined ? { inlineMax: config.validation.inlineSignatures } : {}),
      },
      { logger, metrics },
    );
    stack.push(() => signatures.close());
    // CPU by thread: process_cpu_seconds_total also counts V8's GC and compiler threads and LevelDB's work in libuv's pool.
    new Counter({
      name: "settlenet_thread_cpu_seconds_total",
      help: "CPU (user + system) of this node's main thread and of its signature worker threads; the rest of process_cpu_seconds_total is V8's garbage collection and compiler threads and libuv's pool (LevelDB reads and writes)",
      labelNames: ["thread"],
      registers: [metrics],
      collect() {
        const main = process.threadCpuUsage();
        this.reset();
        this.inc({ thread: "main" }, (main.user + main.system) / 1e6);
        this.inc({ thread: "signature-worker" }, signatures.workerCpuMicros() / 1e6);
      },
    });
    const failpoint = failpointFromEnv();
    if (failpoint) logger.warn({ failpoint }, "fault-test crash point set: this node kills itself there once serving");
    const pipeline = new OperationPipeline({ readOnly: config.role === "regulator", gossipWindowMs: config.gossip.windowMs }, ctx, {
      logger,
      outcomes,
      risk,
      signatures,
      metrics,
      ...(relayer ? { relayer } : {}),
      ...(funds ? { funds } : {}),
    });

    const indexer = new Indexer(
      { deployment, pollIntervalMs: config.indexer.pollIntervalMs, confirmations: config.indexer.confirmations },
      {
        provider,
        heads,
        storage,
        institutionOf: (account) => registry.account(account)?.institution,
        logger: logger.child({ module: "indexer" }),
        onSettled: (ids) => relayer?.settled(ids),
      },
    );
    // Catch up with the chain before acknowledging anything (a restored or emptied node re-syncs first).
    await indexer.syncOnce();
    indexer.start();
    stack.push(() => indexer.stop());
    const tokenIndexer = new TokenIndexer(
      { deployment, pollIntervalMs: config.indexer.pollIntervalMs, confirmations: config.indexer.confirmations },
      { provider, heads, storage, logger: logger.child({ module: "token-indexer" }), onSettled: (ids) => relayer?.settled(ids) },
    );
    await tokenIndexer.syncOnce();
    tokenIndexer.start();
    stack.push(() => tokenIndexer.stop());
    if (balanceIndexer) {
      await balanceIndexer.syncOnce();
      balanceIndexer.start();
      stack.push(() => balanceIndexer.stop());
    }

    const network: GossipNetwork = await createGossipNetwork(
      {
        privateKey: peerKey,
        listen: config.listen,
        bootstrap: config.bootstrap,
        meshDegree: config.gossip.meshDegree,
        ...config.p2p,
        topics: [ATTESTATION_TOPIC, ALERTS_TOPIC, SYNC_TOPIC, LEASE_TOPIC, RISK_RULES_TOPIC, DISPUTE_NOTES_TOPIC],
      },
      { logger: logger.child({ module: "p2p" }), allowlist: () => registry.allowedPeerIds(), validate: (from, data) => pipeline.onGossip(from, data), metrics },
    );
    stack.push(() => network.stop());
    // A node with peers configured has published only once a peer got the message (else the pipeline
    // keeps it in its outbox and publishes again); a node alone has nobody to hand it to.
    pipeline.setPublisher(async (data) => {
      const recipients = await network.publish(data);
      if (recipients === 0 && config.bootstrap.length > 0) throw new SettlenetError("P2P_NO_RECIPIENTS", "no peer received the gossip message", {});
      return recipients;
    });
    stack.push(() => pipeline.stop());
    if (relayer) {
      relayer.setLeasePublisher((data) => network.publishTo(LEASE_TOPIC, data));
      network.addTopic(LEASE_TOPIC, async (_from, data) => relayer.onLease(data));
    }
    const disputeNotes = new DisputeNotes({ chainId, escrow: deployment.contracts.escrow }, { storage, logger: logger.child({ module: "disputes" }) });
    disputeNotes.setPublisher((data) => network.publishTo(DISPUTE_NOTES_TOPIC, data));
    network.addTopic(DISPUTE_NOTES_TOPIC, (from, data) => disputeNotes.onGossip(from, data));
    disputeNotes.start(config.disputes.rebroadcastMs);
    stack.push(async () => disputeNotes.stop());
    riskRules.setPublisher((data) => network.publishTo(RISK_RULES_TOPIC, data));
    network.addTopic(RISK_RULES_TOPIC, (from, data) => riskRules.onGossip(from, data));
    riskRules.start();
    stack.push(async () => riskRules.stop());
    registry.onChange(() => {
      network.refreshAllowlist().catch((error: unknown) => logger.warn({ err: error }, "allowlist refresh failed"));
    });

    if (relayer) {
      await relayer.start();
      stack.push(() => relayer.stop());
    }

    // Settlement cycles: every node builds and checks them; institutions attest and finalize.
    const cycles = new CycleService(
      {
        deployment,
        ...config.settlement,
        confirmations: config.indexer.confirmations,
        ...(config.role === "institution" ? { institutionId: operator.id } : {}),
      },
      {
        provider,
        storage,
        registry,
        ...(sender ? { wallet: wallet.connect(provider), sender, publish: (data: Uint8Array) => network.publishTo(ATTESTATION_TOPIC, data) } : {}),
        logger,
        metrics,
      },
    );
    network.addTopic(ATTESTATION_TOPIC, (from, data) => cycles.onGossip(from, data));
    await cycles.start();
    stack.push(() => cycles.stop());
    // Compliance (AML, reserves, alert gossip) and catching up with peers before acknowledging anything.
    const compliance = await startCompliance(
      { config: config.compliance, role: config.role, operator: operator.id, deployment },
      { storage, provider, registry, network, signer: wallet, logger, metrics },
    );
    stack.push(() => compliance.stop());
    const readiness = new Readiness({ intervalMs: config.indexer.pollIntervalMs, maxLagBlocks: 5 }, { provider, storage, logger });
    await readiness.start();
    stack.push(() => readiness.stop());
    const peerSync = new PeerSync({ timeoutMs: config.peerSyncTimeoutMs }, { network, storage, logger: logger.child({ module: "sync" }), ingest: (from, data) => pipeline.onGossip(from, data) });

    const escrow = new Contract(deployment.contracts.escrow, loadArtifact("PaymentEscrow").abi, provider);
    const health = async (): Promise<HealthReport> => {
      const [head, indexed] = await Promise.all([provider.getBlockNumber().catch(() => null), storage.getCursor()]);
      return {
        ready: head !== null && indexed !== undefined && head - indexed <= 5 && readiness.isReady(),
        role: config.role,
        peerId,
        operator: operator.id,
        chain: { head, indexed: indexed ?? null, registry: registry.syncedBlock },
        peers: network.connectedPeers().length,
      };
    };
    const credentials = new CredentialVerifier(credentialsFileOf(config), {
      onError: (error) => logger.error({ err: error, file: credentialsFileOf(config) }, "credentials file unreadable: every API request is refused until it is fixed"),
      onLoad: async (loaded) => {
        logger.info({ credentials: loaded.filter((c) => c.revokedAtMs === undefined).length }, "API credentials loaded");
        await storage.auditCredentialChanges(loaded).catch((error: unknown) => logger.error({ err: error }, "could not log credential changes"));
      },
    });
    await credentials.refresh();
    // Onboarding through the API sends with the operator key through its one sender.
    const onboardingStop = new AbortController();
    stack.push(async () => onboardingStop.abort());
    const onboarding = sender
      ? {
          chain: chainOf(provider, deployment),
          audit: storage.audit,
          actor: {
            address: operator.signer,
            signer: wallet,
            send: async (call: { to: string; data: string; what: string }) => {
              const { hash } = await sender.send({ to: call.to, data: call.data, purpose: "onboarding" });
              const receipt = await sender.waitForReceipt(hash, onboardingStop.signal);
              if (receipt === "dropped") throw new SettlenetError("TX_DROPPED", `${call.what}: transaction ${hash} was dropped`, { txHash: hash });
              if (!receipt) throw new SettlenetError("NODE_STOPPING", `${call.what}: the node stopped before transaction ${hash} was mined`, { txHash: hash });
              return receipt;
            },
          },
        }
      : undefined;
    if (onboarding) {
      // Before the API serves: an intent without an outcome is then one a crash interrupted.
      const closed = await closeInterruptedIntents({ chain: onboarding.chain, audit: onboarding.audit, node: `node:${operator.id}` }).catch((error: unknown) => {
        logger.error({ err: error }, "could not close onboarding intents left by a crash; they stay open until the next start");
        return [];
      });
      if (closed.length > 0) logger.warn({ entries: closed.map((e) => e.seq) }, "closed onboarding intents a crash left without an outcome");
    }
    const userModules = { users: storage.users, secrets: await loadOrCreateUserSecrets(config.api.userSecretsKeyFile), now: Date.now };
    const consoleNetwork = { chainId: deployment.chainId.toString(), escrow: deployment.contracts.escrow, ledger: deployment.contracts.ledger };
    const api: FastifyInstance = await buildNodeApi(
      { ...(tls ? { tls } : {}), console: { dir: config.api.consoleDir ?? CONSOLE_DIST, network: consoleNetwork } },
      {
        logger: logger.child({ module: "api" }),
        credentials,
        sessions: sessionAuthenticator(userModules, config.api.signIn),
        metrics,
        storage,
        submit: (inputs) => pipeline.submit(inputs),
        ...(relayer ? { admission: () => relayer.admission() } : {}),
        peers: () =>
          network.connectedPeers().map((id) => {
            const known = registry.operators().find((o) => o.peerId === id);
            return { peerId: id, ...(known ? { operator: known.id, name: known.name } : {}) };
          }),
        health,
        routes: [
          (app) => registerAuditRoutes(app, { storage }),
          (app) => registerAuditLogRoutes(app, { audit: storage.audit }),
          (app) => registerRiskRulesRoutes(app, { rules: riskRules }),
          (app) => registerSessionRoutes(app, userModules, config.api.signIn),
          (app) => registerUserAdminRoutes(app, userModules),
          (app) => registerConsoleRoutes(app, { metrics, storage }),
          (app) => registerDisputeRoutes(app, { notes: disputeNotes, storage }),
          ...(onboarding ? [(app: FastifyInstance) => registerOnboardingRoutes(app, onboarding)] : []),
        ],
        ready: () => readiness.isReady(),
        tokens: {
          repository: storage.tokens,
          tokens: Object.values(deployment.tokens),
          onChainToken: async (token) => {
            const contract = new Contract(token, loadArtifact("SettlementToken").abi, provider);
            const [totalSupply, paused] = (await Promise.all([contract.getFunction("totalSupply")(), contract.getFunction("paused")()])) as [bigint, boolean];
            return { totalSupply: totalSupply.toString(), paused };
          },
          onChainAccount: async (token, account) => {
            const contract = new Contract(token, loadArtifact("SettlementToken").abi, provider);
            const [balance, frozen] = (await Promise.all([contract.getFunction("balanceOf")(account), contract.getFunction("isFrozen")(account)])) as [bigint, boolean];
            return { balance: balance.toString(), frozen };
          },
        },
        onChainPayment: async (paymentId) => {
          const state = (await escrow.getFunction("paymentOf")(paymentId)) as { status: bigint; amount: bigint; refunded: bigint; deadline: bigint };
          if (state.status === 0n) return undefined;
          return {
            status: PAYMENT_STATUSES[Number(state.status)] ?? "unknown",
            amount: state.amount.toString(),
            refunded: state.refunded.toString(),
            deadline: Number(state.deadline),
          };
        },
      },
    );
    await compliance.register(api);
    // The custodian service, on the custodian institution's node only: its own key, store and bank client.
    const custodian = config.custodian
      ? await startCustodian(config.custodian, { dataDir: config.dataDir, deployment }, { provider, registry, pipeline, storage, compliance, chainNow: () => clock.now(), logger: logger.child({ module: "custodian" }) })
      : undefined;
    if (custodian) stack.push(() => custodian.stop());
    await registerCustodyRoutes(api, custodian);
    // Money stuck in an intermediate state: operational alerts for this institution's operators.
    const overdue = new OverdueMonitor(config.overdue, {
      operations: storage.operations,
      store: storage,
      minting: custodian ? (limit) => custodian.minting(limit) : undefined,
      logger: logger.child({ module: "overdue" }),
      metrics,
    });
    registerOverdueRoutes(api, { monitor: overdue });
    overdue.start();
    stack.push(() => overdue.stop());
    await registerBackupRoutes(api, { storage, logger: logger.child({ module: "backup" }) });
    // Answers 503 NOT_READY until the peers' pending operations are in.
    // A node without peers configured has nobody to catch up from.
    const syncing = config.bootstrap.length === 0 ? Promise.resolve(0) : peerSync.syncOnce();
    // Once the peers are reached: what this node stored but never gossiped (a crash or a failed publish).
    void syncing
      .then(
        () => readiness.markPeersSynced(),
        (error: unknown) => {
          logger.warn({ err: error }, "peer sync failed; acknowledging without it");
          readiness.markPeersSynced();
        },
      )
      .then(() => pipeline.start())
      .then(() => custodian?.start());
    await notReady?.close();
    await api.listen({ host: config.api.host, port: config.api.port });
    armFailpointWhenServing();
    stack.push(() => api.close());
    const address = api.server.address();
    const port = typeof address === "object" && address ? address.port : config.api.port;
    const apiUrl = `${tls ? "https" : "http"}://${config.api.host}:${port}`;
    logger.info({ peerId, operator: operator.id, role: config.role, api: apiUrl, listen: network.multiaddrs() }, "node started");

    return { peerId, operator: operator.id, apiUrl, api, multiaddrs: () => network.multiaddrs(), stop: stopAll };
  } catch (error) {
    await stopAll();
    throw error;
  }
}
