/**
 * gas: runs the gas report's measurement (scripts/gas.ts on Hardhat's in-process EDR chain, with
 * GAS_JSON set so it also writes its numbers) and turns them into benchmark rows. Where a target is
 * missed, the biggest parts of the transaction's opcode-trace attribution are the bottleneck.
 */
import { spawn } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createRequire } from "node:module";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";

import { projectRoot } from "../lib/paths.js";
import { Progress } from "../lib/progress.js";
import { atMost, fmt, type BenchmarkResult, type Bottleneck, type Row } from "../lib/results.js";

const require = createRequire(import.meta.url);
const TARGETS = { payConfirm: 120_000, batchPay: 50_000, anchoringPerPayment: 50 };

type Parts = { intrinsic: number; contracts: Record<string, Record<string, number>> };
interface GasJson {
  pair: { direct: { pay: number; confirm: number }; relayed: { pay: number; confirm: number } };
  batches: { batch: string; items: number; total: number; key?: string }[];
  finalize: { gas: number; attestations: number; records: number };
  parts: { directPay: Parts; directConfirm: Parts; payInBatchOf100: Parts; finalize: Parts };
}

/** The `top` biggest (contract, category) parts of one or more attributed transactions, per `divisor` items. */
function biggestParts(list: Parts[], divisor = 1, top = 3): string {
  const totals = new Map<string, number>();
  const add = (key: string, gas: number) => totals.set(key, (totals.get(key) ?? 0) + gas / divisor);
  for (const parts of list) {
    add("transaction base + calldata", parts.intrinsic);
    for (const [contract, categories] of Object.entries(parts.contracts)) {
      for (const [category, gas] of Object.entries(categories)) if (gas > 0) add(`${contract} ${category}`, gas);
    }
  }
  return [...totals]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([part, gas]) => `${part} ${fmt(gas)}`)
    .join("; ");
}

function runGasScript(jsonFile: string, progress: Progress): Promise<void> {
  const hardhatPackage = require.resolve("hardhat/package.json");
  const cli = join(dirname(hardhatPackage), (require(hardhatPackage) as { bin: { hardhat: string } }).bin.hardhat);
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, [cli, "run", "scripts/gas.ts"], {
      cwd: projectRoot,
      env: { ...process.env, GAS_JSON: jsonFile },
      stdio: ["ignore", "ignore", "pipe"],
    });
    let stderr = "";
    child.stderr.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
    const stop = progress.every(1_000, () => "measuring gas on the in-process EDR chain (scripts/gas.ts)");
    child.once("exit", (code) => {
      stop();
      if (code === 0) resolveRun();
      else reject(new Error(`scripts/gas.ts exited with ${code}: ${stderr.slice(-2_000)}`));
    });
  });
}

export async function runGas(): Promise<BenchmarkResult> {
  const progress = new Progress("gas");
  const started = performance.now();
  const dir = await mkdtemp(join(tmpdir(), "settlenet-bench-gas-"));
  try {
    const file = join(dir, "gas.json");
    await runGasScript(file, progress);
    const gas = JSON.parse(await readFile(file, "utf8")) as GasJson;
    const batchOf = (items: number) => {
      const batch = gas.batches.find((b) => b.items === items && b.batch === `${items} pays`);
      if (!batch) throw new Error(`no batch of ${items} pays in the gas measurements`);
      return batch.total / batch.items;
    };
    const pair = gas.pair.direct.pay + gas.pair.direct.confirm;
    const relayedPair = gas.pair.relayed.pay + gas.pair.relayed.confirm;
    const pay10 = batchOf(10);
    const pay100 = batchOf(100);
    const perPayment = gas.finalize.gas / gas.finalize.records;
    const miss = (ok: boolean, bottleneck: Bottleneck): Partial<Row> => (ok ? {} : { bottleneck });

    const rows: Row[] = [
      {
        benchmark: "gas",
        metric: "pay + confirm, two single transactions",
        value: pair,
        unit: "gas",
        target: `≤ ${fmt(TARGETS.payConfirm)}`,
        met: atMost(pair, TARGETS.payConfirm),
        notes: `direct calls (pay ${fmt(gas.pair.direct.pay)} + confirm ${fmt(gas.pair.direct.confirm)}); relayed with signatures ${fmt(relayedPair)}`,
        ...miss(atMost(pair, TARGETS.payConfirm), {
          stage: "biggest parts of the two transactions (opcode trace)",
          evidence: biggestParts([gas.parts.directPay, gas.parts.directConfirm]),
        }),
      },
      {
        benchmark: "gas",
        metric: "pay, per item in a relayed batch of 10",
        value: pay10,
        unit: "gas",
        target: "–",
        met: undefined,
        notes: "executeBatch of 10 pays by 10 distinct payers; total / 10",
      },
      {
        benchmark: "gas",
        metric: "pay, per item in a relayed batch of 100",
        value: pay100,
        unit: "gas",
        target: `≤ ${fmt(TARGETS.batchPay)}`,
        met: atMost(pay100, TARGETS.batchPay),
        notes: "executeBatch of 100 pays by 100 distinct payers; total / 100",
        ...miss(atMost(pay100, TARGETS.batchPay), {
          stage: "biggest parts per pay in the batch (opcode trace)",
          evidence: biggestParts([gas.parts.payInBatchOf100]),
        }),
      },
      {
        benchmark: "gas",
        metric: `Merkle anchoring per payment, ${fmt(gas.finalize.records)} payments per cycle`,
        value: perPayment,
        unit: "gas",
        target: `≤ ${TARGETS.anchoringPerPayment}`,
        met: atMost(perPayment, TARGETS.anchoringPerPayment),
        notes: `SettlementLedger.finalize ${fmt(gas.finalize.gas)} gas with ${gas.finalize.attestations} attestations / ${fmt(gas.finalize.records)}`,
        ...miss(atMost(perPayment, TARGETS.anchoringPerPayment), {
          stage: "biggest parts of finalize (opcode trace)",
          evidence: `${biggestParts([gas.parts.finalize])} (per cycle; divide by ${gas.finalize.records} per payment)`,
        }),
      },
    ];
    return { name: "gas", rows, details: gas as unknown as Record<string, unknown>, durationSeconds: (performance.now() - started) / 1000 };
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}
