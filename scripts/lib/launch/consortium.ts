/**
 * Deploys Settlenet on a fresh local chain and onboards a consortium: institutions (the first is the
 * CNY custodian and acquires the merchants), one regulator, one arbiter, the merchants and the payers
 * (customers spread over the institutions, funded with CNY against attested reserves and with a permit
 * allowance to the escrow; they never send a transaction themselves). The institutions, regulator,
 * arbiter and fee receiver are accounts of Hardhat's public development mnemonic: this is a local
 * network, never a production one.
 */
import {
  HDNodeWallet,
  Mnemonic,
  NonceManager,
  Signature,
  Wallet,
  encodeBytes32String,
  keccak256,
  toUtf8Bytes,
  type Contract,
  type JsonRpcProvider,
  type Signer,
} from "ethers";

import type { ParticipantRegistry, SettlementToken } from "../../../types/ethers-contracts/index.js";
import type { Deployment } from "../../../core/protocol/deployment.js";
import { tokenDomain } from "../../../core/protocol/eip712.js";
import { deploySettlenet, type DeployedContracts } from "../deploy.js";
import type { LocalChain } from "./chain.js";

/** Hardhat's default development mnemonic: the funded accounts of the local chain. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/** A key derived from the development mnemonic: account `index` of BIP-44 account `account`. */
export function devKey(account: number, index: number): HDNodeWallet {
  return HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/${account}'/0/${index}`);
}

/** Funded account `index` of the local chain, connected to `provider` if given. */
export function devWallet(index: number, provider?: JsonRpcProvider): HDNodeWallet {
  const wallet = devKey(0, index);
  return provider ? wallet.connect(provider) : wallet;
}

/** Dev account roles (BIP-44 account 0 holds the chain's funded accounts). */
export const DEV_ACCOUNTS = {
  admin: () => devKey(0, 0),
  institution: (i: number) => devKey(0, 1 + i),
  regulator: () => devKey(0, 10),
  arbiter: () => devKey(0, 11),
  feeReceiver: () => devKey(0, 12),
  /** Pays the gas of merchants' ERC-2612 permits the gateway submits (no role on-chain). */
  permitRelayer: () => devKey(0, 13),
  merchant: (i: number) => devKey(2, i),
  payer: (i: number) => devKey(1, i),
};

/** A key that signs typed data (payers sign their permit; nothing else). */
type TypedDataSigner = Pick<Wallet, "address" | "signTypedData">;

export interface OnboardingOptions {
  /** One libp2p peer id per institution (dev accounts 1..n), registered with it. */
  institutionPeerIds: string[];
  regulatorPeerId: string;
  /** `account`: the bytes32 reference of the merchant's bank account (for payouts). */
  merchants: { address: string; account: string }[];
  payers: TypedDataSigner[];
  /** CNY minted to each payer, in minor units. */
  payerFunds: bigint;
  merchantFeeBps: number;
  /** Called after each step, for progress output. */
  onStep?: (step: string) => void;
}

export interface OnboardedConsortium {
  deployment: Deployment;
  /** The contracts, connected to the admin (governance) key. */
  contracts: DeployedContracts;
  /** CNY reserves the custodian attested (minor units). */
  attestedReserves: bigint;
}

const MAX_UINT = (1n << 256n) - 1n;

/** Deploys and onboards the consortium; every transaction is awaited, so the chain is ready when it returns. */
export async function onboardConsortium(provider: JsonRpcProvider, options: OnboardingOptions): Promise<OnboardedConsortium> {
  const step = options.onStep ?? (() => undefined);
  const admin = new NonceManager(DEV_ACCOUNTS.admin().connect(provider));
  const institutions = options.institutionPeerIds.map((_, i) => DEV_ACCOUNTS.institution(i).connect(provider));
  const acquirer = institutions[0];
  if (!acquirer) throw new Error("at least one institution is needed");
  const { deployment, contracts } = await deploySettlenet(admin as unknown as Signer, { feeReceiver: DEV_ACCOUNTS.feeReceiver().address, maxFeeBps: 300 });
  step("contracts deployed");
  const { registry } = contracts;
  const token = contracts.tokens["CNY"];
  const tokenEntry = deployment.tokens["CNY"];
  if (!token || !tokenEntry) throw new Error("the CNY token was not deployed");
  const as = <T>(contract: T, signer: Signer) => (contract as unknown as Contract).connect(signer) as unknown as T;
  const send = async (tx: Promise<{ wait(): Promise<unknown> }>) => {
    await (await tx).wait();
  };

  for (const [i, institution] of institutions.entries()) {
    await send(registry.registerInstitution(institution.address, options.institutionPeerIds[i] ?? "", `Bank ${i + 1}`));
  }
  await send(registry.registerRegulator(DEV_ACCOUNTS.regulator().address, options.regulatorPeerId, "Regulator"));
  await send(registry.grantRole(await registry.ARBITER_ROLE(), DEV_ACCOUNTS.arbiter().address));
  step("institutions, regulator and arbiter registered");

  for (const merchant of options.merchants) {
    await send(as<ParticipantRegistry>(registry, acquirer).registerMerchant(merchant.address, 2, options.merchantFeeBps, merchant.account));
  }
  step("merchants onboarded");

  const attestedReserves = options.payerFunds * BigInt(options.payers.length + 1);
  const custodian = as<SettlementToken>(token, acquirer);
  await send(token.setCustodian(acquirer.address, true));
  await send(custodian.attestReserves(attestedReserves, encodeBytes32String("reserves-0")));
  const { chainId } = await provider.getNetwork();
  for (const [i, payer] of options.payers.entries()) {
    const institution = institutions[i % institutions.length];
    if (!institution) throw new Error("no institution");
    await send(as<ParticipantRegistry>(registry, institution).registerCustomer(payer.address, 1));
    await send(custodian.mint(payer.address, options.payerFunds, encodeBytes32String(`deposit-${i}`)));
    const deadline = BigInt((await provider.getBlock("latest"))?.timestamp ?? 0) + 3600n;
    const signature = await payer.signTypedData(
      tokenDomain(chainId, tokenEntry.address, tokenEntry.name),
      {
        Permit: [
          { name: "owner", type: "address" },
          { name: "spender", type: "address" },
          { name: "value", type: "uint256" },
          { name: "nonce", type: "uint256" },
          { name: "deadline", type: "uint256" },
        ],
      },
      { owner: payer.address, spender: deployment.contracts.escrow, value: MAX_UINT, nonce: 0n, deadline },
    );
    const { v, r, s } = Signature.from(signature);
    await send(token.permit(payer.address, deployment.contracts.escrow, MAX_UINT, deadline, v, r, s));
  }
  step(`${options.payers.length} payers onboarded and funded`);
  return { deployment, contracts, attestedReserves };
}

// ------------------------------------------------------------------ the local network (npm start)

export interface ConsortiumOptions {
  institutionPeerIds: string[];
  regulatorPeerId: string;
  /** `payoutAccount`: the bank account text payouts go to (its keccak256 is registered on-chain). */
  merchants: { name: string; payoutAccount: string }[];
  payers: number;
  /** CNY minted to each payer, in minor units. */
  payerFunds: bigint;
  merchantFeeBps: number;
  onStep?: (step: string) => void;
}

/** The local network's consortium: merchants and payers are dev accounts too, so network.json can name them again after a restart. */
export async function provisionConsortium(provider: JsonRpcProvider, options: ConsortiumOptions): Promise<Omit<OnboardedConsortium, "contracts">> {
  const { deployment, attestedReserves } = await onboardConsortium(provider, {
    institutionPeerIds: options.institutionPeerIds,
    regulatorPeerId: options.regulatorPeerId,
    merchants: options.merchants.map((merchant, i) => ({ address: DEV_ACCOUNTS.merchant(i).address, account: keccak256(toUtf8Bytes(merchant.payoutAccount)) })),
    payers: Array.from({ length: options.payers }, (_, i) => DEV_ACCOUNTS.payer(i)),
    payerFunds: options.payerFunds,
    merchantFeeBps: options.merchantFeeBps,
    ...(options.onStep ? { onStep: options.onStep } : {}),
  });
  return { deployment, attestedReserves };
}

// ------------------------------------------------------------------ test and benchmark scenarios

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
 * The consortium of the tests and benchmarks: 3 institutions unless told otherwise, 2 merchants and 4
 * payers by default, merchants and payers fresh random wallets whose keys the caller holds.
 */
export async function deployScenario(chain: LocalChain, options: ScenarioOptions = {}): Promise<Scenario> {
  const { provider } = chain;
  const nInstitutions = options.institutions ?? 3;
  const merchants = Array.from({ length: options.merchants ?? 2 }, () => Wallet.createRandom(provider));
  const payers = Array.from({ length: options.payers ?? 4 }, () => Wallet.createRandom(provider));
  const { deployment, contracts } = await onboardConsortium(provider, {
    institutionPeerIds: Array.from({ length: nInstitutions }, (_, i) => options.institutionPeerIds?.[i] ?? `placeholder-peer-${i}`),
    regulatorPeerId: options.regulatorPeerId ?? "placeholder-regulator",
    merchants: merchants.map((merchant, i) => ({ address: merchant.address, account: encodeBytes32String(`merchant-${i}`) })),
    payers,
    payerFunds: options.payerFunds ?? 10_000_000n,
    merchantFeeBps: options.merchantFeeBps ?? 100,
  });
  const token = contracts.tokens["CNY"];
  if (!token) throw new Error("CNY token missing");
  return {
    chain,
    deployment,
    contracts,
    admin: devWallet(0, provider),
    institutions: Array.from({ length: nInstitutions }, (_, i) => devWallet(1 + i, provider)),
    regulator: devWallet(10, provider),
    arbiter: devWallet(11, provider),
    merchants,
    payers,
    feeReceiver: devWallet(12).address,
    token,
  };
}
