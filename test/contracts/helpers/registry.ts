/** Helpers for the ParticipantRegistry tests in test/contracts/registry (one file per behaviour). */
import { encodeBytes32String, id, ZeroHash } from "ethers";

import type { ParticipantRegistry } from "../../../types/ethers-contracts/index.js";
import { deployWorld, ethers, networkHelpers, type World } from "./fixture.js";

/** IParticipantRegistry.AccountKind */
export const Kind = { None: 0, Institution: 1, Merchant: 2, Customer: 3, Protocol: 4 } as const;
/** IParticipantRegistry.AccountStatus */
export const Status = { None: 0, Active: 1, Suspended: 2 } as const;
/** IParticipantRegistry.TokenKind */
export const TokenKind = { None: 0, Settlement: 1, Foreign: 2 } as const;

export const ADMIN_ROLE = ZeroHash;
export const REGULATOR_ROLE = id("REGULATOR_ROLE");
export const ARBITER_ROLE = id("ARBITER_ROLE");
/** A payout account reference no fixture merchant uses. */
export const PAYOUT = encodeBytes32String("acct-new");

type Signer = World["outsider"];

/** The world plus funded accounts the fixture leaves unregistered (new institutions, keys, merchants). */
export async function deployRegistryWorld() {
  const world = await deployWorld();
  const spare = (await ethers.getSigners()).slice(13);
  const at = (i: number): Signer => {
    const signer = spare[i];
    if (!signer) throw new Error(`test network has no spare account #${i}`);
    return signer;
  };
  return { ...world, fresh: at(0), fresh2: at(1), newKey: at(2), newKey2: at(3) };
}

export type RegistryWorld = Awaited<ReturnType<typeof deployRegistryWorld>>;

/** The registry world, from a snapshot after the first call. */
export async function load() {
  return networkHelpers.loadFixture(deployRegistryWorld);
}

/** `accountOf` as plain numbers, for deep comparison. */
export async function accountOf(registry: ParticipantRegistry, account: string) {
  const r = await registry.accountOf(account);
  return {
    kind: Number(r.kind),
    status: Number(r.status),
    kycLevel: Number(r.kycLevel),
    feeBps: Number(r.feeBps),
    institution: r.institution,
  };
}

/** `nodes()` as plain objects, for deep comparison. */
export async function nodesOf(registry: ParticipantRegistry) {
  return (await registry.nodes()).map((n) => ({
    account: n.account,
    signer: n.signer,
    peerId: n.peerId,
    name: n.name,
    regulator: n.regulator,
    active: n.active,
  }));
}

/** The node record of `operator`; throws if it has none. */
export async function nodeOf(registry: ParticipantRegistry, operator: string) {
  const node = (await nodesOf(registry)).find((n) => n.account === operator);
  if (!node) throw new Error(`no node record for ${operator}`);
  return node;
}
