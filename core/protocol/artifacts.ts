/** Loads compiled contract artifacts (ABI and bytecode) written by `hardhat build`. */
import { readFileSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

import type { InterfaceAbi } from "ethers";

export const CONTRACT_NAMES = ["ParticipantRegistry", "SettlementToken", "PaymentEscrow", "SettlementLedger"] as const;
export type ContractName = (typeof CONTRACT_NAMES)[number];

export interface Artifact {
  abi: InterfaceAbi;
  bytecode: string;
}

const projectRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..");
const cache = new Map<ContractName, Artifact>();

export function loadArtifact(name: ContractName): Artifact {
  const cached = cache.get(name);
  if (cached) return cached;
  const path = join(projectRoot, "artifacts", "contracts", `${name}.sol`, `${name}.json`);
  let parsed: Artifact;
  try {
    parsed = JSON.parse(readFileSync(path, "utf8")) as Artifact;
  } catch (error) {
    throw new Error(`contract artifact ${name} is missing at ${path}; run \`npx hardhat build\` first`, { cause: error });
  }
  cache.set(name, parsed);
  return parsed;
}
