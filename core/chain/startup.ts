/**
 * Start-up checks every process that reads a deployment file runs before anything else: the JSON-RPC
 * endpoint answers, serves the chain the deployment was made on, and has code at every contract
 * address. A node pointed at the wrong chain would otherwise accept operations signed for it and
 * refuse the right ones; a reset chain would look empty. Each failure is one coded error.
 *
 * Also the polling interval that suits the chain's block time: ethers polls every 4 s by default,
 * which makes every transaction wait seconds on a chain that seals a block each second.
 */
import type { JsonRpcProvider } from "ethers";

import { SettlenetError } from "../errors.js";
import type { Deployment } from "../protocol/deployment.js";

/** What the checks name in their messages. */
export interface ChainCheckContext {
  rpcUrl: string;
  deploymentFile: string;
}

/** Every contract of a deployment with a name for messages. */
export function deploymentContracts(deployment: Deployment): { name: string; address: string }[] {
  return [
    { name: "ParticipantRegistry", address: deployment.contracts.registry },
    { name: "PaymentEscrow", address: deployment.contracts.escrow },
    { name: "SettlementLedger", address: deployment.contracts.ledger },
    ...Object.values(deployment.tokens).map((token) => ({ name: `SettlementToken ${token.symbol}`, address: token.address })),
  ];
}

/** The chain id the endpoint reports itself (eth_chainId, never a configured or cached network). */
export async function rpcChainId(provider: JsonRpcProvider, context: Pick<ChainCheckContext, "rpcUrl">): Promise<bigint> {
  try {
    return BigInt((await provider.send("eth_chainId", [])) as string);
  } catch (error) {
    throw new SettlenetError("CHAIN_UNREACHABLE", `cannot reach the chain's JSON-RPC at ${context.rpcUrl}: ${(error as Error).message}`, { rpcUrl: context.rpcUrl }, { cause: error });
  }
}

/**
 * Refuses to go on unless `provider` serves the deployment's chain (CHAIN_ID_MISMATCH) and every
 * contract of the deployment has code there (CONTRACT_MISSING); CHAIN_UNREACHABLE if it does not answer.
 */
export async function checkDeploymentOnChain(provider: JsonRpcProvider, deployment: Deployment, context: ChainCheckContext): Promise<void> {
  const chainId = await rpcChainId(provider, context);
  if (chainId.toString() !== deployment.chainId) {
    throw new SettlenetError(
      "CHAIN_ID_MISMATCH",
      `the JSON-RPC at ${context.rpcUrl} serves chain ${chainId} but the deployment file ${context.deploymentFile} is for chain ${deployment.chainId}`,
      { rpcUrl: context.rpcUrl, chainId: chainId.toString(), deploymentChainId: deployment.chainId },
    );
  }
  for (const contract of deploymentContracts(deployment)) {
    let code: string;
    try {
      code = await provider.getCode(contract.address);
    } catch (error) {
      throw new SettlenetError("CHAIN_UNREACHABLE", `cannot read code at ${contract.address} from ${context.rpcUrl}: ${(error as Error).message}`, { rpcUrl: context.rpcUrl }, { cause: error });
    }
    if (code === "0x") {
      throw new SettlenetError(
        "CONTRACT_MISSING",
        `chain ${chainId} has no code at ${contract.address} (${contract.name} in ${context.deploymentFile}): the deployment file is not for this chain, or the chain was reset`,
        { contract: contract.name, address: contract.address, chainId: chainId.toString() },
      );
    }
  }
}

/** Polling never faster than this (a busy automining chain) nor slower (a slow producer: waits stay short). */
const MIN_POLL_MS = 100;
const MAX_POLL_MS = 1_000;

/**
 * A polling interval for transaction receipts and new blocks: a quarter of the chain's average block
 * interval over its last `sample` blocks, between 100 ms and 1 s. A chain that mines only for
 * transactions shows long gaps; it gets 1 s, and its receipts are there at the first look anyway.
 */
export async function pollIntervalForChain(provider: JsonRpcProvider, sample = 10): Promise<number> {
  const head = await provider.getBlockNumber();
  if (head < 1) return MAX_POLL_MS;
  const from = Math.max(0, head - sample);
  const [latest, earlier] = await Promise.all([provider.getBlock(head), provider.getBlock(from)]);
  if (!latest || !earlier) return MAX_POLL_MS;
  const averageMs = ((latest.timestamp - earlier.timestamp) * 1_000) / (head - from);
  return Math.round(Math.min(MAX_POLL_MS, Math.max(MIN_POLL_MS, averageMs / 4)));
}
