/**
 * The gateway's start-up checks, before it opens anything: the chain behind `rpcUrl` is the
 * deployment's, with its contracts (core/chain/startup.ts), and the custodian key it signs mints
 * with belongs to an active custodian institution. Also how often it polls the chain.
 */
import { Contract, JsonRpcProvider, Network, ZeroAddress } from "ethers";

import { checkDeploymentOnChain, pollIntervalForChain } from "../core/chain/startup.js";
import { SettlenetError } from "../core/errors.js";
import { loadArtifact } from "../core/protocol/artifacts.js";
import type { Deployment } from "../core/protocol/deployment.js";
import type { GatewayConfig } from "./config.js";

/** Runs the checks; resolves with the chain polling interval to use. */
export async function checkGatewayChain(config: Pick<GatewayConfig, "rpcUrl" | "deploymentFile" | "chainPollIntervalMs">, deployment: Deployment, custodian: string | undefined): Promise<{ pollingInterval: number }> {
  const provider = new JsonRpcProvider(config.rpcUrl, Network.from(BigInt(deployment.chainId)), { staticNetwork: true, cacheTimeout: -1 });
  try {
    await checkDeploymentOnChain(provider, deployment, { rpcUrl: config.rpcUrl, deploymentFile: config.deploymentFile });
    if (custodian) {
      const registry = new Contract(deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, provider);
      // The institution whose custodian key this is (or whose operator key, while it has no custodian key), if active.
      const institution = (await registry.getFunction("custodianInstitutionOf")(custodian)) as string;
      const active = institution !== ZeroAddress;
      const custodianOf = active
        ? await Promise.all(
            Object.values(deployment.tokens).map(async (token) => ((await new Contract(token.address, loadArtifact("SettlementToken").abi, provider).getFunction("isCustodian")(institution)) as boolean) ? token.symbol : undefined),
          )
        : [];
      if (!custodianOf.some((symbol) => symbol !== undefined)) {
        throw new SettlenetError(
          "CUSTODIAN_NOT_REGISTERED",
          `the gateway's custodian key ${custodian} is not the custodian key of an active custodian institution (settlenet custodian set, settlenet custodian key)`,
          { custodian, institution },
        );
      }
    }
    return { pollingInterval: config.chainPollIntervalMs ?? (await pollIntervalForChain(provider)) };
  } finally {
    provider.destroy();
  }
}
