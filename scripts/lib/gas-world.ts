/**
 * The gas report's world: the contract world (contract-world.ts: 3 institutions, arbiter, merchants,
 * funded payers) plus as many extra payers and merchants as the batches need, and the signing of
 * relayed operations. The contract world creates its in-process EDR chain with `network.create()`
 * when imported; everything here runs on that chain.
 */
import { MaxUint256, Wallet, encodeBytes32String, id } from "ethers";
import type { ContractTransactionResponse, Signer } from "ethers";

import {
  MERCHANT_FEE_BPS,
  OperationKind,
  ethers,
  makeTerms,
  networkHelpers,
  operation,
  signAction,
  signTerms,
  type ActionName,
  type World,
} from "./contract-world.js";
import type { PaymentTerms } from "../../core/protocol/eip712.js";

export { ethers, networkHelpers };

/** Token funds of each extra payer: 10,000.00 CNY. */
export const EXTRA_PAYER_FUNDS = 10_000_00n;
/** Amount of every measured payment: 100.00 CNY. */
export const PAYMENT_AMOUNT = 100_00n;
/** Validity of relayed-operation signatures. */
const SIGNATURE_TTL_SECONDS = 86_400n;

export type RelayedOperation = ReturnType<typeof operation>;

/** A deterministic local key, connected to the chain, with gas money. */
async function fundedWallet(label: string): Promise<Wallet> {
  const wallet = new Wallet(id(`settlenet-gas/${label}`), ethers.provider);
  await networkHelpers.setBalance(wallet.address, 10n ** 20n);
  return wallet;
}

async function mined(tx: Promise<ContractTransactionResponse>): Promise<void> {
  const receipt = await (await tx).wait();
  if (receipt?.status !== 1) throw new Error("set-up transaction failed");
}

/**
 * `count` new payers: customer accounts opened by the three institutions in turn, each funded with
 * {EXTRA_PAYER_FUNDS} and with an unlimited escrow allowance.
 */
export async function createPayers(world: World, label: string, count: number): Promise<Wallet[]> {
  const escrow = await world.escrow.getAddress();
  const payers: Wallet[] = [];
  for (let i = 0; i < count; i++) {
    const payer = await fundedWallet(`${label}/payer/${i}`);
    const institution = world.institutions[i % world.institutions.length] as Signer;
    await mined(world.as(world.registry, institution).registerCustomer(payer.address, 1));
    await mined(world.as(world.token, world.inst1).mint(payer.address, EXTRA_PAYER_FUNDS, encodeBytes32String(`deposit-${i}`)));
    await mined(world.as(world.token, payer).approve(escrow, MaxUint256));
    payers.push(payer);
  }
  return payers;
}

/** `count` new merchants acquired by the first institution, at the fixture's fee, each holding 1.00 already. */
export async function createMerchants(world: World, label: string, count: number): Promise<Wallet[]> {
  const merchants: Wallet[] = [];
  for (let i = 0; i < count; i++) {
    const merchant = await fundedWallet(`${label}/merchant/${i}`);
    await mined(
      world.as(world.registry, world.inst1).registerMerchant(merchant.address, 2, MERCHANT_FEE_BPS, encodeBytes32String(`acct-${label}-${i}`)),
    );
    await mined(world.as(world.token, world.inst1).mint(merchant.address, 1_00n, encodeBytes32String(`float-${i}`)));
    merchants.push(merchant);
  }
  return merchants;
}

let orderCounter = 0;

/** Terms of a {PAYMENT_AMOUNT} payment with a deterministic order id; override any field. */
export async function paymentTerms(world: World, overrides: Partial<PaymentTerms> = {}): Promise<PaymentTerms> {
  orderCounter += 1;
  return makeTerms(world, { amount: PAYMENT_AMOUNT, orderId: id(`settlenet-gas/order/${orderCounter}`), ...overrides });
}

/** Hands out unordered nonces per signer: sequential within one 256-nonce bitmap word by default. */
export class NonceBook {
  private readonly next = new Map<string, bigint>();

  /** The signer's next nonce, starting at `first` (0 unless set). */
  take(signer: string, first = 0n): bigint {
    const nonce = this.next.get(signer) ?? first;
    this.next.set(signer, nonce + 1n);
    return nonce;
  }

  /** Continues `signer` from `nonce` (e.g. after it used nonce 0 in set-up). */
  startAt(signer: string, nonce: bigint): void {
    this.next.set(signer, nonce);
  }
}

const ACTIONS: Partial<Record<number, ActionName>> = {
  [OperationKind.MarkFulfilled]: "markFulfilled",
  [OperationKind.Confirm]: "confirm",
  [OperationKind.Refund]: "refund",
  [OperationKind.Dispute]: "dispute",
  [OperationKind.Resolve]: "resolve",
  [OperationKind.Reclaim]: "reclaim",
};

/** A relayed pay: the payer's signature over the terms. */
export async function signedPay(world: World, payer: Signer, terms: PaymentTerms): Promise<RelayedOperation> {
  return operation(OperationKind.Pay, terms, { signature: await signTerms(world, payer, terms) });
}

/**
 * A relayed non-pay operation signed by `signer` with `nonce`. `amount` is the refund amount or, for
 * resolve, the payer's share.
 */
export async function signedAction(
  world: World,
  kind: number,
  terms: PaymentTerms,
  signer: Signer,
  nonce: bigint,
  fields: { amount?: bigint; reason?: string } = {},
): Promise<RelayedOperation> {
  const action = ACTIONS[kind];
  if (!action) throw new Error(`operation kind ${kind} is not signed`);
  const paymentId = (await world.escrow.paymentIdOf(terms)) as string;
  const deadline = BigInt(await networkHelpers.time.latest()) + SIGNATURE_TTL_SECONDS;
  const amount = fields.amount ?? 0n;
  const reason = fields.reason ?? ethers.ZeroHash;
  const message: Record<string, unknown> = { paymentId, nonce, deadline };
  if (kind === OperationKind.Refund) Object.assign(message, { amount, reason });
  if (kind === OperationKind.Dispute) Object.assign(message, { reason });
  if (kind === OperationKind.Resolve) Object.assign(message, { payerAmount: amount, reason });
  const signature = await signAction(world, signer, action, message);
  return operation(kind, terms, { amount, reason, nonce, deadline, signature });
}
