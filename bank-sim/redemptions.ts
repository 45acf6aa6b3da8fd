/**
 * The bank's check before it pays a payout: the payout's reference must have been redeemed on-chain,
 * final, by the holder whose registered payout account is the one to pay, for exactly the amount asked.
 * The bank reads the chain itself (SettlementToken's `Redeemed` event, indexed by bank reference, and the
 * registry's payout account), so it never pays on the gateway's word alone: whoever can call the bank
 * still cannot get money out without a burn the merchant's own key signed.
 */
import { Contract, Interface, JsonRpcProvider, Network, encodeBytes32String, keccak256, toUtf8Bytes, type Provider } from "ethers";

import { SettlenetError } from "../core/errors.js";
import { loadArtifact } from "../core/protocol/artifacts.js";
import type { Deployment } from "../core/protocol/deployment.js";

/** What a payout request asks the bank to pay. */
export interface PayoutClaim {
  reference: string;
  account: string;
  amount: bigint;
  currency: string;
}

/** The check a payout must pass before the bank accepts it; throws a coded SettlenetError otherwise. */
export interface RedemptionCheck {
  verify(claim: PayoutClaim): Promise<void>;
}

export interface ChainRedemptionsOptions {
  deployment: Pick<Deployment, "deploymentBlock" | "tokens" | "contracts">;
  /** Blocks a redemption must be under the head before it counts as final. */
  confirmations: number;
}

/** The on-chain bank reference of a payout reference (what the gateway signs into the redemption). */
export function redemptionRefOf(reference: string): string {
  return keccak256(toUtf8Bytes(reference));
}

/** Verifies payouts against redemptions on the chain (see the module comment). */
export class ChainRedemptions implements RedemptionCheck {
  private readonly token = new Interface(loadArtifact("SettlementToken").abi);
  private readonly registry: Contract;
  private readonly redeemedTopic: string;

  constructor(
    private readonly options: ChainRedemptionsOptions,
    private readonly provider: Provider,
  ) {
    this.registry = new Contract(options.deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, provider);
    const event = this.token.getEvent("Redeemed");
    if (!event) throw new SettlenetError("ABI_MISMATCH", "SettlementToken ABI lacks event Redeemed", { event: "Redeemed" });
    this.redeemedTopic = event.topicHash;
  }

  /** A checker reading the chain at `rpcUrl`. */
  static connect(rpcUrl: string, chainId: bigint, options: ChainRedemptionsOptions): ChainRedemptions {
    return new ChainRedemptions(options, new JsonRpcProvider(rpcUrl, Network.from(chainId), { staticNetwork: true, cacheTimeout: -1 }));
  }

  /** Stops the provider's polling (a checker made by `connect`). */
  close(): void {
    if (this.provider instanceof JsonRpcProvider) this.provider.destroy();
  }

  async verify(claim: PayoutClaim): Promise<void> {
    const token = Object.entries(this.options.deployment.tokens).find(([key, t]) => key === claim.currency || t.symbol === claim.currency)?.[1];
    if (!token) throw new SettlenetError("REDEMPTION_MISMATCH", `${claim.currency} is no settlement token this bank pays out`, { field: "currency" });
    const bankRef = redemptionRefOf(claim.reference);
    const logs = await this.read(async () => {
      const head = await this.provider.getBlockNumber();
      const final = head - this.options.confirmations;
      if (final < this.options.deployment.deploymentBlock) return [];
      return this.provider.getLogs({ address: token.address, topics: [this.redeemedTopic, null, null, bankRef], fromBlock: this.options.deployment.deploymentBlock, toBlock: final });
    });
    const log = logs.find((l) => !l.removed);
    if (!log) throw new SettlenetError("REDEMPTION_NOT_FINAL", `no final redemption carries reference ${claim.reference} yet`, { reference: claim.reference, bankRef });
    const event = this.token.parseLog(log);
    const holder = String(event?.args.getValue("holder"));
    const amount = event?.args.getValue("amount") as bigint;
    if (amount !== claim.amount) {
      throw new SettlenetError("REDEMPTION_MISMATCH", `the redemption of ${claim.reference} burned ${amount}, not ${claim.amount}`, { field: "amount", redeemed: amount.toString() });
    }
    const registered = String(await this.read(() => this.registry.getFunction("payoutAccountOf")(holder) as Promise<string>)).toLowerCase();
    const candidates = [keccak256(toUtf8Bytes(claim.account))];
    if (Buffer.byteLength(claim.account, "utf8") <= 31) candidates.push(encodeBytes32String(claim.account));
    if (!candidates.some((c) => c.toLowerCase() === registered)) {
      throw new SettlenetError("REDEMPTION_MISMATCH", `account ${claim.account} is not the payout account the redeeming holder registered`, { field: "account", holder });
    }
  }

  private async read<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (error) {
      throw new SettlenetError("CHAIN_UNAVAILABLE", `the bank cannot read the chain: ${(error as Error).message}`, {}, { cause: error });
    }
  }
}
