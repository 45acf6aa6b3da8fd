/**
 * Deploys and wires the four Settlenet contracts with any ethers signer (local EDR chain or a
 * production JSON-RPC endpoint) and returns the deployment description nodes and the gateway read.
 */
import { ContractFactory, type Contract, type Signer } from "ethers";

import type {
  ParticipantRegistry,
  PaymentEscrow,
  SettlementLedger,
  SettlementToken,
} from "../../types/ethers-contracts/index.js";

import { loadArtifact, type ContractName } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";

export interface TokenSpec {
  symbol: string;
  name: string;
}

export interface DeployOptions {
  /** Consortium governance account; defaults to the deployer. */
  admin?: string;
  /** Where escrow fees go; defaults to the admin. */
  feeReceiver?: string;
  /** Highest merchant fee in basis points. */
  maxFeeBps?: number;
  /** Settlement tokens to deploy, one per currency. */
  tokens?: TokenSpec[];
}

export interface DeployedContracts {
  registry: ParticipantRegistry;
  escrow: PaymentEscrow;
  ledger: SettlementLedger;
  tokens: Record<string, SettlementToken>;
}

// Types come from the TypeChain bindings `hardhat build` generates; at run time these are plain ethers Contracts.
async function deployContract<T>(signer: Signer, name: ContractName, args: unknown[]): Promise<T> {
  const { abi, bytecode } = loadArtifact(name);
  const contract = await new ContractFactory(abi, bytecode, signer).deploy(...args);
  await contract.waitForDeployment();
  return contract as unknown as T;
}

async function send(contract: unknown, method: string, ...args: unknown[]): Promise<void> {
  const fn = (contract as Contract).getFunction(method);
  const tx = (await fn(...args)) as { wait: () => Promise<unknown> };
  await tx.wait();
}

export async function deploySettlenet(
  signer: Signer,
  options: DeployOptions = {},
): Promise<{ deployment: Deployment; contracts: DeployedContracts }> {
  const provider = signer.provider;
  if (!provider) throw new Error("the deployer signer needs a provider");
  const deployer = await signer.getAddress();
  const admin = options.admin ?? deployer;
  const feeReceiver = options.feeReceiver ?? admin;
  const tokenSpecs = options.tokens ?? [{ symbol: "CNY", name: "Settlenet CNY" }];
  const { chainId } = await provider.getNetwork();
  const deploymentBlock = await provider.getBlockNumber();

  // The deployer administers the registry while wiring, then hands over to `admin`.
  const registry = await deployContract<ParticipantRegistry>(signer, "ParticipantRegistry", [deployer, options.maxFeeBps ?? 300]);
  const registryAddress = await registry.getAddress();

  // Tokens first: the registry pushes each account's permission to the tokens registered when it admits the
  // account (a token registered later looks up older accounts once, on their first transfer).
  const tokens: Record<string, SettlementToken> = {};
  const tokenEntries: Deployment["tokens"] = {};
  for (const spec of tokenSpecs) {
    const token = await deployContract<SettlementToken>(signer, "SettlementToken", [registryAddress, spec.name, spec.symbol]);
    await send(registry, "registerSettlementToken", await token.getAddress());
    tokens[spec.symbol] = token;
    tokenEntries[spec.symbol] = { address: await token.getAddress(), symbol: spec.symbol, name: spec.name, decimals: 2 };
  }

  // The escrow's fee receiver is fixed at deployment and must already be a registered account.
  await send(registry, "registerProtocolAccount", feeReceiver);
  const escrow = await deployContract<PaymentEscrow>(signer, "PaymentEscrow", [registryAddress, feeReceiver]);
  const ledger = await deployContract<SettlementLedger>(signer, "SettlementLedger", [registryAddress]);
  await send(registry, "registerProtocolAccount", await escrow.getAddress());
  await send(registry, "registerProtocolAccount", await ledger.getAddress());
  // Unlimited allowances to the escrow are then kept in the payers' balance slots (one read less per pay).
  for (const token of Object.values(tokens)) await send(token, "setEscrow", await escrow.getAddress());

  if (admin.toLowerCase() !== deployer.toLowerCase()) {
    await send(registry, "grantRole", "0x" + "00".repeat(32), admin);
    await send(registry, "renounceRole", "0x" + "00".repeat(32), deployer);
  }

  const deployment: Deployment = {
    chainId: chainId.toString(),
    deploymentBlock,
    deployer,
    contracts: { registry: registryAddress, escrow: await escrow.getAddress(), ledger: await ledger.getAddress() },
    tokens: tokenEntries,
    feeReceiver,
  };
  return { deployment, contracts: { registry, escrow, ledger, tokens } };
}
