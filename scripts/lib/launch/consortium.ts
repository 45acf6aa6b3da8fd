/**
 * Deploys Settlenet on a fresh local chain and onboards a consortium: institutions (the first is the
 * CNY custodian and acquires the merchants), one regulator, one arbiter, the merchants and the payers
 * (customers spread over the institutions, funded with CNY against attested reserves and with a permit
 * allowance to the escrow; they never send a transaction themselves). The institutions, regulator,
 * arbiter and fee receiver are accounts of Hardhat's public development mnemonic: this is a local
 * network, never a production one.
 */
import {
  Contract,
  HDNodeWallet,
  Mnemonic,
  NonceManager,
  Wallet,
  ZeroAddress,
  encodeBytes32String,
  keccak256,
  parseEther,
  toUtf8Bytes,
  type JsonRpcProvider,
  type Signer,
} from "ethers";

import type { ParticipantRegistry, PaymentEscrow, SettlementLedger, SettlementToken } from "../../../types/ethers-contracts/index.js";
import { checkDeploymentOnChain } from "../../../core/chain/startup.js";
import { SettlenetError } from "../../../core/errors.js";
import { loadArtifact, type ContractName } from "../../../core/protocol/artifacts.js";
import type { Deployment } from "../../../core/protocol/deployment.js";
import { setArbiter } from "../../operator/arbiter.js";
import { actorOf, chainOf, type ActionResult, type Actor, type OperatorChain } from "../../../core/operator/chain.js";
import { setCustodian, setCustodianKey } from "../../operator/custodian.js";
import { registerCustomer } from "../../../core/operator/customer.js";
import { fund } from "../../operator/fund.js";
import { registerOperator, setOwnPeerId, type OperatorRole } from "../../operator/institution.js";
import { registerMerchant } from "../../../core/operator/merchant.js";
import { attestReserves, setReserveAttestor } from "../../operator/reserves.js";
import { mint, permit } from "../../operator/token.js";
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
  /** The CNY custodian's independent reserve attestor (locally the bank simulator signs with it). */
  reserveAttestor: () => devKey(0, 14),
  /** The CNY custodian's custodian key, apart from institution 1's operator key: it only signs (the node relays). */
  custodian: () => devKey(3, 0),
  merchant: (i: number) => devKey(2, i),
  payer: (i: number) => devKey(1, i),
};

/** A key that signs typed data (payers sign their permit; nothing else). */
type TypedDataSigner = Pick<Wallet, "address" | "signTypedData">;

/** Native currency each key that sends transactions is topped up to (institutions relay and attest). */
export const SENDER_FUNDS = parseEther("10");
/** … and keys that normally only sign (regulator, arbiter), for the odd direct transaction. */
export const SIGNER_FUNDS = parseEther("1");

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
  /** The governance key (default the development mnemonic's first account); it pays for everything it funds. */
  governance?: Wallet | HDNodeWallet;
  /** Reuse this deployment (checked on the chain) instead of deploying. */
  deployment?: Deployment;
  /** Further accounts to fund from the governance key (e.g. the gateway's permit relayer). */
  fund?: { address: string; minimum: bigint }[];
  /** The custodian's reserve attestor (default the development account DEV_ACCOUNTS.reserveAttestor). */
  reserveAttestor?: Wallet | HDNodeWallet;
  /** Give the custodian institution this custodian key once the payers are funded (absent: its operator key mints and burns). */
  custodianKey?: string;
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

/** Registers an operator; one registered before with another peer id (a reused deployment, new node keys) takes the new one with its own key. */
async function ensureOperator(chain: OperatorChain, governance: Actor, role: OperatorRole, key: Actor, params: { address: string; peerId: string; name: string }): Promise<ActionResult> {
  try {
    return await registerOperator(chain, governance, role, params);
  } catch (error) {
    if (!(error instanceof SettlenetError && error.code === "PEER_ID_DIFFERS")) throw error;
    return setOwnPeerId(chain, key, role, params.peerId);
  }
}

/**
 * Deploys (or reuses a deployment) and onboards the consortium with the operator commands' code
 * (scripts/operator/): every step checks first and is skipped when already done, so it can run again
 * on the same chain. Independent transactions of a step are sent together (each key's nonces are
 * counted locally), so a chain with real block times spends a block per step, not per transaction.
 */
export async function onboardConsortium(provider: JsonRpcProvider, options: OnboardingOptions): Promise<OnboardedConsortium> {
  const step = options.onStep ?? (() => undefined);
  const admin = await actorOf(new NonceManager((options.governance ?? DEV_ACCOUNTS.admin()).connect(provider)));
  const institutionKeys = options.institutionPeerIds.map((_, i) => DEV_ACCOUNTS.institution(i).connect(provider));
  const institutions = await Promise.all(institutionKeys.map((key) => actorOf(key)));
  const regulatorKey = DEV_ACCOUNTS.regulator().connect(provider);
  const attestorKey = (options.reserveAttestor ?? DEV_ACCOUNTS.reserveAttestor()).connect(provider);
  const acquirer = institutions[0];
  if (!acquirer) throw new Error("at least one institution is needed");

  let deployment = options.deployment;
  let deployed: DeployedContracts | undefined;
  if (deployment) {
    await checkDeploymentOnChain(provider, deployment, { rpcUrl: "the chain", deploymentFile: "the reused deployment" });
    step("deployment reused");
  } else {
    ({ deployment, contracts: deployed } = await deploySettlenet(admin.signer, { feeReceiver: DEV_ACCOUNTS.feeReceiver().address, maxFeeBps: 300 }));
    step("contracts deployed");
  }
  const chain = chainOf(provider, deployment);
  const contracts = deployed ?? contractsOf(deployment, admin.signer);

  await settled([
    ...institutions.map((institution) => fund(chain, admin, { to: institution.address, minimum: SENDER_FUNDS })),
    ...[regulatorKey.address, DEV_ACCOUNTS.arbiter().address, attestorKey.address].map((to) => fund(chain, admin, { to, minimum: SIGNER_FUNDS })),
    ...(options.fund ?? []).map((f) => fund(chain, admin, { to: f.address, minimum: f.minimum })),
  ]);
  step("operators' keys funded from the governance key");

  await settled([
    ...institutions.map((institution, i) => ensureOperator(chain, admin, "institution", institution, { address: institution.address, peerId: options.institutionPeerIds[i] ?? "", name: `Bank ${i + 1}` })),
    ensureOperator(chain, admin, "regulator", await actorOf(regulatorKey), { address: regulatorKey.address, peerId: options.regulatorPeerId, name: "Regulator" }),
    setArbiter(chain, admin, DEV_ACCOUNTS.arbiter().address, true),
  ]);
  step("institutions, regulator and arbiter registered");

  await settled([
    ...options.merchants.map((merchant) => registerMerchant(chain, acquirer, { address: merchant.address, kycLevel: 2, feeBps: options.merchantFeeBps, payoutAccount: merchant.account })),
    ...options.payers.map((payer, i) => registerCustomer(chain, institutions[i % institutions.length] ?? acquirer, { address: payer.address, kycLevel: 1 })),
    setCustodian(chain, admin, { institution: acquirer.address, symbol: "CNY", custodian: true }),
    setReserveAttestor(chain, admin, { institution: acquirer.address, attestor: attestorKey.address }),
  ]);
  step("merchants and customers onboarded, custodian and its reserve attestor set");

  const attestedReserves = options.payerFunds * BigInt(options.payers.length + 1);
  await attestReserves(chain, await actorOf(attestorKey), { symbol: "CNY", custodian: acquirer.address, amount: attestedReserves, statementHash: encodeBytes32String("reserves-0") });
  // A reused deployment whose custodian already mints with its custodian key (set by an earlier
  // onboarding): that key mints here too, since the operator key no longer may.
  const custodianKeyNow = (await chain.registry.getFunction("custodianKeyOf")(acquirer.address)) as string;
  let minter = acquirer;
  if (custodianKeyNow !== ZeroAddress) {
    const devKey = DEV_ACCOUNTS.custodian();
    if (custodianKeyNow.toLowerCase() !== devKey.address.toLowerCase()) {
      throw new SettlenetError("CUSTODIAN_KEY_UNKNOWN", `${acquirer.address} mints with custodian key ${custodianKeyNow}, which this launcher does not hold`, { custodianKey: custodianKeyNow });
    }
    await fund(chain, admin, { to: devKey.address, minimum: SIGNER_FUNDS });
    minter = await actorOf(devKey.connect(provider));
  }
  await settled([
    ...options.payers.map((payer, i) => mint(chain, minter, { symbol: "CNY", to: payer.address, amount: options.payerFunds, bankRef: encodeBytes32String(`deposit-${i}`) })),
    ...options.payers.map((payer) => permit(chain, admin, { symbol: "CNY", owner: payer })),
  ]);
  step(`${options.payers.length} payers onboarded and funded`);
  if (options.custodianKey) {
    await setCustodianKey(chain, admin, { institution: acquirer.address, key: options.custodianKey });
    step("the custodian's own custodian key set (its operator key no longer mints or burns)");
  }
  return { deployment, contracts, attestedReserves };
}

/**
 * Waits for every action of a step, then throws the first failure: nothing of a failed step is still
 * being sent when the caller moves on (its keys' nonces stay counted right).
 */
async function settled(actions: Promise<ActionResult>[]): Promise<ActionResult[]> {
  const outcomes = await Promise.allSettled(actions);
  const failed = outcomes.find((o): o is PromiseRejectedResult => o.status === "rejected");
  if (failed) throw failed.reason;
  return outcomes.map((o) => (o as PromiseFulfilledResult<ActionResult>).value);
}

/** The deployment's contracts as typed bindings, connected to `signer`. */
function contractsOf(deployment: Deployment, signer: Signer): DeployedContracts {
  const bind = <T>(name: ContractName, address: string) => new Contract(address, loadArtifact(name).abi, signer) as unknown as T;
  return {
    registry: bind<ParticipantRegistry>("ParticipantRegistry", deployment.contracts.registry),
    escrow: bind<PaymentEscrow>("PaymentEscrow", deployment.contracts.escrow),
    ledger: bind<SettlementLedger>("SettlementLedger", deployment.contracts.ledger),
    tokens: Object.fromEntries(Object.entries(deployment.tokens).map(([symbol, token]) => [symbol, bind<SettlementToken>("SettlementToken", token.address)])),
  };
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
  /** Onboard into this deployment (checked on the chain) instead of deploying. */
  deployment?: Deployment;
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
    // The gateway's permit relayer pays gas: a chain that does not prefund it gets it from governance.
    fund: [{ address: DEV_ACCOUNTS.permitRelayer().address, minimum: SENDER_FUNDS }],
    custodianKey: DEV_ACCOUNTS.custodian().address,
    ...(options.deployment ? { deployment: options.deployment } : {}),
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
  /** Further accounts to fund from the governance key (keys a test sends transactions with). */
  fund?: { address: string; minimum: bigint }[];
  /** Give institution 0 this custodian key once the payers are funded (absent: its operator key mints). */
  custodianKey?: string;
}

export interface Scenario {
  chain: LocalChain;
  deployment: Deployment;
  contracts: DeployedContracts;
  admin: Wallet | HDNodeWallet;
  institutions: HDNodeWallet[];
  regulator: HDNodeWallet;
  arbiter: HDNodeWallet;
  /** Institution 0's reserve attestor. */
  reserveAttestor: HDNodeWallet;
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
    ...(options.fund ? { fund: options.fund } : {}),
    ...(options.custodianKey ? { custodianKey: options.custodianKey } : {}),
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
    reserveAttestor: devWallet(14, provider),
    merchants,
    payers,
    feeReceiver: devWallet(12).address,
    token,
  };
}
