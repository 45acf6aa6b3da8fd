/**
 * chain: what the chain process alone spends per payment. The chain runs as its own process, as in
 * every network benchmark (in memory) or journaled (as `npm start` runs it), with the consortium
 * deployed; the harness then plays the relayer without any node: pays signed in advance, encoded
 * once as executeBatch items (core/operations/calldata.ts), sent as raw transactions from one key
 * with consecutive nonces and the fixed gas limit of core/chain/batch-gas.ts, a few in flight, each
 * receipt polled as the node's sender does. CPU is the chain process's own (/proc), over the window
 * from the first send to the last receipt, per payment held; gas per payment comes from the receipts.
 * Every item must execute: a failed item (OperationFailed) or a reverted batch is counted.
 */
import { join } from "node:path";
import { mkdtemp, rm } from "node:fs/promises";

import { Interface, Wallet, hexlify, type JsonRpcProvider, type TransactionReceipt } from "ethers";

import { batchGasLimit } from "../../core/chain/batch-gas.js";
import { encodeBatchItem, executeBatchCalldata } from "../../core/operations/calldata.js";
import { escrowOperationSchema, toContractOperation } from "../../core/operations/index.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import { startChainProcess } from "../../scripts/lib/launch/chain.js";
import { DEV_ACCOUNTS, deployScenario } from "../../scripts/lib/launch/consortium.js";
import { cpuSecondsOf } from "../lib/cpu.js";
import { signedPay } from "../lib/ops.js";
import { Progress } from "../lib/progress.js";
import { fmt, type BenchmarkResult, type Row } from "../lib/results.js";

export interface ChainOptions {
  /** Pays relayed in each of the two runs (in memory, journaled). */
  payments: number;
  /** Pays per executeBatch transaction (the node's default batch). */
  batch: number;
  /** Batch transactions in flight. */
  inFlight: number;
  /** Where the journaled chain and the logs go. */
  dataRoot: string;
}

interface Run {
  journaled: boolean;
  payments: number;
  held: number;
  failedItems: number;
  revertedBatches: number;
  transactions: number;
  cpuSeconds: number | null;
  gasUsed: bigint;
  seconds: number;
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

async function receiptOf(provider: JsonRpcProvider, hash: string): Promise<TransactionReceipt> {
  for (;;) {
    const receipt = await provider.getTransactionReceipt(hash);
    if (receipt) return receipt;
    await sleep(20);
  }
}

async function runOnce(options: ChainOptions, journaled: boolean, progress: Progress): Promise<Run> {
  const dir = await mkdtemp(join(options.dataRoot, "settlenet-bench-chain-"));
  const chain = await startChainProcess({ logFile: join(dir, "chain.log"), stopTimeoutMs: 10_000, ...(journaled ? { dataDir: join(dir, "chain") } : {}) });
  try {
    const scenario = await deployScenario(chain, { merchants: 10, payers: 100, payerFunds: 100_000_000n });
    const { deployment } = scenario;
    const ctx = { chainId: BigInt(deployment.chainId), escrow: deployment.contracts.escrow };
    const token = deployment.tokens["CNY"]?.address;
    if (!token) throw new Error("no CNY token");
    const payDeadline = BigInt(Math.floor(Date.now() / 1000) + 3_600);
    const items: Buffer[] = [];
    for (let i = 0; i < options.payments; i++) {
      const payer = scenario.payers[i % scenario.payers.length] as Wallet;
      const merchant = (scenario.merchants[i % scenario.merchants.length] as Wallet).address;
      const { op } = signedPay({ payer: { address: payer.address, privateKey: payer.privateKey }, merchant, token, feeBps: 100 }, ctx, payDeadline);
      items.push(encodeBatchItem(toContractOperation(escrowOperationSchema.parse(op))));
    }
    progress.log(`${journaled ? "journaled" : "in-memory"} chain: ${fmt(items.length)} pays signed; relaying them in batches of ${options.batch}, ${options.inFlight} in flight`);

    const relayer = new Wallet(DEV_ACCOUNTS.permitRelayer().privateKey, chain.provider);
    const escrow = deployment.contracts.escrow;
    const failedTopic = new Interface(loadArtifact("PaymentEscrow").abi).getEvent("OperationFailed")?.topicHash;
    let nonce = await chain.provider.getTransactionCount(relayer.address, "pending");
    const fee = { maxFeePerGas: 100_000_000_000n, maxPriorityFeePerGas: 1_000_000_000n };
    const pid = chain.part.process.pid;
    const cpuBefore = pid === undefined ? undefined : await cpuSecondsOf(pid);
    const started = performance.now();
    const pending: { hash: string; items: number }[] = [];
    const run: Run = { journaled, payments: items.length, held: 0, failedItems: 0, revertedBatches: 0, transactions: 0, cpuSeconds: null, gasUsed: 0n, seconds: 0 };
    const settle = async () => {
      const sent = pending.shift() as { hash: string; items: number };
      const receipt = await receiptOf(chain.provider, sent.hash);
      run.gasUsed += receipt.gasUsed;
      if (receipt.status !== 1) {
        run.revertedBatches += 1;
        return;
      }
      const failed = receipt.logs.filter((log) => log.topics[0] === failedTopic).length;
      run.failedItems += failed;
      run.held += sent.items - failed;
    };
    for (let at = 0; at < items.length; at += options.batch) {
      const batch = items.slice(at, at + options.batch);
      const data = executeBatchCalldata(batch);
      const gasLimit = batchGasLimit(batch.map(() => ({ gasClass: "pay" as const })), data);
      const raw = await relayer.signTransaction({ type: 2, chainId: ctx.chainId, nonce, to: escrow, data: hexlify(data), gasLimit, ...fee });
      nonce += 1;
      pending.push({ hash: (await chain.provider.send("eth_sendRawTransaction", [raw])) as string, items: batch.length });
      run.transactions += 1;
      if (pending.length >= options.inFlight) await settle();
      progress.update(`${fmt(run.held)} / ${fmt(items.length)} held`);
    }
    while (pending.length > 0) await settle();
    run.seconds = (performance.now() - started) / 1000;
    const cpuAfter = pid === undefined ? undefined : await cpuSecondsOf(pid);
    run.cpuSeconds = cpuBefore === undefined || cpuAfter === undefined ? null : cpuAfter - cpuBefore;
    return run;
  } finally {
    await chain.close();
    if (!process.env["SETTLENET_KEEP_E2E"]) await rm(dir, { recursive: true, force: true });
  }
}

export async function runChain(options: ChainOptions): Promise<BenchmarkResult> {
  const progress = new Progress("chain");
  const started = performance.now();
  const runs: Run[] = [];
  for (const journaled of [false, true]) runs.push(await runOnce(options, journaled, progress));
  const rows: Row[] = runs.flatMap((run): Row[] => {
    const where = run.journaled ? "journaled chain (npm start)" : "in-memory chain (network benchmarks)";
    const failures = { ...(run.failedItems ? { ITEM_FAILED: run.failedItems } : {}), ...(run.revertedBatches ? { BATCH_REVERTED: run.revertedBatches } : {}) };
    const notes = `${fmt(run.payments)} pays in ${fmt(run.transactions)} executeBatch transactions of ${options.batch}, ${options.inFlight} in flight, no nodes; ${fmt(run.held)} held`;
    return [
      {
        benchmark: "chain",
        metric: `chain CPU per pay relayed in batches, ${where}`,
        value: run.cpuSeconds === null || run.held === 0 ? null : (run.cpuSeconds * 1000) / run.held,
        unit: "ms",
        target: "–",
        met: undefined,
        ...(Object.keys(failures).length ? { failures } : {}),
        notes,
      },
      {
        benchmark: "chain",
        metric: `gas per pay in those batches, ${where}`,
        value: run.payments === 0 ? null : Number(run.gasUsed) / run.payments,
        unit: "gas",
        target: "–",
        met: undefined,
        notes: "receipts' gasUsed summed over the batches, per pay (transaction base and calldata included)",
      },
    ];
  });
  return { name: "chain", rows, details: { runs: runs.map((r) => ({ ...r, gasUsed: r.gasUsed.toString() })) }, durationSeconds: (performance.now() - started) / 1000 };
}
