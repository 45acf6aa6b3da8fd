/**
 * Who holds which key on a local network, read from the parts' folders and the registry: the demo
 * checks with it that the internet-facing gateway's folder holds no institution's operator key, no
 * custodian key (the custodian service beside the custodian's node holds it) and no reserve attestor
 * key, that its config names none, and that the custodian's reserves are stated by its attestor (the
 * bank), not by the custodian.
 */
import { readdir, readFile } from "node:fs/promises";
import { join } from "node:path";

import { Contract, ZeroAddress, getAddress, type JsonRpcProvider } from "ethers";

import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";

/** The address of every ethers JSON keystore directly in `dir`, by file name. */
export async function keystoresIn(dir: string): Promise<{ file: string; address: string }[]> {
  const found: { file: string; address: string }[] = [];
  for (const file of (await readdir(dir, { withFileTypes: true })).filter((e) => e.isFile() && e.name.endsWith(".json")).map((e) => e.name)) {
    try {
      const json = JSON.parse(await readFile(join(dir, file), "utf8")) as { address?: unknown; crypto?: unknown; Crypto?: unknown };
      if (typeof json.address === "string" && (json.crypto || json.Crypto)) found.push({ file, address: getAddress(json.address.startsWith("0x") ? json.address : `0x${json.address}`) });
    } catch {
      // Not JSON: no keystore.
    }
  }
  return found;
}

export interface KeyHolding {
  /** Keystores in the gateway's folder and what the registry says each key is. */
  gatewayKeys: { file: string; address: string; role: string }[];
  /** Gateway keys that are an institution's operator key, a custodian key or a reserve attestor. */
  forbidden: { file: string; address: string; role: string }[];
  /** Key files the gateway's config (gateway.json) names that are not its permit relayer's. */
  configuredKeys: string[];
  /** The custodian institution, its attestor and whether the latest statement came from it. */
  reserves: { custodian: string; attestor: string; attestorIsInstitution: boolean; attestedBy: string | undefined };
}

/** What the gateway's keys are, and who attested the custodian's reserves (see the module comment). */
export async function keyHolding(gatewayDir: string, provider: JsonRpcProvider, deployment: Deployment, custodian: string, symbol = "CNY"): Promise<KeyHolding> {
  const registry = new Contract(deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, provider);
  const token = new Contract(deployment.tokens[symbol]?.address ?? ZeroAddress, loadArtifact("SettlementToken").abi, provider);
  const nodes = (await registry.getFunction("nodes")()) as { account: string; signer: string; regulator: boolean }[];
  const operatorKeys = new Set(nodes.map((n) => n.signer.toLowerCase()));
  const attestor = (await registry.getFunction("reserveAttestorOf")(custodian)) as string;
  const gatewayKeys = await Promise.all(
    (await keystoresIn(gatewayDir)).map(async (k) => {
      const lower = k.address.toLowerCase();
      const custodianOf = (await registry.getFunction("custodianInstitutionOf")(k.address)) as string;
      const role = operatorKeys.has(lower)
        ? "institution operator key"
        : lower === attestor.toLowerCase()
          ? "reserve attestor"
          : custodianOf !== ZeroAddress
            ? `custodian key of ${custodianOf}`
            : "no role";
      return { ...k, role };
    }),
  );
  const filter = token.filters["ReservesAttested"]?.(custodian);
  const events = filter ? await token.queryFilter(filter, deployment.deploymentBlock) : [];
  const last = events.at(-1) as { args?: { getValue(name: string): unknown } } | undefined;
  return {
    gatewayKeys,
    forbidden: gatewayKeys.filter((k) => k.role !== "no role"),
    configuredKeys: await configuredKeys(join(gatewayDir, "gateway.json")),
    reserves: {
      custodian,
      attestor,
      attestorIsInstitution: operatorKeys.has(attestor.toLowerCase()),
      attestedBy: last?.args ? String(last.args.getValue("attestor")) : undefined,
    },
  };
}

/** Keystore sections of the gateway's config other than the permit relayer's (e.g. a `custodian` keystore; a TLS certificate's key is not one). */
async function configuredKeys(configFile: string): Promise<string[]> {
  let config: Record<string, unknown>;
  try {
    config = JSON.parse(await readFile(configFile, "utf8")) as Record<string, unknown>;
  } catch {
    return [];
  }
  return Object.entries(config)
    .filter(([name, value]) => name !== "permitRelayer" && typeof value === "object" && value !== null && "keyFile" in value && !("certFile" in value))
    .map(([name]) => name);
}
