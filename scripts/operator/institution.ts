/**
 * `settlenet institution …` and `settlenet regulator …`: node operators. Governance registers them
 * with their node's peer id, suspends and reactivates them, and rotates a lost key on their behalf;
 * an operator changes its own peer id and rotates its own key.
 *   settlenet institution|regulator register --address <a> --peer-id <id> --name <name>   (governance key)
 *   settlenet institution|regulator suspend|reactivate --address <a>                      (governance key)
 *   settlenet institution|regulator set-peer-id --peer-id <id>                            (the operator's key)
 *   settlenet institution|regulator rotate-key --new-signer <a> [--address <operator>]     (its key; governance with --address)
 */
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { CHAIN_OPTIONS, CHAIN_USAGE, address, name, parse, peerId, printResult, validate, withContext } from "./args.js";
import { sendAs, unchanged, type ActionResult, type Actor, type OperatorChain } from "../../core/operator/chain.js";
import { STATUS, nodeRecord, requireGovernance, requireNewAccount, requirePeerIdFree } from "../../core/operator/registry.js";

export type OperatorRole = "institution" | "regulator";

const article = (role: OperatorRole) => (role === "institution" ? "an institution" : "a regulator");

/** Registers an institution or a regulator with its node's peer id (governance). */
export async function registerOperator(chain: OperatorChain, governance: Actor, role: OperatorRole, params: { address: string; peerId: string; name: string }): Promise<ActionResult> {
  const existing = await nodeRecord(chain, params.address);
  if (existing) {
    if (existing.regulator !== (role === "regulator")) {
      throw new SettlenetError("ACCOUNT_EXISTS", `${params.address} is registered as ${article(existing.regulator ? "regulator" : "institution")}, not as ${article(role)}`, { account: params.address });
    }
    if (existing.peerId !== params.peerId) {
      throw new SettlenetError(
        "PEER_ID_DIFFERS",
        `${role} ${params.address} is registered with peer id ${existing.peerId}, not ${params.peerId}: its operator changes it with \`settlenet ${role} set-peer-id\``,
        { account: params.address, registered: existing.peerId, peerId: params.peerId },
      );
    }
    return unchanged(`${role} ${params.address} ("${existing.name}") is registered with peer id ${existing.peerId}${existing.active ? "" : " (suspended)"}`);
  }
  await requireGovernance(chain, governance);
  await requireNewAccount(chain, params.address, article(role));
  await requirePeerIdFree(chain, params.peerId, params.address);
  const method = role === "institution" ? "registerInstitution" : "registerRegulator";
  return sendAs(governance, chain.registry, method, [params.address, params.peerId, params.name], `registered ${role} ${params.address} ("${params.name}") with peer id ${params.peerId}`);
}

/** Suspends (`active` false) or reactivates an institution or a regulator node (governance). */
export async function setOperatorActive(chain: OperatorChain, governance: Actor, role: OperatorRole, account: string, active: boolean): Promise<ActionResult> {
  const existing = await nodeRecord(chain, account);
  if (!existing || existing.regulator !== (role === "regulator")) throw new SettlenetError("NOT_REGISTERED", `${account} is not registered as ${article(role)}`, { account });
  const verb = active ? "reactivated" : "suspended";
  if (existing.active === active) return unchanged(`${role} ${account} is ${active ? "active" : "suspended"}`);
  await requireGovernance(chain, governance);
  return role === "institution"
    ? sendAs(governance, chain.registry, "setInstitutionStatus", [account, active ? STATUS.active : STATUS.suspended], `${verb} institution ${account}`)
    : sendAs(governance, chain.registry, "setRegulatorNodeActive", [account, active], `${verb} regulator ${account}`);
}

/** The node operator whose current key `actor` is (NOT_OPERATOR_KEY otherwise). */
async function operatorOfKey(chain: OperatorChain, actor: Actor, role: OperatorRole) {
  const id = (await chain.registry.getFunction("institutionOfSigner")(actor.address)) as string;
  const record = await nodeRecord(chain, id);
  if (!record || record.regulator !== (role === "regulator") || record.signer.toLowerCase() !== actor.address.toLowerCase()) {
    throw new SettlenetError("NOT_OPERATOR_KEY", `${actor.address} is not the current signing key of ${article(role)}; use its operator keystore`, { account: actor.address });
  }
  if (!record.active) throw new SettlenetError("OPERATOR_SUSPENDED", `${role} ${record.account} is suspended; governance reactivates it first`, { account: record.account });
  return record;
}

/** Changes the peer id of the operator whose key `actor` is (after moving its node to a new peer key). */
export async function setOwnPeerId(chain: OperatorChain, actor: Actor, role: OperatorRole, newPeerId: string): Promise<ActionResult> {
  const record = await operatorOfKey(chain, actor, role);
  if (record.peerId === newPeerId) return unchanged(`${role} ${record.account} has peer id ${newPeerId}`);
  await requirePeerIdFree(chain, newPeerId, record.account);
  return sendAs(actor, chain.registry, "updatePeerId", [newPeerId], `${role} ${record.account} now has peer id ${newPeerId} (was ${record.peerId})`);
}

/**
 * Rotates an operator's signing key to `newSigner`: by its current key, or by governance on its
 * behalf (`operator` given: a lost or compromised key). Done when `newSigner` is already its key.
 */
export async function rotateOperatorKey(chain: OperatorChain, actor: Actor, role: OperatorRole, params: { newSigner: string; operator?: string | undefined }): Promise<ActionResult> {
  const record = params.operator ? await nodeRecord(chain, params.operator) : await operatorOfKey(chain, actor, role);
  if (!record || record.regulator !== (role === "regulator")) throw new SettlenetError("NOT_REGISTERED", `${params.operator} is not registered as ${article(role)}`, { account: params.operator });
  if (record.signer.toLowerCase() === params.newSigner.toLowerCase()) return unchanged(`${role} ${record.account} signs with ${params.newSigner}`);
  await requireNewAccount(chain, params.newSigner, "a signing key");
  const summary = `${role} ${record.account} now signs with ${params.newSigner} (was ${record.signer})`;
  if (params.operator) {
    await requireGovernance(chain, actor);
    return sendAs(actor, chain.registry, "rotateKeyFor", [record.account, params.newSigner], summary);
  }
  return sendAs(actor, chain.registry, "rotateKey", [params.newSigner], summary);
}

/** Runs `settlenet institution|regulator <command> …`. */
export async function operatorCommand(role: OperatorRole, args: string[]): Promise<void> {
  const [command, ...rest] = args;
  const usage = `usage: settlenet ${role} register --address <a> --peer-id <id> --name <name> | suspend|reactivate --address <a> | set-peer-id --peer-id <id> | rotate-key --new-signer <a> [--address <${role}>]; with ${CHAIN_USAGE}`;
  const values = parse(rest, { ...CHAIN_OPTIONS, address: { type: "string" }, "peer-id": { type: "string" }, name: { type: "string" }, "new-signer": { type: "string" } }, usage);
  const { rpc: _r, deployment: _d, key: _k, "password-env": _p, json: _j, ...own } = values;
  if (command === "register") {
    const params = validate(z.strictObject({ address, "peer-id": peerId, name }), own);
    return withContext(values, usage, async (ctx) => printResult(await registerOperator(ctx.chain, ctx.actor, role, { address: params.address, peerId: params["peer-id"], name: params.name }), ctx.json));
  }
  if (command === "suspend" || command === "reactivate") {
    const params = validate(z.strictObject({ address }), own);
    return withContext(values, usage, async (ctx) => printResult(await setOperatorActive(ctx.chain, ctx.actor, role, params.address, command === "reactivate"), ctx.json));
  }
  if (command === "set-peer-id") {
    const params = validate(z.strictObject({ "peer-id": peerId }), own);
    return withContext(values, usage, async (ctx) => printResult(await setOwnPeerId(ctx.chain, ctx.actor, role, params["peer-id"]), ctx.json));
  }
  if (command === "rotate-key") {
    const params = validate(z.strictObject({ "new-signer": address, address: address.optional() }), own);
    return withContext(values, usage, async (ctx) => printResult(await rotateOperatorKey(ctx.chain, ctx.actor, role, { newSigner: params["new-signer"], operator: params.address }), ctx.json));
  }
  throw new SettlenetError("USAGE", usage);
}
