/**
 * A local chain served over JSON-RPC on 127.0.0.1 (Hardhat's EDR), and a deployed Settlenet scenario
 * on it whose every actor's private key is known, for node, gateway and end-to-end tests.
 */
import { network } from "hardhat";
import type {
  Contract} from "ethers";
import {
  HDNodeWallet,
  JsonRpcProvider,
  Mnemonic,
  NonceManager,
  Signature,
  Wallet,
  encodeBytes32String,
  type Signer,
} from "ethers";

import type { ParticipantRegistry, SettlementToken } from "../../types/ethers-contracts/index.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { tokenDomain } from "../../core/protocol/eip712.js";
import { deploySettlenet, type DeployedContracts } from "../../scripts/lib/deploy.js";

/** Hardhat's default development mnemonic: the funded accounts of the local chain. */
const DEV_MNEMONIC = "test test test test test test test test test test test junk";

export function devWallet(index: number, provider?: JsonRpcProvider): HDNodeWallet {
  const wallet = HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/0'/0/${index}`);
  return provider ? wallet.connect(provider) : wallet;
}

export interface LocalChain {
  url: string;
  provider: JsonRpcProvider;
  close(): Promise<void>;
}

/** Starts an EDR JSON-RPC server on an ephemeral loopback port. */
export async function startChain(): Promise<LocalChain> {
  const server = await network.createServer("default", "127.0.0.1", 0);
  const { address, port } = await server.listen();
  const url = `http://${address}:${port}`;
  const provider = new JsonRpcProvider(url, undefined, { pollingInterval: 100, cacheTimeout: -1 });
  return {
    url,
    provider,
    async close() {
      provider.destroy();
      await server.close();
    },
  };
}

export interface ScenarioOptions {
  institutions?: number;
  merchants?: number;
  payers?: number;
  /** libp2p peer ids for the institutions' nodes (defaults to placeholders). */
  institutionPeerIds?: string[];
  regulatorPeerId?: string;
  payerFunds?: bigint;
  merchantFeeBps?: number;
}

export interface Scenario {
  chain: LocalChain;
  deployment: Deployment;
  contracts: DeployedContracts;
  admin: Wallet | HDNodeWallet;
  institutions: HDNodeWallet[];
  regulator: HDNodeWallet;
  arbiter: HDNodeWallet;
  merchants: (Wallet | HDNodeWallet)[];
  payers: (Wallet | HDNodeWallet)[];
  feeReceiver: string;
  token: SettlementToken;
}

/**
 * Deploys Settlenet and onboards: institutions (dev accounts 1..n; the first is the CNY custodian),
 * a regulator, an arbiter, merchants (onboarded by institution 0) and payers (customers of
 * institution i mod n) funded with CNY and with a permit allowance to the escrow. Merchants and payers
 * are fresh random wallets that never send transactions themselves (everything they do is signed).
 */
export async function deployScenario(chain: LocalChain, options: ScenarioOptions = {}): Promise<Scenario> {
  const { provider } = chain;
  const nInstitutions = options.institutions ?? 3;
  const admin = new NonceManager(devWallet(0, provider));
  const institutions = Array.from({ length: nInstitutions }, (_, i) => devWallet(1 + i, provider));
  const regulator = devWallet(10, provider);
  const arbiter = devWallet(11, provider);
  const feeReceiver = devWallet(12).address;
  const { deployment, contracts } = await deploySettlenet(admin as unknown as Signer, { feeReceiver, maxFeeBps: 300 });
  const registry = contracts.registry;
  const token = contracts.tokens["CNY"];
  if (!token) throw new Error("CNY token missing");
  const send = async (p: Promise<{ wait(): Promise<unknown> }>) => (await p).wait();
  const as = <T>(c: T, s: Signer) => (c as unknown as Contract).connect(s) as unknown as T;

  for (const [i, inst] of institutions.entries()) {
    const peerId = options.institutionPeerIds?.[i] ?? `placeholder-peer-${i}`;
    await send(registry.registerInstitution(inst.address, peerId, `Bank ${i + 1}`));
  }
  await send(registry.registerRegulator(regulator.address, options.regulatorPeerId ?? "placeholder-regulator", "Regulator"));
  await send(registry.grantRole(await registry.ARBITER_ROLE(), arbiter.address));

  const acquirer = institutions[0];
  if (!acquirer) throw new Error("at least one institution is needed");
  const merchants = Array.from({ length: options.merchants ?? 2 }, () => Wallet.createRandom(provider));
  for (const [i, merchant] of merchants.entries()) {
    await send(as<ParticipantRegistry>(registry, acquirer).registerMerchant(merchant.address, 2, options.merchantFeeBps ?? 100, encodeBytes32String(`merchant-${i}`)));
  }

  const payerFunds = options.payerFunds ?? 10_000_000n;
  const payers = Array.from({ length: options.payers ?? 4 }, () => Wallet.createRandom(provider));
  const custodian = as<SettlementToken>(token, acquirer);
  await send(token.setCustodian(acquirer.address, true));
  await send(custodian.attestReserves(payerFunds * BigInt(payers.length + 1), encodeBytes32String("reserves-0")));
  const { chainId } = await provider.getNetwork();
  const tokenAddress = await token.getAddress();
  const escrow = await contracts.escrow.getAddress();
  const maxUint = (1n << 256n) - 1n;
  for (const [i, payer] of payers.entries()) {
    const institution = institutions[i % institutions.length];
    if (!institution) throw new Error("no institution");
    await send(as<ParticipantRegistry>(registry, institution).registerCustomer(payer.address, 1));
    await send(custodian.mint(payer.address, payerFunds, encodeBytes32String(`deposit-${i}`)));
    const deadline = BigInt((await provider.getBlock("latest"))?.timestamp ?? 0) + 3600n;
    const signature = await payer.signTypedData(
      tokenDomain(chainId, tokenAddress, "Settlenet CNY"),
      { Permit: [
        { name: "owner", type: "address" }, { name: "spender", type: "address" }, { name: "value", type: "uint256" },
        { name: "nonce", type: "uint256" }, { name: "deadline", type: "uint256" },
      ] },
      { owner: payer.address, spender: escrow, value: maxUint, nonce: 0n, deadline },
    );
    const { v, r, s: sigS } = Signature.from(signature);
    await send(token.permit(payer.address, escrow, maxUint, deadline, v, r, sigS));
  }
  return { chain, deployment, contracts, admin: devWallet(0, provider), institutions, regulator, arbiter, merchants, payers, feeReceiver, token };
}
