/**
 * The bank as the custodian's independent reserve attestor: it reads the custodian's reserve account
 * balance from its own books (store.ts) and records a signed statement of it on the settlement token
 * (`SettlementToken.attestReserveStatement`: custodian, amount, as-of time, the next sequence number, the hash
 * of the statement), whenever the balance changed and at least every `heartbeatMs` so that the
 * statement never goes stale while nothing moves.
 *
 * The bank sends the transaction itself, with its own key and gas, rather than through an institution
 * node: the statement's worth is that it does not depend on the consortium, and least of all on the
 * custodian's own node, which could otherwise hold back a statement that shows a shortfall. The chain's
 * latest statement is the source of the sequence number, so a restart or a lost receipt never skips or
 * repeats one; the as-of time is the latest block's, so the statement is never dated after the block
 * that records it.
 */
import { Contract, JsonRpcProvider, Network, ZeroAddress, keccak256, toUtf8Bytes, type HDNodeWallet, type Wallet } from "ethers";
import type { Logger } from "pino";

import { SettlenetError } from "../core/errors.js";
import { loadArtifact } from "../core/protocol/artifacts.js";
import type { Deployment } from "../core/protocol/deployment.js";
import type { BankStore } from "./store.js";

export interface ReserveAttestorOptions {
  deployment: Deployment;
  rpcUrl: string;
  /** The custodian institution (its registry id) whose reserve account this bank keeps. */
  custodian: string;
  /** The token, by symbol, and the bank currency of the reserve account (the same code). */
  currency: string;
  /** How often the books are compared with the latest statement. */
  pollMs: number;
  /** Longest time between two statements while the balance does not change. */
  heartbeatMs: number;
}

export interface ReserveAttestorModules {
  store: Pick<BankStore, "reserve">;
  /** The attestor key the registry names for `custodian`. */
  wallet: Wallet | HDNodeWallet;
  logger: Logger;
}

/** The statement the bank signs, hashed on-chain as `statementHash`. */
export interface ReserveStatement {
  custodian: string;
  currency: string;
  balance: string;
  asOf: number;
  sequence: string;
}

/** keccak256 of the statement's canonical JSON (keys in a fixed order). */
export function statementHashOf(statement: ReserveStatement): string {
  const { custodian, currency, balance, asOf, sequence } = statement;
  return keccak256(toUtf8Bytes(JSON.stringify({ custodian, currency, balance, asOf, sequence })));
}

/** Attests the custodian's reserves from the bank's books; see the module comment. */
export class ReserveAttestor {
  private readonly provider: JsonRpcProvider;
  private readonly token: Contract;
  private readonly registry: Contract;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private stopped = false;

  constructor(
    private readonly options: ReserveAttestorOptions,
    private readonly modules: ReserveAttestorModules,
  ) {
    const token = options.deployment.tokens[options.currency];
    if (!token) throw new SettlenetError("UNSUPPORTED_CURRENCY", `${options.currency} is not a settlement token of the deployment`, { currency: options.currency });
    this.provider = new JsonRpcProvider(options.rpcUrl, Network.from(BigInt(options.deployment.chainId)), { staticNetwork: true, cacheTimeout: -1, pollingInterval: 250 });
    const signer = modules.wallet.connect(this.provider);
    this.token = new Contract(token.address, loadArtifact("SettlementToken").abi, signer);
    this.registry = new Contract(options.deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, this.provider);
  }

  start(): void {
    const tick = () => {
      if (this.stopped) return;
      this.running = this.attestOnce()
        .then(() => undefined)
        .catch((error: unknown) => this.modules.logger.warn({ err: error, code: (error as SettlenetError).code }, "reserve attestation failed; retrying"))
        .finally(() => {
          if (!this.stopped) this.timer = setTimeout(tick, this.options.pollMs);
        });
    };
    tick();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearTimeout(this.timer);
    await this.running;
    this.provider.destroy();
  }

  /**
   * Records a statement if the books differ from the latest one on-chain or the heartbeat is due;
   * returns the statement sent (after its receipt), or undefined if none was needed.
   */
  async attestOnce(): Promise<ReserveStatement | undefined> {
    const { custodian, currency } = this.options;
    const attestor = (await this.registry.getFunction("reserveAttestorOf")(custodian)) as string;
    if (attestor === ZeroAddress || attestor.toLowerCase() !== this.modules.wallet.address.toLowerCase()) {
      throw new SettlenetError("NOT_RESERVE_ATTESTOR", `the registry names ${attestor} as ${custodian}'s reserve attestor, not this bank's key ${this.modules.wallet.address}`, { attestor, custodian });
    }
    const [books, latest, block] = await Promise.all([
      this.modules.store.reserve(currency),
      this.token.getFunction("reservesOf")(custodian) as Promise<{ amount: bigint; asOf: bigint; sequence: bigint }>,
      this.provider.getBlock("latest"),
    ]);
    if (!block) throw new SettlenetError("CHAIN_UNAVAILABLE", "the chain returned no latest block");
    const balance = BigInt(books.balance);
    const changed = latest.sequence === 0n || latest.amount !== balance;
    // The heartbeat runs in chain time from the latest statement, so a restart sends no extra one.
    const heartbeatDue = (BigInt(block.timestamp) - latest.asOf) * 1000n >= BigInt(this.options.heartbeatMs);
    if (!changed && !heartbeatDue) return undefined;
    const statement: ReserveStatement = { custodian, currency, balance: balance.toString(), asOf: block.timestamp, sequence: (latest.sequence + 1n).toString() };
    const tx = (await this.token.getFunction("attestReserveStatement")(custodian, balance, statement.asOf, latest.sequence + 1n, statementHashOf(statement))) as {
      hash: string;
      wait(): Promise<{ status: number | null } | null>;
    };
    const receipt = await tx.wait();
    if (receipt?.status !== 1) throw new SettlenetError("ATTESTATION_FAILED", `the reserve statement transaction ${tx.hash} failed`, { txHash: tx.hash });
    this.modules.logger.info({ custodian, currency, balance: statement.balance, sequence: statement.sequence, asOf: statement.asOf, txHash: tx.hash }, "reserves attested");
    return statement;
  }
}
