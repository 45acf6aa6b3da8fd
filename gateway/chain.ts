/**
 * What the gateway reads from the chain directly: a merchant's registry record (kind, status, fee),
 * so payment terms carry the fee the escrow will check. Reads go to the configured JSON-RPC endpoint.
 */
import { Contract, JsonRpcProvider, Network } from "ethers";

import { SettlenetError } from "../node/errors.js";
import { loadArtifact } from "../node/protocol/artifacts.js";
import type { Deployment } from "../node/protocol/deployment.js";

const ACCOUNT_KINDS = ["none", "institution", "merchant", "customer", "protocol"] as const;
const STATUS_ACTIVE = 1n;

export interface MerchantAccount {
  kind: (typeof ACCOUNT_KINDS)[number];
  active: boolean;
  feeBps: number;
  institution: string;
}

/** Registry reads for the gateway. */
export interface ChainReader {
  account(address: string): Promise<MerchantAccount>;
  close(): Promise<void>;
}

/** A ChainReader on a JSON-RPC endpoint. */
export function createChainReader(rpcUrl: string, deployment: Deployment): ChainReader {
  const provider = new JsonRpcProvider(rpcUrl, Network.from(BigInt(deployment.chainId)), { staticNetwork: true, cacheTimeout: -1 });
  const registry = new Contract(deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, provider);
  return {
    async account(address) {
      let record: { kind: bigint; status: bigint; feeBps: bigint; institution: string };
      try {
        record = (await registry.getFunction("accountOf")(address)) as typeof record;
      } catch (error) {
        throw new SettlenetError("CHAIN_UNAVAILABLE", `cannot read the registry: ${(error as Error).message}`, {}, { cause: error });
      }
      return {
        kind: ACCOUNT_KINDS[Number(record.kind)] ?? "none",
        active: record.status === STATUS_ACTIVE,
        feeBps: Number(record.feeBps),
        institution: record.institution,
      };
    },
    async close() {
      provider.destroy();
    },
  };
}
