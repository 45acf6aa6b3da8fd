/** The deployment file: where the contracts of one Settlenet network live. Nodes and the gateway read it. */
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";

import { z } from "zod";

const address = z.string().regex(/^0x[0-9a-fA-F]{40}$/, "expected a 0x-prefixed 20-byte address");

export const tokenDeploymentSchema = z.strictObject({
  address,
  symbol: z.string().min(1),
  name: z.string().min(1),
  decimals: z.number().int().nonnegative(),
});

export const deploymentSchema = z.strictObject({
  chainId: z.string().regex(/^\d+$/, "chain id as a decimal string"),
  deploymentBlock: z.number().int().nonnegative(),
  deployer: address,
  contracts: z.strictObject({
    registry: address,
    escrow: address,
    ledger: address,
  }),
  tokens: z.record(z.string(), tokenDeploymentSchema),
  feeReceiver: address,
});

export type Deployment = z.infer<typeof deploymentSchema>;
export type TokenDeployment = z.infer<typeof tokenDeploymentSchema>;

export async function readDeployment(path: string): Promise<Deployment> {
  const raw: unknown = JSON.parse(await readFile(path, "utf8"));
  return deploymentSchema.parse(raw);
}

export async function writeDeployment(path: string, deployment: Deployment): Promise<void> {
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, `${JSON.stringify(deploymentSchema.parse(deployment), null, 2)}\n`);
}
