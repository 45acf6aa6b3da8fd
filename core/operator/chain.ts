/**
 * What every operator action shares: the chain (a JSON-RPC provider checked against the deployment,
 * the contracts), the acting key, one transaction at a time sent and awaited with its outcome, and the
 * result every action returns — done with its transaction, or unchanged because it was already done.
 * Used by the `settlenet` operator commands and by the launcher's provisioning alike.
 */
import { Contract, JsonRpcProvider, Network, NonceManager, type Signer, type TransactionReceipt } from "ethers";

import { checkDeploymentOnChain, pollIntervalForChain } from "../chain/startup.js";
import { SettlenetError } from "../errors.js";
import { loadArtifact } from "../protocol/artifacts.js";
import type { Deployment, TokenDeployment } from "../protocol/deployment.js";

/** The deployment's contracts on one chain, read-only until connected to an actor. */
export interface OperatorChain {
  provider: JsonRpcProvider;
  deployment: Deployment;
  registry: Contract;
  escrow: Contract;
  ledger: Contract;
  /** A settlement token by symbol (TOKEN_UNKNOWN if the deployment has none). */
  token(symbol: string): { entry: TokenDeployment; contract: Contract };
}

/** Who signs: its address and a signer that owns its nonce (concurrent sends get consecutive nonces). */
export interface Actor {
  address: string;
  signer: Signer;
  /**
   * Sends a contract call through the process's own sender of this key instead of `signer` (a running
   * node's relay sender: one nonce source for the key), resolving with the mined receipt.
   */
  send?: (call: { to: string; data: string; what: string }) => Promise<TransactionReceipt | null>;
}

/** What an action did. */
export interface ActionResult {
  /** False when it was already done and nothing was sent. */
  changed: boolean;
  /** One sentence: what was done, or what already holds. */
  summary: string;
  txHash?: string;
  blockNumber?: number;
  gasUsed?: string;
}

/** An actor from any ethers signer with a provider (wrapped so that its nonce is counted locally). */
export async function actorOf(signer: Signer): Promise<Actor> {
  const address = await signer.getAddress();
  return { address, signer: signer instanceof NonceManager ? signer : new NonceManager(signer) };
}

/** The deployment's contracts on `provider` (no checks: see openChain for a checked one). */
export function chainOf(provider: JsonRpcProvider, deployment: Deployment): OperatorChain {
  const tokens = new Map<string, Contract>();
  return {
    provider,
    deployment,
    registry: new Contract(deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, provider),
    escrow: new Contract(deployment.contracts.escrow, loadArtifact("PaymentEscrow").abi, provider),
    ledger: new Contract(deployment.contracts.ledger, loadArtifact("SettlementLedger").abi, provider),
    token(symbol) {
      const entry = deployment.tokens[symbol];
      if (!entry) throw new SettlenetError("TOKEN_UNKNOWN", `the deployment has no ${symbol} token (it has ${Object.keys(deployment.tokens).join(", ") || "none"})`, { symbol });
      let contract = tokens.get(symbol);
      if (!contract) {
        contract = new Contract(entry.address, loadArtifact("SettlementToken").abi, provider);
        tokens.set(symbol, contract);
      }
      return { entry, contract };
    },
  };
}

/** A provider on `rpcUrl` polling at a rate suited to the chain's block time. */
export async function providerFor(rpcUrl: string, chainId?: bigint): Promise<JsonRpcProvider> {
  const provider = new JsonRpcProvider(rpcUrl, chainId === undefined ? undefined : Network.from(chainId), { cacheTimeout: -1, ...(chainId === undefined ? {} : { staticNetwork: true }) });
  try {
    provider.pollingInterval = await pollIntervalForChain(provider);
  } catch (error) {
    provider.destroy();
    throw new SettlenetError("CHAIN_UNREACHABLE", `cannot reach the chain's JSON-RPC at ${rpcUrl}: ${(error as Error).message}`, { rpcUrl }, { cause: error });
  }
  return provider;
}

/** Opens the deployment on `rpcUrl` after the start-up checks (chain id, code at every address). */
export async function openChain(rpcUrl: string, deployment: Deployment, deploymentFile: string): Promise<OperatorChain> {
  const provider = await providerFor(rpcUrl, BigInt(deployment.chainId));
  try {
    await checkDeploymentOnChain(provider, deployment, { rpcUrl, deploymentFile });
  } catch (error) {
    provider.destroy();
    throw error;
  }
  return chainOf(provider, deployment);
}

/** The error with its revert decoded from the call's revert data when ethers did not (a raw estimate). */
function withRevert(error: unknown, contract: Contract): unknown {
  const data = (error as { data?: unknown }).data;
  if ((error as { revert?: unknown }).revert || typeof data !== "string") return error;
  try {
    const parsed = contract.interface.parseError(data);
    return parsed ? Object.assign(error as object, { revert: { name: parsed.name, args: [...parsed.args] } }) : error;
  } catch {
    return error;
  }
}

/** A revert's custom error as "Name(arg, …)", decoded with the contract's ABI. */
function revertOf(error: unknown): string | undefined {
  const revert = (error as { revert?: { name?: string; args?: unknown[] } }).revert;
  if (!revert?.name) return undefined;
  return `${revert.name}(${(revert.args ?? []).map(String).join(", ")})`;
}

/**
 * Sends `method(...args)` on `contract` as `actor`, waits for the receipt and returns the outcome. A
 * revert (at estimation or mined) is TX_REVERTED with the decoded custom error; a key without gas
 * money is INSUFFICIENT_FUNDS.
 */
export async function sendAs(actor: Actor, contract: Contract, method: string, args: unknown[], summary: string, overrides: Record<string, unknown> = {}): Promise<ActionResult> {
  let receipt: TransactionReceipt | null;
  let hash: string | undefined;
  try {
    if (actor.send) {
      receipt = await actor.send({ to: await contract.getAddress(), data: contract.interface.encodeFunctionData(method, args), what: method });
      hash = receipt?.hash;
      if (receipt && receipt.status !== 1) throw new SettlenetError("TX_REVERTED", `${method} reverted (tx ${receipt.hash})`, { txHash: receipt.hash });
    } else {
      const connected = contract.connect(actor.signer) as Contract;
      const tx = (await connected.getFunction(method)(...args, overrides)) as { hash: string; wait(): Promise<TransactionReceipt | null> };
      hash = tx.hash;
      receipt = await tx.wait();
    }
  } catch (error) {
    if (error instanceof SettlenetError) throw error;
    throw sendError(withRevert(error, contract), actor, `${method}`, hash);
  }
  if (!receipt) throw new SettlenetError("TX_DROPPED", `${method}: transaction ${hash} was dropped`, { txHash: hash });
  return { changed: true, summary, txHash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed.toString() };
}

/** Sends native currency from `actor` to `to`. */
export async function sendValue(actor: Actor, to: string, value: bigint, summary: string): Promise<ActionResult> {
  let hash: string | undefined;
  try {
    const tx = await actor.signer.sendTransaction({ to, value });
    hash = tx.hash;
    const receipt = await tx.wait();
    if (!receipt) throw new SettlenetError("TX_DROPPED", `transfer to ${to}: transaction ${hash} was dropped`, { txHash: hash });
    return { changed: true, summary, txHash: receipt.hash, blockNumber: receipt.blockNumber, gasUsed: receipt.gasUsed.toString() };
  } catch (error) {
    if (error instanceof SettlenetError) throw error;
    throw sendError(error, actor, "transfer", hash);
  }
}

function sendError(error: unknown, actor: Actor, what: string, hash: string | undefined): SettlenetError {
  const code = (error as { code?: string }).code;
  if (code === "INSUFFICIENT_FUNDS") {
    return new SettlenetError("INSUFFICIENT_FUNDS", `${actor.address} cannot pay the gas of ${what}: fund it first (settlenet fund --to ${actor.address})`, { account: actor.address }, { cause: error });
  }
  const revert = revertOf(error);
  if (revert) return new SettlenetError("TX_REVERTED", `${what} reverted with ${revert}${hash ? ` (tx ${hash})` : ""}`, { revert, ...(hash ? { txHash: hash } : {}) }, { cause: error });
  const message = rpcAnswerOf(error) ?? (error as { shortMessage?: string }).shortMessage ?? (error as Error).message;
  return new SettlenetError("TX_FAILED", `${what} failed: ${message}${hash ? ` (tx ${hash})` : ""}`, hash ? { txHash: hash } : {}, { cause: error });
}

/**
 * The chain node's own answer when ethers could not classify it (UNKNOWN_ERROR, "could not coalesce
 * error", which alone says nothing): the JSON-RPC method and the error's code and message.
 */
function rpcAnswerOf(error: unknown): string | undefined {
  const { code, error: answer, payload } = error as { code?: string; error?: { code?: unknown; message?: unknown }; payload?: { method?: unknown } };
  if (code !== "UNKNOWN_ERROR" || answer === undefined) return undefined;
  return `the chain answered ${String(payload?.method ?? "a request")} with error ${String(answer.code)}: ${String(answer.message)}`;
}

/** The result of an action that was already done. */
export function unchanged(summary: string): ActionResult {
  return { changed: false, summary };
}

/** One line for a result: what happened and, for a transaction, where it was mined. */
export function describeResult(result: ActionResult): string {
  if (!result.changed) return `${result.summary}: already done, nothing changed`;
  if (!result.txHash) return result.summary;
  return `${result.summary}: tx ${result.txHash} mined in block ${result.blockNumber} (success, gas ${result.gasUsed})`;
}
