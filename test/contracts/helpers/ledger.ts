/** Settlement-cycle helpers for the SettlementLedger tests: realistic record trees, summaries and ordered attestations. */
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import type { Signer } from "ethers";
import { AbiCoder, concat, encodeBytes32String, getBytes, id, keccak256, toBeHex, toBigInt } from "ethers";

import { CYCLE_TYPES, SETTLEMENT_RECORD_LEAF_ENCODING, ledgerDomain } from "../../../core/protocol/eip712.js";
import { deployWorld, ethers, type World } from "./fixture.js";

/** Record kinds used by these tests' cycles (the ledger itself does not interpret `kind`). */
export const RecordKind = {
  Released: 0,
  Refunded: 1,
  Resolved: 2,
  Reclaimed: 3,
  Deposit: 4,
  Payout: 5,
  MerchantTotals: 6,
  InstitutionTotals: 7,
} as const;

/** A SettlementRecord as TypeScript values (field order of ISettlementLedger.SettlementRecord). */
export interface SettlementRecord {
  cycleId: bigint;
  recordId: string;
  kind: number;
  account: string;
  counterparty: string;
  token: string;
  amount: bigint;
  fee: bigint;
}

export type RecordValues = [bigint, string, number, string, string, string, bigint, bigint];

/** A cycle summary as TypeScript values (the EIP-712 `Cycle` message). */
export interface CycleSummary {
  cycleId: bigint;
  merkleRoot: string;
  recordCount: bigint;
  grossAmount: bigint;
  feeAmount: bigint;
  totalsHash: string;
}

export interface Cycle {
  records: SettlementRecord[];
  values: RecordValues[];
  tree: StandardMerkleTree<RecordValues>;
  summary: CycleSummary;
}

export const LEAF_ENCODING = [...SETTLEMENT_RECORD_LEAF_ENCODING];

export function recordValues(r: SettlementRecord): RecordValues {
  return [r.cycleId, r.recordId, r.kind, r.account, r.counterparty, r.token, r.amount, r.fee];
}

/** Builds the tree and summary of `records`; the summary's totals come from the records themselves. */
export function cycleOf(cycleId: bigint, records: SettlementRecord[]): Cycle {
  const values = records.map(recordValues);
  const tree = StandardMerkleTree.of(values, LEAF_ENCODING);
  const released = records.filter((r) => r.kind === RecordKind.Released);
  const totals = records.filter((r) => r.kind === RecordKind.MerchantTotals || r.kind === RecordKind.InstitutionTotals);
  const totalsHash = keccak256(AbiCoder.defaultAbiCoder().encode(["bytes32[]"], [totals.map((r) => tree.leafHash(recordValues(r)))]));
  return {
    records,
    values,
    tree,
    summary: {
      cycleId,
      merkleRoot: tree.root,
      recordCount: BigInt(records.length),
      grossAmount: released.reduce((sum, r) => sum + r.amount, 0n),
      feeAmount: released.reduce((sum, r) => sum + r.fee, 0n),
      totalsHash,
    },
  };
}

/** A day's settlement for the fixture's participants: releases, a refund, a reclaim, a deposit, a payout and totals. */
export async function buildCycle(world: World, cycleId: bigint): Promise<Cycle> {
  const [payer, payer2, merchant, merchant2, inst1, inst2, token] = await Promise.all([
    world.payer.getAddress(),
    world.payer2.getAddress(),
    world.merchant.getAddress(),
    world.merchant2.getAddress(),
    world.inst1.getAddress(),
    world.inst2.getAddress(),
    world.token.getAddress(),
  ]);
  const paymentId = (n: number) => id(`payment:${cycleId}:${n}`);
  const rec = (kind: number, recordId: string, account: string, counterparty: string, amount: bigint, fee: bigint): SettlementRecord => ({
    cycleId, recordId, kind, account, counterparty, token, amount, fee,
  });
  const records = [
    rec(RecordKind.Released, paymentId(1), payer, merchant, 129_90n, 1_29n), // 1% merchant fee
    rec(RecordKind.Released, paymentId(2), payer2, merchant2, 58_00n, 0n),
    rec(RecordKind.Released, paymentId(3), payer, merchant, 1_000_00n, 10_00n),
    rec(RecordKind.Refunded, paymentId(4), merchant, payer, 25_50n, 0n),
    rec(RecordKind.Reclaimed, paymentId(5), payer2, merchant, 12_00n, 0n),
    rec(RecordKind.Deposit, encodeBytes32String(`BR-${cycleId}-001`), payer, inst1, 5_000_00n, 0n),
    rec(RecordKind.Payout, encodeBytes32String(`PO-${cycleId}-001`), merchant, inst1, 1_108_61n, 0n),
    rec(RecordKind.MerchantTotals, id(`totals:merchant:${merchant}`), merchant, inst1, 1_129_90n, 11_29n),
    rec(RecordKind.MerchantTotals, id(`totals:merchant:${merchant2}`), merchant2, inst2, 58_00n, 0n),
    rec(RecordKind.InstitutionTotals, id(`totals:institution:${inst1}`), inst1, ethers.ZeroAddress, 1_129_90n, 11_29n),
    rec(RecordKind.InstitutionTotals, id(`totals:institution:${inst2}`), inst2, ethers.ZeroAddress, 58_00n, 0n),
  ];
  return cycleOf(cycleId, records);
}

/** An institution id and the key that signs for it (the id itself until the key is rotated). */
export interface Attester {
  institution: string;
  signer: Signer;
}

/** Each signer attesting as the institution whose id is its own address (the fixture's initial keys). */
export async function asInstitutions(signers: Signer[]): Promise<Attester[]> {
  return Promise.all(signers.map(async (signer) => ({ institution: await signer.getAddress(), signer })));
}

/** An EIP-712 attestation of `summary` under the ledger's domain (or another chain id / ledger address). */
export async function signCycle(
  world: World,
  signer: Signer,
  summary: CycleSummary,
  opts: { chainId?: bigint; verifyingContract?: string } = {},
): Promise<string> {
  const domain = ledgerDomain(opts.chainId ?? world.chainId, opts.verifyingContract ?? (await world.ledger.getAddress()));
  return signer.signTypedData(domain, CYCLE_TYPES, summary);
}

/** Sorts attesters by ascending institution id, as `finalize` requires. */
export function byInstitutionId(attesters: Attester[]): Attester[] {
  return [...attesters].sort((a, b) => {
    const x = BigInt(a.institution);
    const y = BigInt(b.institution);
    return x < y ? -1 : x > y ? 1 : 0;
  });
}

/** Attestations of `summary`, ordered by ascending institution id, with the matching institution ids. */
export async function attest(
  world: World,
  summary: CycleSummary,
  attesters: Attester[],
): Promise<{ signatures: string[]; institutions: string[] }> {
  const ordered = byInstitutionId(attesters);
  const signatures = await Promise.all(ordered.map((a) => signCycle(world, a.signer, summary)));
  return { signatures, institutions: ordered.map((a) => a.institution) };
}

const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

/** The malleable twin of a 65-byte signature (s -> n - s, v flipped): same signer, different bytes. */
export function malleate(signature: string): string {
  const bytes = getBytes(signature);
  const r = bytes.slice(0, 32);
  const s = toBigInt(bytes.slice(32, 64));
  const v = bytes[64] === 27 ? 28 : 27;
  return concat([r, toBeHex(SECP256K1_N - s, 32), new Uint8Array([v])]);
}

export type FourInstitutionWorld = Awaited<ReturnType<typeof deployWorldWithFourInstitutions>>;

/** The shared world plus a fourth active institution (quorum then needs three of four). */
export async function deployWorldWithFourInstitutions() {
  const world = await deployWorld();
  const inst4 = (await ethers.getSigners())[13];
  if (!inst4) throw new Error("test network has no account #13");
  await (await world.registry.registerInstitution(await inst4.getAddress(), "12D3KooWInstitution3", "Bank 4")).wait();
  return { ...world, inst4, institutions: [...world.institutions, inst4] };
}
