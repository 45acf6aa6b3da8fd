/**
 * One institution node running in this process on a local chain, with its data in a temp dir: the
 * real node API (every route set, real LevelDB, indexer, relayer, settlement and compliance) for the
 * contract, client and OpenAPI tests. Cycles are an hour of chain time, closed by moving the clock.
 */
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { pino } from "pino";

import { NodeApiClient } from "../../../core/api/client.js";
import { ensureNodeCredentials, type NodeClientCredentials } from "../../../scripts/lib/launch/nodes.js";
import { writeOperatorKeystore } from "../../../core/keys.js";
import { writeDeployment } from "../../../core/protocol/deployment.js";
import { parseNodeConfig, type NodeConfigInput } from "../../../node/config.js";
import { startNode, type RunningNode } from "../../../node/node.js";
import { loadOrCreatePeerKey, peerIdOf } from "../../../node/p2p/keys.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { waitFor } from "../../helpers/network.js";

export const CYCLE_SECONDS = 3_600;
/** A single payment at or above this raises a LARGE_VALUE alert. */
export const LARGE_VALUE = 500_000n;

const PASSWORD_ENV = "SETTLENET_API_TEST_KEY_PASSWORD";

export interface ApiNode {
  chain: LocalChain;
  scenario: Scenario;
  node: RunningNode;
  /** One token per role (the client holds them all and sends the one each route allows). */
  credentials: NodeClientCredentials;
  credentialsFile: string;
  /** node.json of this node (paths relative to its directory), for the CLI. */
  configFile: string;
  client: NodeApiClient;
  /** Mines a block at the start of the cycle after `cycleId`, which closes it. */
  closeCycle(cycleId: bigint): Promise<void>;
  stop(): Promise<void>;
}

/** Starts a chain, deploys a one-institution scenario and starts that institution's node in this process (`relay` overrides its relay settings). */
export async function startApiNode(
  options: {
    relay?: NodeConfigInput["relay"];
    tls?: { certFile: string; keyFile: string };
    api?: Partial<NodeConfigInput["api"]>;
    overdue?: NodeConfigInput["overdue"];
    /** The URL the node reaches the chain at (a proxy in front of `chainUrl`); default the chain's own. */
    rpcUrl?: (chainUrl: string) => Promise<string>;
    beforeStart?: (configFile: string) => Promise<void>;
  } = {},
): Promise<ApiNode> {
  const dir = await mkdtemp(join(tmpdir(), "settlenet-api-"));
  const chain = await startChain();
  let node: RunningNode | undefined;
  try {
    const peerKeyFile = join(dir, "peer.key");
    const peerId = peerIdOf(await loadOrCreatePeerKey(peerKeyFile));
    const scenario = await deployScenario(chain, { institutions: 1, merchants: 1, payers: 2, institutionPeerIds: [peerId] });
    const institution = scenario.institutions[0];
    if (!institution) throw new Error("no institution");
    const deploymentFile = join(dir, "deployment.json");
    await writeDeployment(deploymentFile, scenario.deployment);
    process.env[PASSWORD_ENV] = "api-test-password";
    const keyFile = join(dir, "operator.json");
    await writeOperatorKeystore(keyFile, institution.privateKey, "api-test-password", true);
    const input: NodeConfigInput = {
      role: "institution",
      keyFile,
      keyPasswordEnv: PASSWORD_ENV,
      peerKeyFile,
      listen: ["/ip4/127.0.0.1/tcp/0"],
      rpcUrl: options.rpcUrl ? await options.rpcUrl(chain.url) : chain.url,
      deploymentFile,
      dataDir: join(dir, "data"),
      api: { host: "127.0.0.1", port: 0, ...(options.tls ? { tls: options.tls } : {}), ...options.api },
      relay: { batchIntervalMs: 50, ...options.relay },
      indexer: { pollIntervalMs: 100 },
      settlement: { cycleSeconds: CYCLE_SECONDS, tickMs: 100, finalizeFailoverMs: 1_000, rebroadcastMs: 1_000 },
      compliance: { aml: { pollIntervalMs: 100, largeValue: { threshold: LARGE_VALUE.toString() } }, reserves: { checkIntervalMs: 500 } },
      peerSyncTimeoutMs: 0,
      ...(options.overdue ? { overdue: options.overdue } : {}),
    };
    const config = parseNodeConfig(input, dir);
    // The same config as a file, for the CLI commands that take --config.
    const configFile = join(dir, "node.json");
    await writeFile(configFile, JSON.stringify(input));
    await options.beforeStart?.(configFile);
    const credentialsFile = join(dir, "credentials.json");
    await ensureNodeCredentials(credentialsFile, join(dir, "client-credentials.json"));
    node = await startNode(config, { logger: pino({ level: "silent" }) });
    const running = node;
    const credentials = await ensureNodeCredentials(credentialsFile, join(dir, "client-credentials.json"), running.apiUrl);
    // Every route but health answers NOT_READY until the node has caught up with the chain.
    // Asked in process, so a node serving HTTPS with a test CA is asked the same way.
    await waitFor("the node to be ready", async () => (await running.api.inject({ method: "GET", url: "/health" })).json<{ ready?: boolean }>().ready === true, 60_000, 50);
    return {
      chain,
      scenario,
      node: running,
      credentials,
      credentialsFile,
      configFile,
      client: new NodeApiClient({ baseUrl: running.apiUrl, timeoutMs: 10_000, credentials }),
      async closeCycle(cycleId) {
        const next = Number((cycleId + 1n) * BigInt(CYCLE_SECONDS));
        const now = (await chain.provider.getBlock("latest"))?.timestamp ?? 0;
        await chain.provider.send("evm_setNextBlockTimestamp", [Math.max(next, now + 1)]);
        await chain.provider.send("evm_mine", []);
      },
      async stop() {
        await running.stop();
        await chain.close();
        await rm(dir, { recursive: true, force: true });
      },
    };
  } catch (error) {
    await node?.stop();
    await chain.close();
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
}
