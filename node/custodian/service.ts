/**
 * The custodian service: runs beside the custodian institution's node (in its process, enabled by the
 * node config's `custodian` section) and is the only holder of the custodian key. The internet-facing
 * gateway holds none: it asks the bank for a deposit and learns the outcome from the node.
 *
 * It learns of money from the bank alone, by reading the bank's transfer feed with signed requests:
 * - a confirmed deposit whose reference names a merchant (core/bank/references.ts) is minted to that
 *   merchant, once the account the bank collected from is the one registered for the merchant
 *   on-chain, with bankRef keccak256(bank reference);
 * - a rejected payout is reversed: the merchant's redemption carrying the payout's reference, drawn on
 *   this custodian, is read on-chain and its amount minted back to the holder, with bankRef
 *   keccak256(payout id + ":reversal").
 * Anything else (pending transfers, deposits of no merchant, another custodian's redemption) is left
 * alone; a transfer that does not check out is stored `refused` and never minted.
 *
 * Exactly once: one record per bank transfer (custody store, synced before anything is signed); one
 * mint operation in flight at a time, submitted through this node's pipeline (stored, gossiped and
 * relayed like any operation). A failed attempt is replaced only after its deadline has passed in
 * chain time, when it can no longer execute anywhere, and only if the chain holds no Minted event for
 * the transfer's bankRef. After `maxMintAttempts` dead attempts the transfer ends `failed` and a
 * CUSTODY_MINT_FAILED alert is raised (stored and gossiped to the regulators like the monitors').
 */
import { Contract, Interface, encodeBytes32String, getAddress, keccak256, toUtf8Bytes, zeroPadValue, type AbstractProvider, type HDNodeWallet, type Wallet } from "ethers";
import type { Logger } from "pino";

import type { SubmitOutcome } from "../../core/api/operations.js";
import type { CustodyTransfer } from "../../core/api/custody.js";
import { chainBankRef, parseDepositReference, reversalBankRef } from "../../core/bank/references.js";
import type { TransferWire } from "../../core/bank/wire.js";
import { SettlenetError } from "../../core/errors.js";
import { PeriodicRunner } from "../../core/periodic.js";
import { signTokenOperation, tokenOperationDigest, tokenOperationSchema } from "../../core/operations/index.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment, TokenDeployment } from "../../core/protocol/deployment.js";
import { randomNonce } from "../../core/random-ids.js";
import type { StoredOperation } from "../../core/records.js";
import { alertId, type Alert } from "../compliance/alert.js";
import type { RegistryView } from "../services.js";
import type { CustodianBank } from "./bank.js";
import type { CustodianConfig } from "./config.js";
import type { CustodyRecord, CustodyStore, MintAttempt } from "./store.js";

/** Node answers that mean it already holds this very operation. */
const ALREADY_THERE = new Set(["DUPLICATE", "ALREADY_EXECUTED"]);
const FEED_PAGE = 100;

export interface CustodianServiceOptions extends Pick<CustodianConfig, "pollIntervalMs" | "maxMintAttempts" | "mintDeadlineSeconds"> {
  deployment: Deployment;
}

export interface CustodianServiceModules {
  store: CustodyStore;
  bank: Pick<CustodianBank, "transfers" | "transfer">;
  /** The custodian key (nothing else signs mints). */
  wallet: Wallet | HDNodeWallet;
  provider: AbstractProvider;
  registry: Pick<RegistryView, "custodianInstitutionOf">;
  /** The node's submit path (validation, storage, gossip, relay). */
  submit(inputs: unknown[]): Promise<SubmitOutcome[]>;
  /** The node's record of an operation. */
  operation(id: string): Promise<StoredOperation | undefined>;
  /** Stores and gossips alerts as the node's own (node/compliance/service.ts). */
  raise(alerts: Alert[]): Promise<unknown>;
  logger: Logger;
  /** The node's chain time in seconds (node/chain/clock.ts; undefined before its first read). */
  chainNow?: () => number | undefined;
  /** Record times (ms); the machine's clock by default. */
  now?: () => number;
}

/** The API view of a record (without the signed operation). */
export function custodyView(record: CustodyRecord): CustodyTransfer {
  const { attempt: _attempt, ...view } = record;
  return view;
}

export class CustodianService {
  private readonly now: () => number;
  private readonly token = new Interface(loadArtifact("SettlementToken").abi);
  private readonly registryContract: Contract;
  private readonly runner: PeriodicRunner<void>;

  constructor(
    private readonly options: CustodianServiceOptions,
    private readonly modules: CustodianServiceModules,
  ) {
    this.now = modules.now ?? Date.now;
    // stop() makes a pass in progress end after the record it is on.
    this.runner = new PeriodicRunner("custodian pass", options.pollIntervalMs, () => this.tickOnce(), modules.logger);
    this.registryContract = new Contract(options.deployment.contracts.registry, loadArtifact("ParticipantRegistry").abi, modules.provider);
  }

  get(bankRef: string): Promise<CustodyRecord | undefined> {
    return this.modules.store.get(bankRef);
  }

  start(): void {
    this.runner.start();
  }

  stop(): Promise<void> {
    return this.runner.stop();
  }

  /** Reads the bank's feed to its end, then advances every record still minting once. */
  async tickOnce(): Promise<void> {
    await this.readBank();
    for (const bankRef of await this.modules.store.open()) {
      if (this.runner.closing) return;
      await this.advance(bankRef).catch((error: unknown) => this.log.warn({ bankRef, code: (error as SettlenetError).code, err: error }, "advancing a custody mint failed; retrying"));
    }
  }

  // ---------------------------------------------------------------- the bank's feed

  private async readBank(): Promise<void> {
    let cursor = await this.modules.store.cursor();
    for (;;) {
      const page = await this.modules.bank.transfers(cursor, FEED_PAGE);
      const records: CustodyRecord[] = [];
      for (const transfer of page.transfers) {
        if (await this.modules.store.get(transfer.bankRef)) continue;
        const record = await this.intake(transfer);
        if (record) records.push(record);
      }
      const next = page.nextCursor ?? undefined;
      const created = await this.modules.store.addPage(records, next);
      for (const r of created) {
        if (r.status === "refused") this.log.warn({ bankRef: r.bankRef, reference: r.reference, failure: r.failure }, "bank transfer refused: nothing minted");
        else this.log.info({ bankRef: r.bankRef, kind: r.kind, to: r.to, amount: r.amount }, "bank transfer to mint");
      }
      if (next !== undefined) cursor = next;
      if (!page.hasMore) return;
    }
  }

  /** The record a settled transfer calls for (undefined: not the custodian's business). */
  private async intake(transfer: TransferWire): Promise<CustodyRecord | undefined> {
    if (transfer.kind === "deposit" && transfer.status === "confirmed") {
      const named = parseDepositReference(transfer.reference);
      if (!named) return undefined; // a deposit of no merchant (e.g. the reserve account's own funding)
      const base = this.baseRecord(transfer, "deposit", chainBankRef(transfer.bankRef));
      const token = this.tokenOf(transfer.currency);
      if (!token) return { ...base, status: "refused", failure: { code: "UNSUPPORTED_CURRENCY", message: `${transfer.currency} is not a settlement token here` } };
      const merchant = getAddress(named.merchant);
      if (!(await this.accountMatches(merchant, transfer.account))) {
        return { ...base, token: token.address, status: "refused", failure: { code: "ACCOUNT_MISMATCH", message: `the deposit's account is not the one registered for ${merchant}` } };
      }
      return { ...base, to: merchant, token: token.address };
    }
    if (transfer.kind === "payout" && transfer.status === "rejected") {
      const base = this.baseRecord(transfer, "reversal", reversalBankRef(transfer.reference));
      const token = this.tokenOf(transfer.currency);
      if (!token) return undefined;
      const redemption = await this.redemptionOf(token, transfer.reference);
      if (!redemption) return undefined; // drawn on another custodian (or never redeemed): not this custodian's to reverse
      if (redemption.amount !== BigInt(transfer.amount)) {
        return { ...base, token: token.address, status: "refused", failure: { code: "AMOUNT_MISMATCH", message: `the redemption was of ${redemption.amount}, the bank's payout of ${transfer.amount}` } };
      }
      if (!(await this.accountMatches(redemption.holder, transfer.account))) {
        return { ...base, token: token.address, status: "refused", failure: { code: "ACCOUNT_MISMATCH", message: `the payout's account is not the one registered for ${redemption.holder}` } };
      }
      return { ...base, to: redemption.holder, token: token.address };
    }
    return undefined;
  }

  private baseRecord(transfer: TransferWire, kind: CustodyRecord["kind"], bankRef: string): CustodyRecord {
    const nowMs = this.now();
    return {
      bankRef: transfer.bankRef,
      kind,
      reference: transfer.reference,
      to: null,
      token: null,
      amount: transfer.amount,
      currency: transfer.currency,
      chainBankRef: bankRef,
      status: "minting",
      attempts: 0,
      createdAtMs: nowMs,
      updatedAtMs: nowMs,
    };
  }

  // ---------------------------------------------------------------- minting

  /** One step of a record's mint: sign an attempt, submit it, read its outcome. */
  async advance(bankRef: string): Promise<CustodyRecord> {
    const store = this.modules.store;
    let record = await store.get(bankRef);
    if (!record) throw new SettlenetError("CUSTODY_TRANSFER_NOT_FOUND", `no custody record ${bankRef}`, { bankRef });
    if (record.status !== "minting") return record;
    const update = (change: (r: CustodyRecord) => CustodyRecord) => store.update(bankRef, (r) => ({ ...change(r), updatedAtMs: this.now() }));

    let attempt = record.attempt;
    if (attempt?.error) {
      const head = await this.modules.provider.getBlock("latest");
      if (!head) return record;
      // Until its deadline has passed, a failed operation could still execute (relayed again by anyone holding it).
      if (head.timestamp <= attempt.deadline) return record;
      if (await this.mintedOnChain(record)) return this.finish(record, "minted");
      if (record.attempts >= this.options.maxMintAttempts) return this.fail(record, attempt.error, head);
      attempt = undefined;
    }
    if (!attempt) {
      if (await this.mintedOnChain(record)) return this.finish(record, "minted");
      if (record.attempts === 0) {
        const refusal = await this.recheckWithBank(record);
        if (refusal) {
          this.log.warn({ bankRef, failure: refusal }, "the bank no longer confirms the transfer: nothing minted");
          return update((r) => ({ ...r, status: "refused", failure: refusal }));
        }
      }
      const next = await this.sign(record);
      // Stored before it is submitted: a crash in between resubmits this operation, never signs another.
      record = await update((r) => ({ ...r, attempt: next, attempts: r.attempts + 1, operationId: next.operationId }));
      attempt = next;
    }

    if (!attempt.submitted) {
      const [outcome] = await this.modules.submit([attempt.op]);
      if (!outcome) throw new SettlenetError("INTERNAL", "the pipeline answered nothing");
      if (!outcome.accepted && !ALREADY_THERE.has(outcome.error.code)) {
        const error = { code: outcome.error.code, message: outcome.error.message };
        this.log.error({ bankRef, operationId: attempt.operationId, error, attempts: record.attempts }, "the node refused the custody mint");
        return update((r) => ({ ...r, attempt: { ...attempt!, error }, failure: error }));
      }
      record = await update((r) => ({ ...r, attempt: { ...attempt!, submitted: true } }));
      attempt = record.attempt as MintAttempt;
    }

    const op = await this.modules.operation(attempt.operationId);
    if (!op) return update((r) => ({ ...r, attempt: { ...attempt!, submitted: false } })); // the node lost it: submit again
    if (op.status === "executed") return this.finish(record, "minted");
    if (op.status === "failed") {
      const error = op.error ? { code: op.error.code, message: op.error.message } : { code: "OPERATION_FAILED", message: "the mint failed on-chain" };
      this.log.error({ bankRef, operationId: attempt.operationId, error, attempts: record.attempts, maxAttempts: this.options.maxMintAttempts }, "custody mint failed");
      return update((r) => ({ ...r, attempt: { ...attempt!, error }, failure: error }));
    }
    return record;
  }

  private finish(record: CustodyRecord, status: "minted"): Promise<CustodyRecord> {
    this.log.info({ bankRef: record.bankRef, kind: record.kind, to: record.to, amount: record.amount, operationId: record.operationId }, "custody mint executed");
    return this.modules.store.update(record.bankRef, (r) => {
      const { failure: _failure, ...rest } = r;
      return { ...rest, status, updatedAtMs: this.now() };
    });
  }

  private async fail(record: CustodyRecord, error: { code: string; message: string }, head: { number: number; timestamp: number }): Promise<CustodyRecord> {
    const failure = { code: "MINT_FAILED", message: `the mint failed ${record.attempts} times (last: ${error.code})` };
    const failed = await this.modules.store.update(record.bankRef, (r) => ({ ...r, status: "failed", failure, updatedAtMs: this.now() }));
    this.log.error({ bankRef: record.bankRef, kind: record.kind, to: record.to, amount: record.amount, attempts: record.attempts, lastError: error, alert: "CUSTODY_MINT_FAILED" }, "custody mint failed for good: the bank holds the money, no tokens exist for it");
    await this.modules.raise([
      {
        id: alertId("CUSTODY_MINT_FAILED", record.bankRef),
        rule: "CUSTODY_MINT_FAILED",
        category: "reserves",
        account: record.to ?? this.modules.wallet.address,
        token: record.token ?? this.tokenOf(record.currency)?.address ?? this.modules.wallet.address,
        paymentIds: [],
        amount: record.amount,
        facts: { bankRef: record.bankRef, reference: record.reference.slice(0, 256), kind: record.kind, attempts: String(record.attempts), lastError: error.code.slice(0, 256) },
        at: head.timestamp,
        blockNumber: head.number,
      },
    ]);
    return failed;
  }

  /** Signs a fresh mint of the record (random nonce; deadline from chain time). */
  private async sign(record: CustodyRecord): Promise<MintAttempt> {
    const token = this.tokenOf(record.currency);
    if (!token || !record.to) throw new SettlenetError("INTERNAL", "a minting record without token or recipient", { bankRef: record.bankRef });
    const head = await this.modules.provider.getBlock("latest");
    if (!head) throw new SettlenetError("RPC_INCONSISTENT", "the RPC has no latest block", {});
    // By the node's chain clock (the head plus the time since the node saw it), the one the node's
    // validation judges deadlines by: never the machine's clock, which may run ahead of the chain's,
    // and a replacement waits until the chain has passed the deadline.
    const deadline = Math.max(head.timestamp, this.modules.chainNow?.() ?? 0) + this.options.mintDeadlineSeconds;
    const ctx = { chainId: BigInt(this.options.deployment.chainId), tokenName: token.name };
    const op = await signTokenOperation(
      this.modules.wallet,
      {
        kind: "mint",
        token: token.address,
        to: record.to,
        amount: record.amount,
        bankRef: record.chainBankRef,
        nonce: randomNonce().toString(),
        deadline: String(deadline),
      },
      ctx,
    );
    return { operationId: tokenOperationDigest(tokenOperationSchema.parse(op), ctx), op: op as unknown as Record<string, string>, deadline, submitted: false };
  }

  /** Asks the bank once more before the first mint: still confirmed (or rejected, for a reversal) with the same figures. */
  private async recheckWithBank(record: CustodyRecord): Promise<{ code: string; message: string } | undefined> {
    const transfer = await this.modules.bank.transfer(record.bankRef);
    const expected = record.kind === "deposit" ? { kind: "deposit", status: "confirmed" } : { kind: "payout", status: "rejected" };
    if (transfer.kind !== expected.kind || transfer.status !== expected.status) return { code: "BANK_NOT_CONFIRMED", message: `the bank reports the ${transfer.kind} ${transfer.status}` };
    if (transfer.amount !== record.amount || transfer.currency !== record.currency || transfer.reference !== record.reference) {
      return { code: "BANK_RECORD_MISMATCH", message: "the bank's record differs from the one first read" };
    }
    return undefined;
  }

  // ---------------------------------------------------------------- chain reads

  private institution(): string {
    const institution = this.modules.registry.custodianInstitutionOf(this.modules.wallet.address);
    if (!institution?.active) {
      throw new SettlenetError("CUSTODIAN_KEY_UNKNOWN", `${this.modules.wallet.address} is not the custodian key of an active institution (settlenet custodian key)`, { key: this.modules.wallet.address });
    }
    return institution.id;
  }

  private tokenOf(currency: string): TokenDeployment | undefined {
    return Object.values(this.options.deployment.tokens).find((t) => t.symbol === currency);
  }

  /** The account text matches the merchant's registered payout account (keccak256 of it, or its bytes32 encoding). */
  private async accountMatches(merchant: string, account: string): Promise<boolean> {
    const registered = ((await this.registryContract.getFunction("payoutAccountOf")(merchant)) as string).toLowerCase();
    const candidates = [keccak256(toUtf8Bytes(account))];
    if (Buffer.byteLength(account, "utf8") <= 31) candidates.push(encodeBytes32String(account));
    return candidates.some((c) => c.toLowerCase() === registered);
  }

  /** The redemption with the payout's reference drawn on this custodian, if the chain has one. */
  private async redemptionOf(token: TokenDeployment, reference: string): Promise<{ holder: string; amount: bigint } | undefined> {
    const event = this.token.getEvent("Redeemed");
    if (!event) throw new SettlenetError("ABI_MISMATCH", "SettlementToken ABI lacks Redeemed", {});
    const logs = await this.modules.provider.getLogs({
      address: token.address,
      topics: [event.topicHash, null, zeroPadValue(this.institution(), 32), chainBankRef(reference)],
      fromBlock: this.options.deployment.deploymentBlock,
      toBlock: "latest",
    });
    const first = logs[0];
    if (!first) return undefined;
    const parsed = this.token.parseLog(first);
    if (!parsed) return undefined;
    return { holder: getAddress(String(parsed.args.getValue("holder"))), amount: parsed.args.getValue("amount") as bigint };
  }

  /** True if the chain holds a Minted event of this custodian to the record's recipient with its bankRef. */
  private async mintedOnChain(record: CustodyRecord): Promise<boolean> {
    const event = this.token.getEvent("Minted");
    if (!event || !record.token || !record.to) return false;
    const logs = await this.modules.provider.getLogs({
      address: record.token,
      topics: [event.topicHash, zeroPadValue(this.institution(), 32), zeroPadValue(record.to, 32), record.chainBankRef],
      fromBlock: this.options.deployment.deploymentBlock,
      toBlock: "latest",
    });
    return logs.length > 0;
  }

  private get log(): Logger {
    return this.modules.logger;
  }
}

