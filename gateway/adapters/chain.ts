/**
 * What the gateway reads from the chain directly: a merchant's registry record (kind, status, fee),
 * so payment terms carry the fee the escrow will check. Reads go to the configured JSON-RPC endpoint.
 * An active merchant's record is reused for `cacheMs` (concurrent reads of one address share one
 * call): every order would otherwise wait for an eth_call, and the escrow checks the fee again at pay
 * time anyway. Any other answer (not registered, suspended) is never cached.
 */
import { Contract, JsonRpcProvider, Network } from "ethers";

import { SettlenetError } from "../../core/errors.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { ACCOUNT_KINDS, STATUS_ACTIVE, type AccountKindName } from "../../core/protocol/registry.js";


export interface MerchantAccount {
  kind: AccountKindName;
  active: boolean;
  feeBps: number;
  institution: string;
}

/** Registry reads for the gateway. */
export interface ChainReader {
  account(address: string): Promise<MerchantAccount>;
  close(): Promise<void>;
}

/** Options of createChainReader. */
export interface ChainReaderOptions {
  /** How long an active merchant's record is reused (0: read the chain every time). Default 2,000 ms. */
  cacheMs?: number;
  /** Polling interval of the provider (ethers' default is 4 s). */
  pollingInterval?: number;
}

/** A ChainReader on a JSON-RPC endpoint. */
export function createChainReader(rpcUrl: string, deployment: Deployment, options: ChainReaderOptions = {}): ChainReader {
  const provider = new JsonRpcProvider(rpcUrl, Network.from(BigInt(deployment.chainId)), {
    staticNetwork: true,
    cacheTimeout: -1,
    ...(options.pollingInterval ? { pollingInterval: options.pollingInterval } : {}),
  });
  const registry = new Contract(deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, provider);
  const cacheMs = options.cacheMs ?? 2_000;
  const cache = new Map<string, { account: Promise<MerchantAccount>; untilMs: number }>();

  async function read(address: string): Promise<MerchantAccount> {
    let record: {
      kind: bigint;
      status: bigint;
      feeBps: bigint;
      institution: string;
    };
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
  }

  return {
    account(address) {
      if (cacheMs <= 0) return read(address);
      const key = address.toLowerCase();
      const now = Date.now();
      const hit = cache.get(key);
      if (hit && hit.untilMs > now) return hit.account;
      const account = read(address);
      const entry = { account, untilMs: now + cacheMs };
      cache.set(key, entry);
      // Only an active merchant is reused; failures and other answers are read again next time.
      account.then(
        (a) => {
          if (!(a.kind === "merchant" && a.active) && cache.get(key) === entry) cache.delete(key);
        },
        () => {
          if (cache.get(key) === entry) cache.delete(key);
        },
      );
      return account;
    },
    async close() {
      provider.destroy();
    },
  };
}
