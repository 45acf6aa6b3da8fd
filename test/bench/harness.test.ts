/**
 * The benchmark harness's own arithmetic and reporting: percentiles (unfinished work counts as
 * infinitely slow), the closed-loop counter, and the table/doc rendering of met, missed and failed rows.
 */
import { expect } from "chai";

import { closedLoop } from "../../bench/lib/load.js";
import { consoleTable, markdown } from "../../bench/lib/render.js";
import type { RunResults } from "../../bench/lib/results.js";
import { percentile, summarize } from "../../bench/lib/stats.js";

function results(overrides: Partial<RunResults> = {}): RunResults {
  return {
    startedAt: "2026-01-01T00:00:00.000Z",
    finishedAt: "2026-01-01T00:04:30.000Z",
    command: "npm run bench -- --quick",
    quick: true,
    options: {},
    machine: { cpuModel: "Test CPU", cores: 2, cpuMhz: 0, memoryGiB: 4, freeMemoryGiB: 2, os: "linux", arch: "x64", node: "v22", loadAverage: [0.1, 0.1, 0.1] },
    loadAverageAtEnd: [0.5, 0.2, 0.1],
    commit: { sha: "0123456789abcdef", dirty: false },
    benchmarks: [
      {
        name: "storage",
        rows: [
          {
            benchmark: "storage",
            metric: "writes",
            value: 1234.5,
            unit: "ops/s",
            target: "≥ 40,000/s",
            met: false,
            notes: "n",
            bottleneck: { stage: "fsync", evidence: "disk sync p50 0.3 ms" },
          },
        ],
        details: {},
        durationSeconds: 1,
      },
      { name: "gas", rows: [{ benchmark: "gas", metric: "batch of 10", value: 78_000, unit: "gas", target: "–", met: undefined, notes: "" }], details: {}, durationSeconds: 1 },
      { name: "gossip", rows: [], details: {}, error: "network did not start", durationSeconds: 0 },
    ],
    ...overrides,
  };
}

describe("bench harness", function () {
  it("takes nearest-rank percentiles and counts unfinished work as infinitely slow", function () {
    const values = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(values, 50)).to.equal(50);
    expect(percentile(values, 99)).to.equal(99);
    expect(percentile([5], 99)).to.equal(5);
    expect(Number.isNaN(percentile([], 50))).to.equal(true);
    const summary = summarize([...Array.from({ length: 98 }, () => 10), 20, Infinity]);
    expect(summary.p99).to.equal(20);
    expect(summary.max).to.equal(Infinity);
    // hardhat-ethers-chai-matchers turns closeTo into a bigint matcher, so compare the float by hand.
    expect(Math.abs(summary.mean - (98 * 10 + 20) / 99)).to.be.lessThan(1e-9);
    expect(summarize([10, Infinity]).p99).to.equal(Infinity);
  });

  it("runs a closed loop to the deadline and counts failures without stopping", async function () {
    const result = await closedLoop({ concurrency: 3, durationMs: 200 }, async (seq) => {
      await new Promise((r) => setTimeout(r, 5));
      if (seq % 2 === 1) throw new Error(`odd ${seq}`);
    });
    expect(result.completed + result.failed).to.equal(result.started);
    expect(result.completed).to.be.greaterThan(10);
    expect(result.failed).to.be.within(result.completed - 3, result.completed + 3);
    expect(result.errors[0]).to.match(/^odd \d+$/);
    expect(result.elapsedMs).to.be.at.least(200);
  });

  it("prints met, missed, untargeted and failed rows with the bottleneck", function () {
    const table = consoleTable(results());
    expect(table).to.contain("1,235 ops/s");
    expect(table).to.match(/storage\s+writes.*missed/);
    expect(table).to.match(/gas\s+batch of 10\s+78,000 gas\s+–\s+–/);
    expect(table).to.match(/gossip\s+failed: network did not start.*failed/);
    expect(table).to.contain("fsync — disk sync p50 0.3 ms");
  });

  it("writes the doc with machine, command, quick and contention marks", function () {
    const quiet = markdown(results(), "bench/results/x.json");
    expect(quiet).to.contain("| storage | writes | 1,235 ops/s | ≥ 40,000/s | **missed** |");
    expect(quiet).to.contain("`npm run bench -- --quick`");
    expect(quiet).to.contain("Test CPU, 2 cores");
    expect(quiet).to.contain("**Quick run**");
    expect(quiet).to.contain("this run took 4.5 minutes");
    expect(quiet).not.to.contain("Contended machine");
    const busy = markdown(results({ machine: { ...results().machine, loadAverage: [3.2, 2, 1] } }), "bench/results/x.json");
    expect(busy).to.contain("**Contended machine**");
  });
});
