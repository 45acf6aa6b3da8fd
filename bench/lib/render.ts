/** The results as a terminal table and as the markdown of docs/benchmarks.md. */
import type { RoleCpu } from "./cpu.js";
import { describeFailures } from "./failures.js";
import { failureCount, fmt, verdict, type DuplicateItems, type Row, type RunResults } from "./results.js";

const value = (row: Row) => (row.value === null ? "–" : `${fmt(row.value)} ${row.unit}`);
const failed = (row: Row) => (row.failures === undefined ? "–" : failureCount(row) === 0 ? "0" : describeFailures(row.failures).replace(/ failed/, ""));

function rows(results: RunResults): Row[] {
  return results.benchmarks.flatMap((b) =>
    b.rows.length > 0 ? b.rows : [{ benchmark: b.name, metric: `failed: ${b.error ?? "no result"}`, value: null, unit: "", target: "", met: false, notes: "" }],
  );
}

const ms = (v: number | null | undefined) => (v === null || v === undefined || Number.isNaN(v) ? "n/a" : fmt(v, v >= 10 ? 1 : 2));

/** "12 of 4,200 (0.29%)", with the nodes' metric beside it when they export one. */
function duplicatesText(d: DuplicateItems | undefined): string {
  if (!d) return "–";
  const share = d.relayed > 0 ? ` (${fmt((100 * d.duplicates) / d.relayed, 2)}%)` : "";
  const metric = d.metric === null ? "nodes' metric n/a" : `nodes' metric ${fmt(d.metric)}`;
  return `${fmt(d.duplicates)} of ${fmt(d.relayed)}${share}; ${metric}`;
}

function cpuCells(row: Row & { cpu: RoleCpu }): string[] {
  const c = row.cpu;
  return [
    `${row.benchmark}: ${row.metric}`,
    `${c.unit} (${fmt(c.units)})`,
    ms(c.originNode),
    c.peerNode === null ? "n/a (no peers)" : `${ms(c.peerNode)} × ${c.peers}`,
    ms(c.gateway),
    ms(c.chain),
    ms(c.system),
    c.idleSystem === undefined ? "–" : ms(c.idleSystem),
    ms(c.loadGenerator),
    duplicatesText(row.duplicates),
  ];
}

const CPU_HEADER = ["row", "per", "origin node", "each peer node", "gateway", "chain", "system (sum)", "of it idle background", "load generator (apart)", "duplicate relayed items"];
const withCpu = (results: RunResults) => rows(results).filter((r): r is Row & { cpu: RoleCpu } => r.cpu !== undefined);

function plainTable(header: string[], body: string[][]): string[] {
  const widths = header.map((h, i) => Math.max(h.length, ...body.map((line) => (line[i] ?? "").length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padEnd(widths[i] ?? 0)).join("  ");
  return [line(header), widths.map((w) => "-".repeat(w)).join("  "), ...body.map(line)];
}

/** A plain-text table for the terminal. */
export function consoleTable(results: RunResults): string {
  const out = plainTable(
    ["benchmark", "metric", "measured", "target", "failed", "status"],
    rows(results).map((r) => [r.benchmark, r.metric, value(r), r.target, failed(r), verdict(r)]),
  );
  const cpu = withCpu(results);
  if (cpu.length > 0) out.push("", "CPU milliseconds per unit of work, by role (from /proc/<pid>/stat over each measured window):", ...plainTable(CPU_HEADER, cpu.map(cpuCells)));
  const missed = rows(results).filter((r) => r.bottleneck);
  if (missed.length > 0) {
    out.push("", "bottlenecks (measured):");
    for (const r of missed) out.push(`- ${r.benchmark} / ${r.metric}: ${r.bottleneck?.stage} — ${r.bottleneck?.evidence}`);
  }
  return out.join("\n");
}

const cell = (text: string) => text.replaceAll("|", "\\|").replaceAll("\n", " ");

/** What would move a missed row, from its measured bottleneck (the reasoning is ours; the numbers are the run's). */
function remedy(row: Row): string {
  const stage = row.bottleneck?.stage ?? "";
  if (row.benchmark === "storage") return "commit several accepted operations per synced batch (group commit: the pipeline already writes an API batch or a gossip message as one batch; concurrent single submissions could share a sync), or a disk with cheaper flushes";
  if (row.benchmark === "gas") return "see docs/gas.md (`npm run gas`) for the per-part breakdown and the estimated savings of each contract change";
  if (row.benchmark === "audit") return "keep the page's records next to the index entries (covering index) or cache hot merchants' recent records, so a page needs no second read";
  if (row.benchmark === "verification") return "recover without the hex round trips (pass bytes from the wire decoder to libsecp256k1) and derive the address with one keccak and no checksum pass; batch verification in a worker thread per core";
  if (row.benchmark === "burst") return "admission control (refuse new work with a retryable code once relay lag passes a bound), failover by lease instead of timers, and a relay that keeps several batches in flight (see docs/scaling.md)";
  if (stage.startsWith("CPU of node")) return "the institution nodes spend the machine's cores: cheaper validation per operation, fewer JSON encode/decode passes, and nodes on their own machines (here all of them share the machine's cores)";
  if (stage.startsWith("CPU of gateway")) return "the gateway's CPU per request: fewer passes over the body and lighter logging per request, and run several gateway processes behind one address";
  if (stage.startsWith("CPU of chain")) return "the chain's execution: less gas per payment, no gas estimate per batch, or a chain on its own machine (see docs/scaling.md)";
  if (stage.startsWith("CPU of load generator")) return "the load generator shares the cores with the system under test: run it from another machine";
  if (stage.startsWith("other work on the machine")) return "rerun on a quiet machine: the figures of a contended run understate the code";
  if (stage.startsWith("waiting, not CPU")) return "find the serial wait in the stage timings of the results file (synced writes queued one at a time, a chain read per request, the relay's batching interval); on a contended run, rerun on a quiet machine first";
  if (stage.startsWith("relay and chain")) return "a relay that keeps several batches in flight without a gas estimate per batch, and a faster chain (EDR automines one block per transaction)";
  return "see the stage timings in the results file";
}

/** Cores of other work beside a run's measured windows above which the document calls the machine contended. */
const OTHER_WORK_CONTENDED = 0.1;

/** Every measured window's other work on the machine (cores, `machineCores.otherWork`, in any run's details). */
function otherWorkCores(results: RunResults): number[] {
  const found: number[] = [];
  const walk = (value: unknown): void => {
    if (value === null || typeof value !== "object") return;
    for (const [key, inner] of Object.entries(value)) {
      const other = (inner as { otherWork?: unknown } | null)?.otherWork;
      if (key === "machineCores" && typeof other === "number") found.push(other);
      else walk(inner);
    }
  };
  for (const benchmark of results.benchmarks) walk(benchmark.details);
  return found;
}

/** The markdown document (docs/benchmarks.md). */
export function markdown(results: RunResults, resultsFile: string): string {
  const m = results.machine;
  // Network benchmarks measure the machine's CPU beside their own processes' (`machineCores.otherWork`):
  // when the run has that figure, it says whether other work ran during the measured windows; otherwise
  // only the 1-minute load when the run started can (the run itself loads the machine).
  const otherWork = otherWorkCores(results);
  const contended = otherWork.length > 0 ? Math.max(...otherWork) > OTHER_WORK_CONTENDED : (m.loadAverage[0] ?? 0) > m.cores * 0.5;
  const data = results.dataRoot;
  const commit = results.commit;
  const lines: string[] = [
    "# Benchmarks",
    "",
    "Generated by `npm run bench:doc` from a results file of `npm run bench`; every number below comes from that run",
    `of ${commit ? `commit \`${commit.sha.slice(0, 12)}\`${commit.dirty ? " **with uncommitted changes in the working tree**" : ""}` : "an unknown commit (no git)"} against real processes on 127.0.0.1.`,
    "Each network benchmark starts a network of its own (chain, institution nodes, gateway), so none inherits another's",
    "relay backlog; a row over several runs shows their median. Every failure is counted with its code, and a row with",
    "any failure is not met. Nothing is estimated.",
    "",
    ...(results.quick ? ["> **Quick run** (`--quick`): shorter durations, one run per network benchmark, smaller data sets (see the notes of each row).", ""] : []),
    ...(contended
      ? [
          `> **Contended machine**: load averages ${m.loadAverage.join(" / ")} at the start and ${results.loadAverageAtEnd.join(" / ")} at the end`,
          "> on " + m.cores + " cores" + (otherWork.length > 0 ? `, other work using up to ${Math.max(...otherWork).toFixed(2)} cores during the measured windows` : "") + " — other work ran beside the benchmarks, so these numbers understate the code.",
          "",
        ]
      : []),
    ...(data?.inMemory ? [`> **Databases in memory**: ${data.path} is on ${data.filesystem}, so synced writes cost nothing here and the durable-write figures overstate a disk.`, ""] : []),
    "| benchmark | what | measured | target | failed | status |",
    "| --- | --- | ---: | --- | --- | --- |",
    ...rows(results).map((r) => `| ${r.benchmark} | ${cell(r.metric)} | ${cell(value(r))} | ${cell(r.target)} | ${cell(failed(r))} | ${verdict(r) === "missed" ? "**missed**" : verdict(r)} |`),
    "",
  ];
  const cpu = withCpu(results);
  if (cpu.length > 0) {
    lines.push(
      "## CPU per unit of work, by role",
      "",
      "Milliseconds of CPU per unit of work, from `/proc/<pid>/stat` (user + system time of every thread) of each process over",
      "the row's measured window. The origin node is the one the load enters (the gateway's node); a peer node's figure is",
      "the mean over the peers, so the system's sum counts it once per peer. \"Of it idle background\" is what the same",
      "processes spend with no load (timers, polls, gossip heartbeats, measured just before the window): a large share at",
      "a low rate, negligible at a high one. The load generator is this harness (signing,",
      "HTTP clients, chain watcher): it shares the machine but is not part of the system. Duplicate relayed items are",
      "escrow operations the chain was sent again after a first relay, counted from the blocks' calldata, with the nodes'",
      "own metric beside it where they export one.",
      "",
      `| ${CPU_HEADER.join(" | ")} |`,
      `| ${CPU_HEADER.map((_, i) => (i < 2 ? "---" : "---:")).join(" | ")} |`,
      ...cpu.map((r) => `| ${cpuCells(r).map(cell).join(" | ")} |`),
      "",
    );
  }
  lines.push("## Notes per row", "", ...rows(results).map((r) => `- **${r.benchmark}, ${cell(r.metric)}**: ${cell(r.notes)}${failureCount(r) > 0 ? `; ${describeFailures(r.failures)}` : ""}`), "");
  const missed = rows(results).filter((r) => r.bottleneck);
  if (missed.length > 0) {
    lines.push("## Where targets are missed", "", "| row | bottleneck (measured) | evidence | what would move it |", "| --- | --- | --- | --- |");
    for (const r of missed) lines.push(`| ${r.benchmark}: ${cell(r.metric)} | ${cell(r.bottleneck?.stage ?? "")} | ${cell(r.bottleneck?.evidence ?? "")} | ${cell(remedy(r))} |`);
    lines.push("");
  }
  const perBenchmarkLoad = results.benchmarks.filter((b) => b.loadAverageAtStart);
  lines.push(
    "## Machine and command",
    "",
    `- CPU: ${m.cpuModel}, ${m.cores} cores${m.cpuMhz ? ` (${m.cpuMhz} MHz reported)` : ""}; memory ${m.memoryGiB} GiB`,
    `- OS: ${m.os} (${m.arch}); Node ${m.node}`,
    `- Load average (1/5/15 min): ${m.loadAverage.join(" / ")} at the start, ${results.loadAverageAtEnd.join(" / ")} at the end`,
    ...(perBenchmarkLoad.length > 0 ? [`- Load average (1 min) as each benchmark started: ${perBenchmarkLoad.map((b) => `${b.name} ${b.loadAverageAtStart?.[0] ?? "?"}`).join(", ")}`] : []),
    ...(data ? [`- Databases: ${data.path} on ${data.filesystem} (mounted at ${data.mountPoint}; ${data.source === "option" ? "named by --data-dir or SETTLENET_BENCH_DIR" : data.source === "tmpdir" ? "the OS temp folder, on a disk" : "the OS temp folder is in memory, so under the project"})`] : []),
    `- Commit: ${commit ? `\`${commit.sha}\`${commit.dirty ? " (the working tree had uncommitted changes: the figures are not of this commit alone)" : " (clean working tree)"}` : "unknown"}`,
    `- Run: ${results.startedAt} → ${results.finishedAt}`,
    `- Command: \`${results.command}\``,
    `- Results file: \`${resultsFile}\` (stage timings, CPU per process, every measured component)`,
    "",
    "The load generator runs on the same machine as the system under test; its CPU is reported apart in the table",
    `above. Regenerate with \`npm run bench\` (this run took ${fmt((Date.parse(results.finishedAt) - Date.parse(results.startedAt)) / 60_000, 1)} minutes) and then \`npm run bench:doc -- <results file>\`.`,
    "",
  );
  return lines.join("\n");
}
