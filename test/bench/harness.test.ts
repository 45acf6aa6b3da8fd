/**
 * The benchmark harness's own arithmetic and reporting: percentiles (unfinished work counts as
 * infinitely slow), the closed-loop counter, failures by code (a row with any is never met), medians
 * over runs, CPU per unit of work by role from /proc, metrics read by name, duplicate relayed items
 * from calldata, the data folder's file system, and the table/doc rendering.
 */
import { randomBytes } from "node:crypto";

import { expect } from "chai";
import { Interface } from "ethers";

import { escrowOperationSchema, toContractOperation } from "../../core/operations/index.js";
import { loadArtifact } from "../../core/protocol/artifacts.js";
import { RelayedItemCounter } from "../../bench/lib/chain-scan.js";
import { CpuMeter, cpuPerUnit, parseMachineStat, parseProcStat, type CpuShare } from "../../bench/lib/cpu.js";
import { chooseDataRoot, filesystemOf } from "../../bench/lib/data-dir.js";
import { Failures, codeOfAnswer, codeOfError, describeFailures } from "../../bench/lib/failures.js";
import { groupSizesText, type GroupCounters } from "../../bench/lib/group-sizes.js";
import { closedLoop } from "../../bench/lib/load.js";
import { metricByLabel, metricSum } from "../../bench/lib/metrics.js";
import { signedPay } from "../../bench/lib/ops.js";
import { consoleTable, markdown } from "../../bench/lib/render.js";
import { combineRuns, median } from "../../bench/lib/repeat.js";
import { verdict, type BenchmarkResult, type Row, type RunResults } from "../../bench/lib/results.js";
import { percentile, summarize } from "../../bench/lib/stats.js";
import { writesPerPayment, writesText, type WriteCounts } from "../../bench/lib/storage-writes.js";
import { SettlenetError } from "../../core/errors.js";

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
    expect(quiet).to.contain("| storage | writes | 1,235 ops/s | ≥ 40,000/s | – | **missed** |");
    expect(quiet).to.contain("`npm run bench -- --quick`");
    expect(quiet).to.contain("Test CPU, 2 cores");
    expect(quiet).to.contain("**Quick run**");
    expect(quiet).to.contain("this run took 4.5 minutes");
    expect(quiet).not.to.contain("Contended machine");
    const busy = markdown(results({ machine: { ...results().machine, loadAverage: [3.2, 2, 1] } }), "bench/results/x.json");
    expect(busy).to.contain("**Contended machine**");
    // Where the network benchmarks measured the machine's other work, that decides, not the load before.
    const measured = (otherWork: number, loadAverage: number[]) => {
      const base = results();
      const e2e = { name: "end-to-end", rows: [], details: { runs: [{ machineCores: { busy: 1.9, otherWork } }] }, durationSeconds: 1 };
      return markdown({ ...base, machine: { ...base.machine, loadAverage }, benchmarks: [...base.benchmarks, e2e] }, "bench/results/x.json");
    };
    expect(measured(0.01, [3.2, 2, 1])).not.to.contain("Contended machine");
    expect(measured(0.6, [0.1, 0.1, 0.1])).to.contain("other work using up to 0.60 cores during the measured windows");
  });

  it("never calls a row with failures met, and says why", function () {
    const row: Row = { benchmark: "end-to-end", metric: "rate", value: 1_200, unit: "payments/s", target: "≥ 1,000/s", met: true, notes: "" };
    expect(verdict(row)).to.equal("met");
    expect(verdict({ ...row, failures: { NOT_HELD: 0 } })).to.equal("met");
    expect(verdict({ ...row, failures: { NOT_HELD: 2, TIMEOUT: 1 } })).to.equal("missed");
    expect(verdict({ ...row, value: null })).to.equal("failed");
    expect(verdict({ ...row, met: undefined, failures: { X: 1 } })).to.equal("–");
    const failures = new Failures();
    failures.add("TIMEOUT", "no answer");
    failures.add("RELAY_BACKLOG", undefined, 100);
    failures.add("NOT_HELD", undefined, 0);
    expect(failures.total).to.equal(101);
    expect(failures.byCode()).to.deep.equal({ RELAY_BACKLOG: 100, TIMEOUT: 1 });
    expect(describeFailures(failures.byCode())).to.equal("101 failed (100 RELAY_BACKLOG, 1 TIMEOUT)");
    expect(describeFailures({})).to.equal("0 failed");
    // The node's code behind a 5xx, a problem document's code, the transport's code.
    expect(codeOfError(new SettlenetError("NODE_UNAVAILABLE", "503", { nodeCode: "RELAY_BACKLOG" }))).to.equal("RELAY_BACKLOG");
    expect(codeOfError(new SettlenetError("NODE_UNAVAILABLE", "down"))).to.equal("NODE_UNAVAILABLE");
    expect(codeOfError(Object.assign(new TypeError("fetch failed"), { cause: { code: "ECONNRESET" } }))).to.equal("ECONNRESET");
    expect(codeOfError(new DOMException("timed out", "TimeoutError"))).to.equal("TIMEOUT");
    expect(codeOfAnswer(503, { code: "RELAY_BACKLOG", title: "busy" })).to.equal("RELAY_BACKLOG");
    expect(codeOfAnswer(502, "Bad Gateway")).to.equal("HTTP_502");
  });

  it("combines runs by their median, sums their failures and takes the verdict again", function () {
    expect(median([3, 1, 2])).to.equal(2);
    expect(median([4, 1, 3, 2])).to.equal(2.5);
    expect(Number.isNaN(median([]))).to.equal(true);
    const run = (value: number, failures: Record<string, number>, originNode: number): BenchmarkResult => ({
      name: "end-to-end",
      rows: [
        {
          benchmark: "end-to-end",
          metric: "rate",
          value,
          unit: "payments/s",
          target: "≥ 1,000/s",
          met: value >= 1_000,
          goal: { compare: "atLeast", value: 1_000 },
          failures,
          notes: `run at ${value}`,
          cpu: { unit: "payment", units: 100, originNode, peerNode: 1, peers: 3, gateway: 2, chain: 1, system: originNode + 6, loadGenerator: 0.5 },
          duplicates: { relayed: 100, duplicates: 1, metric: null },
        },
      ],
      details: { value },
      durationSeconds: 10,
    });
    // The best run met the target; the median did not: the combined row is missed.
    const combined = combineRuns("end-to-end", [run(900, {}, 4), run(1_500, {}, 6), run(950, { TIMEOUT: 2 }, 5)]);
    const [row] = combined.rows;
    if (!row) throw new Error("no row");
    expect(row.value).to.equal(950);
    expect(row.met).to.equal(false);
    expect(row.runs).to.deep.equal([900, 1_500, 950]);
    expect(row.failures).to.deep.equal({ TIMEOUT: 2 });
    expect(row.notes).to.match(/^median of 3 runs, each on a fresh network \(900 \/ 1,500 \/ 950 payments\/s\); run at 950$/);
    expect(row.cpu?.originNode).to.equal(5);
    expect(row.duplicates).to.deep.equal({ relayed: 300, duplicates: 3, metric: null });
    expect(combined.durationSeconds).to.equal(30);
    // A median that meets the target is met only without failures; a run that failed outright counts.
    const good = combineRuns("end-to-end", [run(1_100, {}, 4), run(1_200, {}, 4), { name: "end-to-end", rows: [], details: {}, error: "network did not start", durationSeconds: 1 }]);
    expect(good.rows[0]?.value).to.equal(1_150);
    expect(good.rows[0]?.met).to.equal(true);
    expect(good.rows[0]?.failures).to.deep.equal({ RUN_FAILED: 1 });
    expect(verdict(good.rows[0] as Row)).to.equal("missed");
    expect(good.error).to.match(/^1 of 3 runs failed/);
  });

  it("reads a process's CPU from /proc and reports it per unit of work by role, the load generator apart", async function () {
    // Command names may hold spaces and parentheses: fields are counted after the last ')'.
    const stat = "4242 (node (x) y) S 1 4242 4242 0 -1 4194560 1 0 0 0 250 50 0 0 20 0 11 0 1 1 1";
    expect(parseProcStat(stat)).to.equal(3);
    const shares: CpuShare[] = [
      { process: "chain", role: "chain", cpuSeconds: 1, cores: 0 },
      { process: "node 0", role: "origin node", cpuSeconds: 2, cores: 0 },
      { process: "node 1", role: "peer node", cpuSeconds: 1, cores: 0 },
      { process: "node 2", role: "peer node", cpuSeconds: 3, cores: 0 },
      { process: "gateway", role: "gateway", cpuSeconds: 0.5, cores: 0 },
      { process: "harness", role: "load generator", cpuSeconds: 4, cores: 0 },
    ];
    expect(cpuPerUnit(shares, 1_000, "payment")).to.deep.equal({ unit: "payment", units: 1_000, originNode: 2, peerNode: 2, peers: 2, gateway: 0.5, chain: 1, system: 7.5, loadGenerator: 4 });
    // Background with no load: 0.1 cores over a 20 s window is 2 s of the 1,000 payments' CPU.
    expect(cpuPerUnit(shares, 1_000, "payment", { cores: 0.1, windowSeconds: 20 }).idleSystem).to.equal(2);
    const single = cpuPerUnit(shares.filter((s) => s.role !== "peer node"), 500, "payment");
    expect(single.peerNode).to.equal(null);
    expect(single.peers).to.equal(0);
    // A real process: this one, kept busy for 300 ms of its own CPU time (not wall-clock time, which a
    // busy machine stretches), measured from /proc like any part of the network.
    const meter = new CpuMeter(() => [{ name: "this process", role: "gateway", pid: process.pid }]);
    await meter.begin();
    const before = process.cpuUsage();
    let spin = 0;
    while (process.cpuUsage(before).user < 300_000) for (let i = 0; i < 10_000; i++) spin += Math.sqrt(spin + i);
    const measured = await meter.end();
    const self = measured.find((s) => s.role === "gateway");
    const generator = measured.find((s) => s.role === "load generator");
    expect(self?.cpuSeconds).to.be.within(0.2, 1);
    expect(generator?.cpuSeconds).to.be.within(0.2, 1);
    // The whole machine was at least as busy as this process (/proc/stat), the rest is others' work.
    expect(meter.machineCores).to.be.at.least(0.9 * (self?.cores ?? 0));
    expect(meter.otherCores).to.be.at.least(0);
    expect(parseMachineStat("cpu  100 20 30 400 50 5 5 10 0 0\ncpu0 1 2 3 4 5 6 7 8 0 0\n")).to.equal(1.7);
  });

  it("reads metrics by name, tells an absent metric from a zero one, and sums series by label", function () {
    const text = [
      "# HELP settlenet_operations_validated_total Operations validated",
      "# TYPE settlenet_operations_validated_total counter",
      'settlenet_operations_validated_total{path="api",result="accept",kind="pay"} 10',
      'settlenet_operations_validated_total{path="api",result="accept",kind="refund"} 5',
      'settlenet_operations_validated_total{path="gossip",result="accept",kind="pay"} 7',
      "# TYPE settlenet_relay_duplicate_items_total counter",
      "settlenet_relay_duplicate_items_total_extra 99",
    ].join("\n");
    expect(metricSum(text, "settlenet_operations_validated_total", { path: "api", result: "accept" })).to.equal(15);
    expect(metricSum(text, "settlenet_operations_validated_total")).to.equal(22);
    expect(metricSum(text, "settlenet_relay_duplicate_items_total")).to.equal(0);
    expect(metricSum(text, "settlenet_not_exported_total")).to.equal(undefined);
  });

  it("sums a metric's series by one label's values, and reports keys and bytes written per payment by role and keyspace", function () {
    const text = [
      "# TYPE settlenet_storage_synced_writes_total counter",
      'settlenet_storage_synced_writes_total{keyspace="ops"} 40',
      'settlenet_storage_synced_writes_total{keyspace="changes"} 30',
      'settlenet_storage_synced_writes_total{keyspace="quote\\"d",other="x"} 2',
      "settlenet_storage_synced_writes_total 7",
      'settlenet_storage_synced_writes_total{subkeyspace="ops"} 5',
      'settlenet_storage_synced_writes_total_extra{keyspace="ops"} 99',
    ].join("\n");
    expect(metricByLabel(text, "settlenet_storage_synced_writes_total", "keyspace")).to.deep.equal({ ops: 40, changes: 30, 'quote\\"d': 2 });
    expect(metricByLabel(text, "settlenet_storage_synced_writes_total", "missing")).to.deep.equal({});

    const before: WriteCounts = { gateway: { orders: 10 }, nodes: [{ ops: 5 }, { ops: 1 }, {}] };
    const after: WriteCounts = { gateway: { orders: 330, nonces: 210, meta: 12 }, nodes: [{ ops: 405, changes: 300 }, { ops: 201, changes: 10 }, { ops: 200, changes: 10 }] };
    const writes = writesPerPayment(before, after, 100);
    expect(writes.gateway).to.deep.equal({ orders: 3.2, nonces: 2.1, meta: 0.12 });
    expect(writes.origin).to.deep.equal({ ops: 4, changes: 3 });
    // Peers averaged: (200 + 200) / 100 / 2 operations, (10 + 10) / 100 / 2 changes.
    expect(writes.peer).to.deep.equal({ ops: 2, changes: 0.1 });
    expect(writesText(writes)).to.equal(
      "keys written per payment (puts and deletes, by keyspace): gateway 5.4 (orders 3.2, nonces 2.1, other 0.1); origin 7.0 (ops 4.0, changes 3.0); each peer 2.1 (ops 2.0, other 0.1)",
    );
    expect(writesText(writesPerPayment(before, before, 0))).to.equal("keys written per payment (puts and deletes, by keyspace): n/a");

    // The bytes written, where the processes count them, follow in KB per payment.
    const withBytes = writesPerPayment(
      { ...before, bytes: { gateway: { orders: 0 }, nodes: [{ ops: 0 }, {}, {}] } },
      { ...after, bytes: { gateway: { orders: 400_000, nonces: 20_000 }, nodes: [{ ops: 350_000, changes: 150_000 }, { ops: 230_000 }, { ops: 230_000, changes: 20_000 }] } },
      100,
    );
    expect(withBytes.bytes).to.deep.equal({ gateway: { orders: 4_000, nonces: 200 }, origin: { ops: 3_500, changes: 1_500 }, peer: { ops: 2_300, changes: 100 } });
    expect(writesText(withBytes)).to.equal(
      "keys written per payment (puts and deletes, by keyspace): gateway 5.4 (orders 3.2, nonces 2.1, other 0.1); origin 7.0 (ops 4.0, changes 3.0); each peer 2.1 (ops 2.0, other 0.1); " +
        "KB of keys and JSON values written per payment: gateway 4.2 (orders 4.0, nonces 0.2); origin 5.0 (ops 3.5, changes 1.5); each peer 2.4 (ops 2.3, changes 0.1)",
    );
  });

  it("reports group sizes from the change of the nodes' counters over the window (origin first, peers summed)", function () {
    const zero: GroupCounters = { apiGroups: 0, apiOps: 0, gossipGroups: 0, gossipOps: 0, published: 0, publishedOps: 0, fsyncs: 0, writes: 0, posts: 0, workerSigs: 0, mainSigs: 0, rpcs: 0, copies: 0, ihave: 0, iwant: 0, idontwant: 0, processCpu: 0, mainCpu: 0, workerCpu: 0 };
    const before = [{ ...zero, apiGroups: 5, apiOps: 50, processCpu: 1, mainCpu: 0.5 }, { ...zero, gossipGroups: 7 }, zero];
    const after = [
      { ...zero, apiGroups: 15, apiOps: 150, published: 5, publishedOps: 100, fsyncs: 4, writes: 400, rpcs: 3, processCpu: 1.1, mainCpu: 0.55, workerCpu: 0.02 },
      { ...zero, gossipGroups: 12, gossipOps: 50, fsyncs: 2, writes: 20, rpcs: 10, copies: 5, idontwant: 4, processCpu: 0.06, mainCpu: 0.03, workerCpu: 0.01 },
      { ...zero, gossipGroups: 5, gossipOps: 50, fsyncs: 3, writes: 30, rpcs: 7, copies: 5, processCpu: 0.04, mainCpu: 0.02, workerCpu: 0.01 },
    ];
    const text = groupSizesText(before, after, 100);
    expect(text).to.include("origin 10.0 operations per API group (10 groups), 20.0 per gossip message published (5), 100.0 writes per fsync (4)");
    expect(text).to.include("peers 10.0 operations per gossip group validated (10), 10.0 writes per fsync (5)");
    expect(text).to.include("0.20 RPCs, 0.10 message copies (all topics, duplicates included), 0.04 IDONTWANT");
    // CPU by thread, µs per payment: the origin's own, the peers' averaged; "other" is the process's CPU less both.
    expect(text).to.include("origin main thread 500, signature workers 200, other threads 300 µs; each peer main thread 250, signature workers 100, other threads 150 µs");
    expect(groupSizesText([zero], [zero], 0)).to.include("n/a operations per API group");
  });

  it("counts duplicate relayed items from execute and executeBatch calldata by their encoding", function () {
    const escrow = new Interface(loadArtifact("PaymentEscrow").abi);
    const ctx = { chainId: 31_337n, escrow: "0x5FbDB2315678afecb367f032d93F642f64180aa3" };
    const party = (i: number) => ({
      payer: { address: "0x70997970C51812dc3A010C7d01b50e0d17dc79C8", privateKey: `0x${(i + 1).toString(16).padStart(64, "0")}` },
      merchant: "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC",
      token: "0x90F79bf6EB2c4f870365E785982E1f101E93b906",
      feeBps: 100,
    });
    const ops = [0, 1, 2].map((i) => toContractOperation(escrowOperationSchema.parse(signedPay(party(i), ctx, 2_000_000_000n).op)));
    const counter = new RelayedItemCounter();
    counter.add(escrow.encodeFunctionData("executeBatch", [[ops[0], ops[1]]]));
    // The same operations relayed again (a failover relay), one of them alone.
    counter.add(escrow.encodeFunctionData("executeBatch", [[ops[1], ops[2]]]));
    counter.add(escrow.encodeFunctionData("execute", [ops[0]]));
    // Not an escrow operation call: ignored.
    counter.add(escrow.encodeFunctionData("pause", []));
    counter.add(`0x${randomBytes(40).toString("hex")}`);
    expect(counter.result()).to.deep.equal({ items: 5, unique: 3, duplicates: 2, transactions: 3 });
  });

  it("finds the file system of the data folder and keeps databases off memory", function () {
    const mountinfo = [
      "22 27 0:21 / /proc rw,relatime - proc proc rw",
      "27 1 254:0 / / rw,relatime - ext4 /dev/vda rw",
      "41 27 254:16 / /tmp/disk rw - xfs /dev/vdb rw",
      "40 27 0:40 / /tmp rw,nosuid - tmpfs tmpfs rw,size=1024k",
      "42 27 0:41 / /mnt/with\\040space rw - tmpfs tmpfs rw",
    ].join("\n");
    expect(filesystemOf("/tmp/settlenet-bench-x", mountinfo)).to.deep.equal({ filesystem: "tmpfs", mountPoint: "/tmp" });
    expect(filesystemOf("/tmp/disk/a", mountinfo)).to.deep.equal({ filesystem: "xfs", mountPoint: "/tmp/disk" });
    expect(filesystemOf("/tmpfoo", mountinfo)).to.deep.equal({ filesystem: "ext4", mountPoint: "/" });
    expect(filesystemOf("/mnt/with space/x", mountinfo)).to.deep.equal({ filesystem: "tmpfs", mountPoint: "/mnt/with space" });
    const root = chooseDataRoot();
    expect(root.inMemory).to.equal(false);
    expect(["tmpdir", "project", "option"]).to.include(root.source);
  });

  it("renders CPU per role, duplicates, failures by code and the measured commit in the doc", function () {
    const e2e: Row = {
      benchmark: "single node",
      metric: "escrow payments created, signed and held on-chain, sustained",
      value: 250,
      unit: "payments/s",
      target: "≥ 1,000/s",
      met: false,
      goal: { compare: "atLeast", value: 1_000 },
      failures: { NOT_HELD: 3, "TIMEOUT (create)": 1 },
      notes: "n",
      cpu: { unit: "payment", units: 5_000, originNode: 3.21, peerNode: null, peers: 0, gateway: 4.1, chain: 3.4, system: 10.71, loadGenerator: 1.2, idleSystem: 2.5 },
      duplicates: { relayed: 5_000, duplicates: 25, metric: null },
    };
    const burst: Row = { benchmark: "burst", metric: "accepted payments lost (never executed) or executed twice", value: 0, unit: "payments", target: "= 0", met: true, goal: { compare: "atMost", value: 0 }, failures: {}, notes: "0 lost" };
    const base = results();
    const withRows = results({
      commit: { sha: "0123456789abcdef0123", dirty: true },
      dataRoot: { path: "/var/tmp", filesystem: "ext4", mountPoint: "/", source: "tmpdir", inMemory: false },
      benchmarks: [...base.benchmarks, { name: "single node", rows: [e2e], details: {}, durationSeconds: 1, loadAverageAtStart: [1.5, 1, 1] }, { name: "burst", rows: [burst], details: {}, durationSeconds: 1 }],
    });
    const doc = markdown(withRows, "bench/results/x.json");
    expect(doc).to.contain("of commit `0123456789ab` **with uncommitted changes in the working tree**");
    expect(doc).to.contain("| single node | escrow payments created, signed and held on-chain, sustained | 250 payments/s | ≥ 1,000/s | 4 (3 NOT_HELD, 1 TIMEOUT (create)) | **missed** |");
    expect(doc).to.contain("| burst | accepted payments lost (never executed) or executed twice | 0 payments | = 0 | 0 | met |");
    expect(doc).to.contain("| single node: escrow payments created, signed and held on-chain, sustained | payment (5,000) | 3.21 | n/a (no peers) | 4.10 | 3.40 | 10.7 | 2.50 | 1.20 | 25 of 5,000 (0.50%); nodes' metric n/a |");
    expect(doc).to.contain("- Databases: /var/tmp on ext4");
    expect(doc).to.contain("single node 1.5");
    const table = consoleTable(withRows);
    expect(table).to.match(/single node\s+escrow payments.*4 \(3 NOT_HELD, 1 TIMEOUT \(create\)\)\s+missed/);
    expect(table).to.contain("CPU milliseconds per unit of work, by role");
    const inMemory = markdown(results({ dataRoot: { path: "/dev/shm/x", filesystem: "tmpfs", mountPoint: "/dev/shm", source: "option", inMemory: true } }), "x.json");
    expect(inMemory).to.contain("**Databases in memory**");
  });
});
