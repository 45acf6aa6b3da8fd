/**
 * The gateway's start-up checks, before it opens anything: the chain behind `rpcUrl` is the
 * deployment's, with its contracts (core/chain/startup.ts). Also how often it polls the chain.
 */
import { JsonRpcProvider, Network } from "ethers";

import { checkDeploymentOnChain, pollIntervalForChain } from "../core/chain/startup.js";
import type { Deployment } from "../core/protocol/deployment.js";
import type { GatewayConfig } from "./config.js";

/** Runs the checks; resolves with the chain polling interval to use. */
export async function checkGatewayChain(config: Pick<GatewayConfig, "rpcUrl" | "deploymentFile" | "chainPollIntervalMs">, deployment: Deployment): Promise<{ pollingInterval: number }> {
  const provider = new JsonRpcProvider(config.rpcUrl, Network.from(BigInt(deployment.chainId)), { staticNetwork: true, cacheTimeout: -1 });
  try {
    await checkDeploymentOnChain(provider, deployment, { rpcUrl: config.rpcUrl, deploymentFile: config.deploymentFile });
    return { pollingInterval: config.chainPollIntervalMs ?? (await pollIntervalForChain(provider)) };
  } finally {
    provider.destroy();
  }
}
