/**
 * Provisions the local development consortium on a fresh chain: deploys the contracts and onboards
 * three institutions (the first is the CNY custodian and acquires the merchants), one regulator, one
 * arbiter, the merchants and the payers (customers spread over the institutions, funded with CNY
 * against attested reserves and with a permit allowance to the escrow). Every key is derived from
 * Hardhat's public development mnemonic: this is a local network, never a production one.
 */
import {
  Contract,
  HDNodeWallet,
  Mnemonic,
  NonceManager,
  Signature,
  encodeBytes32String,
  keccak256,
  toUtf8Bytes,
  type JsonRpcProvider,
  type Signer,
} from "ethers";

import { loadArtifact } from "../../../core/protocol/artifacts.js";
import type { Deployment } from "../../../core/protocol/deployment.js";
import { tokenDomain } from "../../../core/protocol/eip712.js";
import { deploySettlenet } from "../deploy.js";

/** Hardhat's default development mnemonic: the funded accounts of the local chain. */
export const DEV_MNEMONIC = "test test test test test test test test test test test junk";

/** A key derived from the development mnemonic: account `index` of BIP-44 account `account`. */
export function devKey(account: number, index: number): HDNodeWallet {
  return HDNodeWallet.fromMnemonic(Mnemonic.fromPhrase(DEV_MNEMONIC), `m/44'/60'/${account}'/0/${index}`);
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

export interface ConsortiumOptions {
  institutionPeerIds: string[];
  regulatorPeerId: string;
  /** `payoutAccount`: the bank account text payouts go to (its keccak256 is registered on-chain). */
  merchants: { name: string; payoutAccount: string }[];
  payers: number;
  /** CNY minted to each payer, in minor units. */
  payerFunds: bigint;
  merchantFeeBps: number;
  /** Called after each step, for progress output. */
  onStep?: (step: string) => void;
}

export interface ProvisionedConsortium {
  deployment: Deployment;
  /** CNY reserves the custodian attested (minor units). */
  attestedReserves: bigint;
}

const MAX_UINT = (1n << 256n) - 1n;

/** Deploys and onboards the consortium; every transaction is awaited, so the chain is ready when it returns. */
export async function provisionConsortium(provider: JsonRpcProvider, options: ConsortiumOptions): Promise<ProvisionedConsortium> {
  const step = options.onStep ?? (() => undefined);
  const admin = new NonceManager(DEV_ACCOUNTS.admin().connect(provider));
  const institutions = options.institutionPeerIds.map((_, i) => DEV_ACCOUNTS.institution(i).connect(provider));
  const acquirer = institutions[0];
  if (!acquirer) throw new Error("at least one institution is needed");
  const { deployment } = await deploySettlenet(admin as unknown as Signer, { feeReceiver: DEV_ACCOUNTS.feeReceiver().address, maxFeeBps: 300 });
  step("contracts deployed");
  const token = deployment.tokens["CNY"];
  if (!token) throw new Error("the CNY token was not deployed");
  const registryAbi = loadArtifact("ParticipantRegistry").abi;
  const tokenAbi = loadArtifact("SettlementToken").abi;
  const registry = (signer: Signer) => new Contract(deployment.contracts.registry, registryAbi, signer);
  const cny = (signer: Signer) => new Contract(token.address, tokenAbi, signer);
  const send = async (tx: Promise<{ wait(): Promise<unknown> }>) => {
    await (await tx).wait();
  };

  for (const [i, institution] of institutions.entries()) {
    await send(registry(admin).getFunction("registerInstitution")(institution.address, options.institutionPeerIds[i], `Bank ${i + 1}`));
  }
  await send(registry(admin).getFunction("registerRegulator")(DEV_ACCOUNTS.regulator().address, options.regulatorPeerId, "Regulator"));
  const arbiterRole = (await registry(admin).getFunction("ARBITER_ROLE")()) as string;
  await send(registry(admin).getFunction("grantRole")(arbiterRole, DEV_ACCOUNTS.arbiter().address));
  step("institutions, regulator and arbiter registered");

  for (const [i, merchant] of options.merchants.entries()) {
    await send(registry(acquirer).getFunction("registerMerchant")(DEV_ACCOUNTS.merchant(i).address, 2, options.merchantFeeBps, keccak256(toUtf8Bytes(merchant.payoutAccount))));
  }
  step("merchants onboarded");

  const attestedReserves = options.payerFunds * BigInt(options.payers + 1);
  await send(cny(admin).getFunction("setCustodian")(acquirer.address, true));
  await send(cny(acquirer).getFunction("attestReserves")(attestedReserves, encodeBytes32String("reserves-0")));
  const { chainId } = await provider.getNetwork();
  for (let i = 0; i < options.payers; i++) {
    const payer = DEV_ACCOUNTS.payer(i);
    const institution = institutions[i % institutions.length];
    if (!institution) throw new Error("no institution");
    await send(registry(institution).getFunction("registerCustomer")(payer.address, 1));
    await send(cny(acquirer).getFunction("mint")(payer.address, options.payerFunds, encodeBytes32String(`deposit-${i}`)));
    const deadline = BigInt((await provider.getBlock("latest"))?.timestamp ?? 0) + 3600n;
    const signature = await payer.signTypedData(
      tokenDomain(chainId, token.address, token.name),
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
    await send(cny(admin).getFunction("permit")(payer.address, deployment.contracts.escrow, MAX_UINT, deadline, v, r, s));
  }
  step(`${options.payers} payers onboarded and funded`);
  return { deployment, attestedReserves };
}
