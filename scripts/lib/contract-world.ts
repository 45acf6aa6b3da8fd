/**
 * The contract world on Hardhat's in-process EDR chain: the four contracts deployed and wired, with
 * institutions, a regulator, an arbiter, merchants and funded payers, plus builders of payment terms,
 * signatures and relayed operations. The contract tests and the gas report (scripts/gas.ts) use it;
 * importing it creates the chain (`network.create()`).
 */
import { network } from "hardhat";
import type { BaseContract, Signer } from "ethers";
import { hexlify, randomBytes, encodeBytes32String } from "ethers";

import { ESCROW_ACTION_TYPES, PAYMENT_TYPES, type PaymentTerms } from "../../core/operations/index.js";
import { escrowDomain } from "../../core/protocol/eip712.js";
import { deploySettlenet } from "./deploy.js";

export const { ethers, networkHelpers } = await network.create();

export const MERCHANT_FEE_BPS = 100; // 1%
export const MAX_FEE_BPS = 300;
export const PAYER_FUNDS = 1_000_000_00n; // 1,000,000.00 CNY
export const RESERVES = 100_000_000_00n;
export const DAY = 86_400;

export type World = Awaited<ReturnType<typeof deployWorld>>;

export async function deployWorld() {
  const signers = await ethers.getSigners();
  const at = (i: number) => {
    const signer = signers[i];
    if (!signer) throw new Error(`test network has no account #${i}`);
    return signer;
  };
  const [admin, inst1, inst2, inst3, regulator, arbiter, merchant, merchant2, payer, payer2, feeReceiver, relayer, outsider] = [
    at(0), at(1), at(2), at(3), at(4), at(5), at(6), at(7), at(8), at(9), at(10), at(11), at(12),
  ] as const;
  // inst1's independent reserve attestor (its bank): the last account, as the tests take spare ones from #13 on.
  const attestor = at(19);
  const { deployment, contracts } = await deploySettlenet(admin, {
    feeReceiver: await feeReceiver.getAddress(),
    maxFeeBps: MAX_FEE_BPS,
  });
  const { registry, escrow, ledger } = contracts;
  const token = contracts.tokens["CNY"];
  if (!token) throw new Error("CNY token not deployed");
  /** `contract` connected to `signer`, keeping its TypeChain type. */
  const as = <T extends BaseContract>(contract: T, signer: Signer) => contract.connect(signer) as T;

  const institutions = [inst1, inst2, inst3];
  for (const [i, inst] of institutions.entries()) {
    await (await registry.registerInstitution(await inst.getAddress(), `12D3KooWInstitution${i}`, `Bank ${i + 1}`)).wait();
  }
  await (await registry.registerRegulator(await regulator.getAddress(), "12D3KooWRegulator", "Regulator")).wait();
  await (await registry.grantRole(await registry.ARBITER_ROLE(), await arbiter.getAddress())).wait();
  await (await as(registry, inst1).registerMerchant(await merchant.getAddress(), 2, MERCHANT_FEE_BPS, encodeBytes32String("acct-m1"))).wait();
  await (await as(registry, inst2).registerMerchant(await merchant2.getAddress(), 2, 0, encodeBytes32String("acct-m2"))).wait();
  await (await as(registry, inst1).registerCustomer(await payer.getAddress(), 1)).wait();
  await (await as(registry, inst2).registerCustomer(await payer2.getAddress(), 1)).wait();

  await (await token.setCustodian(await inst1.getAddress(), true)).wait();
  await (await registry.setReserveAttestor(await inst1.getAddress(), await attestor.getAddress())).wait();
  await (await as(token, attestor).attestReserveStatement(await inst1.getAddress(), RESERVES, await networkHelpers.time.latest(), 1n, encodeBytes32String("statement-0"))).wait();
  for (const p of [payer, payer2]) {
    await (await as(token, inst1).mint(await p.getAddress(), PAYER_FUNDS, encodeBytes32String("deposit"))).wait();
    await (await as(token, p).approve(await escrow.getAddress(), ethers.MaxUint256)).wait();
  }
  await (await as(token, merchant).approve(await escrow.getAddress(), ethers.MaxUint256)).wait();

  const { chainId } = await ethers.provider.getNetwork();
  return {
    deployment, registry, escrow, ledger, token, chainId,
    admin, inst1, inst2, inst3, institutions, regulator, arbiter, merchant, merchant2, payer, payer2, feeReceiver, relayer, outsider, attestor,
    as,
  };
}

/**
 * The attestor's next reserve statement for inst1 (sequence one above the latest, as of the latest block), sent by
 * `sender` (the attestor by default: anyone else is refused).
 */
export async function attest(world: World, amount: bigint, statementHash: string, sender: Signer = world.attestor, custodian?: string) {
  const of = custodian ?? (await world.inst1.getAddress());
  const { sequence } = await world.token.reservesOf(of);
  return world.as(world.token, sender).attestReserveStatement(of, amount, await networkHelpers.time.latest(), sequence + 1n, statementHash);
}

let termsNonce = 0n;

/** Payment terms between `payer` and `merchant` with sensible defaults; override any field. */
export async function makeTerms(world: World, overrides: Partial<PaymentTerms> = {}): Promise<PaymentTerms> {
  const now = BigInt(await networkHelpers.time.latest());
  termsNonce += 1n;
  return {
    payer: await world.payer.getAddress(),
    merchant: await world.merchant.getAddress(),
    token: await world.token.getAddress(),
    amount: 100_00n,
    orderId: hexlify(randomBytes(32)),
    feeBps: MERCHANT_FEE_BPS,
    direct: false,
    payDeadline: now + 3_600n,
    fulfilmentPeriod: 7 * DAY,
    autoReleasePeriod: 10 * DAY,
    refundPeriod: 30 * DAY,
    nonce: termsNonce,
    ...overrides,
  };
}

/** The payer's (or any signer's) EIP-712 signature of payment terms. */
export async function signTerms(world: World, signer: Signer, terms: PaymentTerms, chainId = world.chainId): Promise<string> {
  return signer.signTypedData(escrowDomain(chainId, await world.escrow.getAddress()), PAYMENT_TYPES, terms);
}

export type ActionName = keyof typeof ESCROW_ACTION_TYPES;

/** Signs a non-pay escrow action (markFulfilled, confirm, refund, dispute, resolve, reclaim). */
export async function signAction(
  world: World,
  signer: Signer,
  name: ActionName,
  message: Record<string, unknown>,
  opts: { chainId?: bigint; verifyingContract?: string } = {},
): Promise<string> {
  const domain = escrowDomain(opts.chainId ?? world.chainId, opts.verifyingContract ?? (await world.escrow.getAddress()));
  return signer.signTypedData(domain, ESCROW_ACTION_TYPES[name], message);
}

export const OperationKind = { Pay: 0, MarkFulfilled: 1, Confirm: 2, Release: 3, Refund: 4, Dispute: 5, Resolve: 6, Reclaim: 7 } as const;
export const PaymentStatus = { None: 0, Held: 1, Fulfilled: 2, Disputed: 3, Released: 4, Refunded: 5, Resolved: 6, Reclaimed: 7 } as const;

/** A relayed operation as the escrow's `execute`/`executeBatch` take it. */
export function operation(
  kind: number,
  terms: PaymentTerms,
  fields: { amount?: bigint; reason?: string; nonce?: bigint; deadline?: bigint; signature?: string } = {},
) {
  return {
    kind,
    terms,
    amount: fields.amount ?? 0n,
    reason: fields.reason ?? ethers.ZeroHash,
    nonce: fields.nonce ?? 0n,
    deadline: fields.deadline ?? 0n,
    signature: fields.signature ?? "0x",
  };
}
