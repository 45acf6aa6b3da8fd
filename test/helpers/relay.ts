/**
 * What the relay tests build on a real chain served over JSON-RPC: signed escrow operations as the
 * node stores them, relayers (each with its own key's transaction sender) on temporary storage, and
 * read-outs of what the chain did.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { Interface, keccak256, type JsonRpcProvider, toUtf8Bytes, type HDNodeWallet, type Wallet } from "ethers";
import { pino } from "pino";

import { loadArtifact } from "../../core/protocol/artifacts.js";
import { escrowDomain } from "../../core/protocol/eip712.js";
import {
  ESCROW_ACTION_TYPES,
  PAYMENT_TYPES,
  escrowOperationSchema,
  operationIdOf,
  paymentIdOf,
  termsToJson,
  type EscrowContext,
  type EscrowOperationInput,
  type PaymentTerms,
} from "../../core/operations/index.js";
import type { OperationOrigin, OperationStatus, StoredOperation } from "../../core/records.js";
import { BatchRelayer, type BatchRelayerOptions } from "../../node/relay/relayer.js";
import { TransactionSender } from "../../node/relay/sender.js";
import type { Storage } from "../../node/services.js";
import { openStorage } from "../../node/storage/db.js";
import { deployScenario, startChain, type LocalChain, type Scenario, type ScenarioOptions } from "./chain.js";
import { waitFor as waitUntil } from "./wait.js";

export const logger = pino({ level: process.env["RELAY_LOG_LEVEL"] ?? "silent" });
export const escrowIface = new Interface(loadArtifact("PaymentEscrow").abi);
export const PAID_TOPIC = escrowIface.getEvent("PaymentPaid")?.topicHash ?? "";
export const FAILED_TOPIC = escrowIface.getEvent("OperationFailed")?.topicHash ?? "";
export const ZERO32 = "0x" + "00".repeat(32);
/** PaymentEscrow.PaymentStatus values. */
export const Status = { None: 0n, Held: 1n, Fulfilled: 2n, Released: 4n } as const;

/** Polls `predicate` (test/helpers/wait.ts) until it holds; fails after `timeoutMs`. */
export async function waitFor(what: string, predicate: () => Promise<boolean> | boolean, timeoutMs = 15_000): Promise<void> {
  await waitUntil(what, predicate, timeoutMs, 25);
}

/** Options of a test relayer: the relayer's own, plus its sender's. */
export type TestRelayerOptions = Partial<BatchRelayerOptions> & { receiptPollMs?: number };

/** A deployed scenario plus the relay tests' builders; `cleanup()` after each test, `close()` after all. */
export class RelayFixture {
  private seq = 0;
  private readonly cleanups: (() => Promise<void>)[] = [];

  private constructor(
    readonly chain: LocalChain,
    readonly s: Scenario,
    readonly ctx: EscrowContext,
  ) {}

  static async start(options: ScenarioOptions): Promise<RelayFixture> {
    const chain = await startChain();
    const s = await deployScenario(chain, options);
    return new RelayFixture(chain, s, { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow });
  }

  /**
   * Registers a suite's hooks (call it in `describe`): a fixture started before the suite's tests and
   * handed to `started`, cleaned up after each test, closed after all.
   */
  static forSuite(options: ScenarioOptions, started: (fixture: RelayFixture) => void): void {
    let fixture: RelayFixture | undefined;
    before(async function () {
      fixture = await RelayFixture.start(options);
      started(fixture);
    });
    afterEach(async function () {
      await fixture?.cleanup();
    });
    after(async function () {
      await fixture?.close();
    });
  }

  /** Runs `cleanup` at the end of the current test (last registered, first run). */
  onCleanup(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  async cleanup(): Promise<void> {
    for (const cleanup of this.cleanups.splice(0).reverse()) await cleanup();
  }

  async close(): Promise<void> {
    await this.chain.close();
  }

  /** The chain's own time (EDR's clock can lag the wall clock in a long test run, so never mix them). */
  async chainNow(): Promise<bigint> {
    const block = await this.chain.provider.getBlock("latest");
    if (!block) throw new Error("no latest block");
    return BigInt(block.timestamp);
  }

  async terms(payer: Wallet | HDNodeWallet, amount: bigint, overrides: Partial<PaymentTerms> = {}): Promise<PaymentTerms> {
    this.seq++;
    const merchant = this.s.merchants[0];
    const token = this.s.deployment.tokens["CNY"];
    if (!merchant || !token) throw new Error("scenario incomplete");
    return {
      payer: payer.address,
      merchant: merchant.address,
      token: token.address,
      amount,
      orderId: keccak256(toUtf8Bytes(`relayer-test-order-${this.seq}`)),
      feeBps: 100,
      direct: false,
      payDeadline: (await this.chainNow()) + 3600n,
      fulfilmentPeriod: 3600,
      autoReleasePeriod: 3600,
      refundPeriod: 3600,
      nonce: BigInt(this.seq),
      ...overrides,
    };
  }

  payer(i: number): Wallet | HDNodeWallet {
    const p = this.s.payers[i % this.s.payers.length];
    if (!p) throw new Error("no payer");
    return p;
  }

  institution(i: number): HDNodeWallet {
    const inst = this.s.institutions[i];
    if (!inst) throw new Error("no institution");
    return inst;
  }

  merchant(): Wallet | HDNodeWallet {
    const merchant = this.s.merchants[0];
    if (!merchant) throw new Error("no merchant");
    return merchant;
  }

  async pay(payer: Wallet | HDNodeWallet, t: PaymentTerms): Promise<EscrowOperationInput> {
    const signature = await payer.signTypedData(escrowDomain(this.ctx.chainId, this.ctx.escrow), PAYMENT_TYPES, t);
    return { kind: "pay", terms: termsToJson(t), signature };
  }

  async action(kind: "refund" | "confirm" | "markFulfilled", signer: Wallet | HDNodeWallet, t: PaymentTerms, extra: { amount?: bigint } = {}): Promise<EscrowOperationInput> {
    const paymentId = paymentIdOf(t, this.ctx);
    this.seq++;
    const nonce = BigInt(this.seq);
    const deadline = (await this.chainNow()) + 3600n;
    const base = { paymentId, nonce, deadline };
    const message = kind === "refund" ? { ...base, amount: extra.amount ?? 0n, reason: ZERO32 } : base;
    const signature = await signer.signTypedData(escrowDomain(this.ctx.chainId, this.ctx.escrow), ESCROW_ACTION_TYPES[kind], message);
    const signed = { terms: termsToJson(t), nonce: nonce.toString(), deadline: deadline.toString(), signature };
    if (kind === "refund") return { kind, ...signed, amount: (extra.amount ?? 0n).toString(), reason: ZERO32 };
    return { kind, ...signed };
  }

  /** `op` as the node stores an accepted operation. */
  stored(op: EscrowOperationInput, origin: OperationOrigin, receivedAtMs = Date.now()): StoredOperation {
    const parsed = escrowOperationSchema.parse(op);
    return {
      id: operationIdOf(parsed, this.ctx),
      kind: parsed.kind,
      paymentId: paymentIdOf(parsed.terms, this.ctx),
      op,
      signer: null,
      origin,
      status: "accepted",
      receivedAtMs,
      updatedAtMs: receivedAtMs,
    };
  }

  /** A relayer of institution `i` with its own transaction sender; stopped after the test. */
  relayer(i: number, storage: Storage, options: TestRelayerOptions = {}, provider: JsonRpcProvider = this.chain.provider, catchUp?: () => Promise<unknown>): BatchRelayer {
    const wallet = this.institution(i).connect(provider);
    const { receiptPollMs, ...relayerOptions } = options;
    const sender = new TransactionSender(
      { ...(receiptPollMs === undefined ? {} : { receiptPollMs }), ...(options.maxRetryDelayMs === undefined ? {} : { maxRetryDelayMs: options.maxRetryDelayMs }) },
      { wallet, logger },
    );
    const r = new BatchRelayer(
      { deployment: this.s.deployment, institutionId: wallet.address, ...relayerOptions },
      { sender, storage, logger, activeInstitutions: () => this.s.institutions.map((inst) => ({ id: inst.address })), ...(catchUp ? { catchUp } : {}) },
    );
    this.onCleanup(() => r.stop());
    return r;
  }

  /**
   * Delivers every lease message one relayer publishes to the others (what the lease topic does
   * between nodes); `tap` sees each message first and may drop it (return false).
   */
  linkLeases(relayers: BatchRelayer[], tap?: (from: BatchRelayer, data: Uint8Array) => boolean): void {
    for (const from of relayers) {
      from.setLeasePublisher(async (data) => {
        if (tap && !tap(from, data)) return 0;
        const others = relayers.filter((to) => to !== from);
        for (const to of others) to.onLease(data);
        return others.length;
      });
    }
  }

  /** Node storage in a temporary directory; closed and removed after the test. */
  async storage(): Promise<Storage> {
    const dir = await mkdtemp(join(tmpdir(), "settlenet-relayer-"));
    const st = await openStorage(dir);
    this.onCleanup(async () => {
      await st.close();
      await rm(dir, { recursive: true, force: true });
    });
    return st;
  }

  async statuses(st: Storage, ops: StoredOperation[]): Promise<(OperationStatus | undefined)[]> {
    return Promise.all(ops.map(async (op) => (await st.operations.get(op.id))?.status));
  }

  async allFinal(st: Storage, ops: StoredOperation[]): Promise<boolean> {
    return (await this.statuses(st, ops)).every((status) => status === "executed" || status === "failed");
  }

  async logsSince(fromBlock: number, topic: string) {
    return this.chain.provider.getLogs({ address: this.ctx.escrow, fromBlock, toBlock: "latest", topics: [topic] });
  }

  async paidCount(fromBlock: number, paymentId: string): Promise<number> {
    const logs = await this.chain.provider.getLogs({ address: this.ctx.escrow, fromBlock, toBlock: "latest", topics: [PAID_TOPIC, paymentId] });
    return logs.length;
  }

  async balance(address: string): Promise<bigint> {
    return this.s.token.balanceOf(address);
  }
}
