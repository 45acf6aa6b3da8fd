/**
 * `settlenet deploy --rpc <url> --key <governance keystore> --out <deployment file>`: deploys and wires
 * the contracts (scripts/lib/deploy.ts) on any JSON-RPC chain and writes the deployment file nodes and
 * the gateway read. Run again with the same file it checks that deployment on the chain and changes
 * nothing; a file whose contracts are not on that chain is refused, never overwritten.
 *   [--admin <a>] governance account if not the deploying key, [--fee-receiver <a>], [--max-fee-bps <n>]
 */
import { existsSync } from "node:fs";

import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { checkDeploymentOnChain } from "../../core/chain/startup.js";
import { readDeployment, writeDeployment, type Deployment } from "../../core/protocol/deployment.js";
import { deploySettlenet } from "../lib/deploy.js";
import { address, feeBps, loadKey, parse, printResult, validate } from "./args.js";
import { actorOf, providerFor, unchanged, type ActionResult, type Actor } from "../../core/operator/chain.js";

export interface DeployParams {
  /** Where the deployment file is (read if it exists, written otherwise). */
  out: string;
  rpcUrl: string;
  admin?: string | undefined;
  feeReceiver?: string | undefined;
  maxFeeBps?: number | undefined;
}

/** Deploys unless `out` already describes a deployment on this chain; returns the deployment either way. */
export async function deploy(deployer: Actor, params: DeployParams): Promise<{ result: ActionResult; deployment: Deployment }> {
  const provider = deployer.signer.provider;
  if (!provider) throw new Error("the deploying signer needs a provider");
  if (existsSync(params.out)) {
    const deployment = await readDeployment(params.out);
    await checkDeploymentOnChain(provider as Parameters<typeof checkDeploymentOnChain>[0], deployment, { rpcUrl: params.rpcUrl, deploymentFile: params.out });
    return { result: unchanged(`Settlenet is deployed on chain ${deployment.chainId} (registry ${deployment.contracts.registry}, block ${deployment.deploymentBlock}; ${params.out})`), deployment };
  }
  const { deployment } = await deploySettlenet(deployer.signer, {
    ...(params.admin ? { admin: params.admin } : {}),
    ...(params.feeReceiver ? { feeReceiver: params.feeReceiver } : {}),
    ...(params.maxFeeBps !== undefined ? { maxFeeBps: params.maxFeeBps } : {}),
  });
  await writeDeployment(params.out, deployment);
  const head = await provider.getBlockNumber();
  const contracts = Object.entries(deployment.contracts).map(([k, v]) => `${k} ${v}`).join(", ");
  return { result: { changed: true, summary: `deployed Settlenet on chain ${deployment.chainId} in blocks ${deployment.deploymentBlock + 1}-${head} (${contracts}); wrote ${params.out}`, blockNumber: head }, deployment };
}

/** Runs `settlenet deploy …`. */
export async function deployCommand(args: string[]): Promise<void> {
  const usage = "usage: settlenet deploy --rpc <url> --key <governance keystore> [--password-env <VAR>] --out <deployment file> [--admin <a>] [--fee-receiver <a>] [--max-fee-bps <n>] [--json]";
  const values = parse(args, { rpc: { type: "string" }, key: { type: "string" }, "password-env": { type: "string" }, out: { type: "string" }, admin: { type: "string" }, "fee-receiver": { type: "string" }, "max-fee-bps": { type: "string" }, json: { type: "boolean" } }, usage);
  const rpc = values.rpc ?? process.env["SETTLENET_RPC_URL"];
  if (!rpc || !values.key || !values.out) throw new SettlenetError("USAGE", usage);
  const p = validate(z.strictObject({ rpc: z.url({ protocol: /^https?$/ }), admin: address.optional(), "fee-receiver": address.optional(), "max-fee-bps": feeBps.optional() }), {
    rpc,
    admin: values.admin,
    "fee-receiver": values["fee-receiver"],
    "max-fee-bps": values["max-fee-bps"],
  });
  const wallet = await loadKey(values.key, values["password-env"] ?? "SETTLENET_KEY_PASSWORD");
  const provider = await providerFor(p.rpc);
  try {
    const { result } = await deploy(await actorOf(wallet.connect(provider)), { out: values.out, rpcUrl: p.rpc, admin: p.admin, feeReceiver: p["fee-receiver"], maxFeeBps: p["max-fee-bps"] });
    printResult(result, values.json === true);
  } finally {
    provider.destroy();
  }
}
