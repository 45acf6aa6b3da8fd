/**
 * Registry reads the operator actions check before they send anything, so that a command that is
 * already done says so and one that cannot succeed names why (instead of a bare revert).
 */
import { ZeroAddress, ZeroHash } from "ethers";

import { SettlenetError } from "../errors.js";
import { ACCOUNT_KINDS, ACCOUNT_STATUSES, type AccountKindName, type AccountStatusName } from "../protocol/registry.js";
import { sendAs, unchanged, type ActionResult, type Actor, type OperatorChain } from "./chain.js";

/** IParticipantRegistry.AccountStatus values the contract takes. */
export const STATUS = { active: 1, suspended: 2 } as const;

export interface NodeRecord {
  account: string;
  signer: string;
  peerId: string;
  name: string;
  regulator: boolean;
  active: boolean;
}

export interface AccountRecord {
  kind: AccountKindName;
  status: AccountStatusName;
  kycLevel: number;
  feeBps: number;
  institution: string;
}

const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** The node operator (institution or regulator) registered with id `account`, if any. */
export async function nodeRecord(chain: OperatorChain, account: string): Promise<NodeRecord | undefined> {
  const nodes = (await chain.registry.getFunction("nodes")()) as NodeRecord[];
  const found = nodes.find((n) => same(n.account, account));
  return found ? { account: found.account, signer: found.signer, peerId: found.peerId, name: found.name, regulator: found.regulator, active: found.active } : undefined;
}

/** The registry's account record of `account` (kind "none" if unknown). */
export async function accountRecord(chain: OperatorChain, account: string): Promise<AccountRecord> {
  const r = (await chain.registry.getFunction("accountOf")(account)) as { kind: bigint; status: bigint; kycLevel: bigint; feeBps: bigint; institution: string };
  return {
    kind: ACCOUNT_KINDS[Number(r.kind)] ?? "none",
    status: ACCOUNT_STATUSES[Number(r.status)] ?? "none",
    kycLevel: Number(r.kycLevel),
    feeBps: Number(r.feeBps),
    institution: r.institution,
  };
}

/** Refuses unless `actor` holds the registry's admin role (consortium governance). */
export async function requireGovernance(chain: OperatorChain, actor: Actor): Promise<void> {
  const admin = (await chain.registry.getFunction("DEFAULT_ADMIN_ROLE")()) as string;
  if (!((await chain.registry.getFunction("hasRole")(admin, actor.address)) as boolean)) {
    throw new SettlenetError("NOT_GOVERNANCE", `${actor.address} is not the registry's governance key (DEFAULT_ADMIN_ROLE); use the governance keystore`, { account: actor.address });
  }
}

/** The institution whose current, active signing key `actor` is (NOT_INSTITUTION_KEY otherwise). */
export async function institutionOf(chain: OperatorChain, actor: Actor): Promise<string> {
  const institution = (await chain.registry.getFunction("institutionOfSigner")(actor.address)) as string;
  const active = institution !== ZeroAddress && ((await chain.registry.getFunction("isActiveInstitution")(actor.address)) as boolean);
  if (!active) throw new SettlenetError("NOT_INSTITUTION_KEY", `${actor.address} is not the signing key of an active institution; use the institution's operator keystore`, { account: actor.address });
  return institution;
}

/** The active institution for which `actor` may mint and burn: its custodian key, or its operator key while it has none (NOT_CUSTODIAN_KEY otherwise). */
export async function custodianOf(chain: OperatorChain, actor: Actor): Promise<string> {
  const institution = (await chain.registry.getFunction("custodianInstitutionOf")(actor.address)) as string;
  if (institution === ZeroAddress) {
    throw new SettlenetError("NOT_CUSTODIAN_KEY", `${actor.address} is not the custodian key of an active institution (nor the operator key of one without a custodian key); use the custodian's keystore`, { account: actor.address });
  }
  return institution;
}

/** Refuses a peer id another operator already has (PEER_ID_TAKEN). */
export async function requirePeerIdFree(chain: OperatorChain, peerId: string, forAccount: string): Promise<void> {
  const owner = (await chain.registry.getFunction("operatorOfPeer")(peerId)) as string;
  if (owner !== ZeroAddress && !same(owner, forAccount)) throw new SettlenetError("PEER_ID_TAKEN", `peer id ${peerId} is registered to ${owner}`, { peerId, owner });
}

/** Refuses an address that is already some account or key (ACCOUNT_EXISTS, naming what it is). */
export async function requireNewAccount(chain: OperatorChain, account: string, wanted: string): Promise<void> {
  const record = await accountRecord(chain, account);
  if (record.kind !== "none") throw new SettlenetError("ACCOUNT_EXISTS", `${account} is already registered as ${record.kind === "institution" ? "an institution" : `a ${record.kind}`}, not as ${wanted}`, { account, kind: record.kind });
  const keyOf = (await chain.registry.getFunction("institutionOfSigner")(account)) as string;
  if (keyOf !== ZeroAddress) throw new SettlenetError("ACCOUNT_EXISTS", `${account} is the signing key of ${keyOf}; it cannot also be ${wanted}`, { account, operator: keyOf });
}

/** The registry's payout account reference of a merchant (bytes32). */
export async function payoutAccountOf(chain: OperatorChain, merchant: string): Promise<string> {
  return ((await chain.registry.getFunction("payoutAccountOf")(merchant)) as string) ?? ZeroHash;
}

/** Suspends or reactivates a merchant or customer (its institution's key, or governance). */
export async function setAccountActive(chain: OperatorChain, actor: Actor, kind: "merchant" | "customer", account: string, active: boolean): Promise<ActionResult> {
  const record = await accountRecord(chain, account);
  if (record.kind !== kind) throw new SettlenetError("NOT_REGISTERED", `${account} is not registered as a ${kind}${record.kind === "none" ? "" : ` (it is ${record.kind === "institution" ? "an institution" : `a ${record.kind}`})`}`, { account, kind: record.kind });
  if ((record.status === "active") === active) return unchanged(`${kind} ${account} is ${record.status}`);
  const admin = (await chain.registry.getFunction("DEFAULT_ADMIN_ROLE")()) as string;
  const governance = (await chain.registry.getFunction("hasRole")(admin, actor.address)) as boolean;
  if (!governance && !same(await institutionOf(chain, actor), record.institution)) {
    throw new SettlenetError("NOT_ACCOUNT_INSTITUTION", `${account} belongs to institution ${record.institution}; only its key or governance may change it`, { account, institution: record.institution });
  }
  return sendAs(actor, chain.registry, "setAccountStatus", [account, active ? STATUS.active : STATUS.suspended], `${active ? "reactivated" : "suspended"} ${kind} ${account}`);
}

/** The merchant or customer `account` of the institution whose key `actor` is (NOT_ACCOUNT_INSTITUTION if another's). */
export async function ownAccount(chain: OperatorChain, actor: Actor, kind: "merchant" | "customer", account: string): Promise<AccountRecord> {
  const record = await accountRecord(chain, account);
  if (record.kind !== kind) throw new SettlenetError("NOT_REGISTERED", `${account} is not registered as a ${kind}`, { account, kind: record.kind });
  const institution = await institutionOf(chain, actor);
  if (!same(institution, record.institution)) throw new SettlenetError("NOT_ACCOUNT_INSTITUTION", `${account} belongs to institution ${record.institution}, not to ${institution}`, { account, institution: record.institution });
  return record;
}
