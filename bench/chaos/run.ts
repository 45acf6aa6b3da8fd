/**
 * `npm run chaos`: the fault campaign. Each scenario starts a fresh local network (real processes),
 * runs a steady stream of payments through the gateway, injects its fault, heals it, and accounts for
 * every payment from the chain (harness.ts). Prints the table, writes docs/reliability.md (a full run,
 * or `--doc=<file>`), and exits non-zero if anything acknowledged was lost or executed twice, or a
 * scenario could not run.
 *
 *   npm run chaos [-- --only=origin-crash,chain-down] [--quick] [--doc=<file>|--no-doc]
 */
import { execFileSync } from "node:child_process";
import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { PROJECT_ROOT } from "../../scripts/lib/network.js";
import { machineInfo } from "../lib/machine.js";
import { fmtSeconds, runScenario, type ScenarioResult, type Timing } from "./harness.js";
import { SCENARIOS } from "./scenarios.js";

const FULL: Timing = { baselineSeconds: 10, faultSeconds: 30, tailSeconds: 15, drainSeconds: 90, perSecond: 4 };
const QUICK: Timing = { baselineSeconds: 6, faultSeconds: 15, tailSeconds: 10, drainSeconds: 60, perSecond: 4 };

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { only: { type: "string" }, quick: { type: "boolean" }, doc: { type: "string" }, "no-doc": { type: "boolean" } }, strict: true });
  const only = values.only?.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = only?.filter((id) => !SCENARIOS.some((s) => s.id === id)) ?? [];
  if (unknown.length > 0) {
    console.error(`unknown scenario ${unknown.join(", ")}; known: ${SCENARIOS.map((s) => s.id).join(", ")}`);
    return 2;
  }
  const chosen = only ? SCENARIOS.filter((s) => only.includes(s.id)) : SCENARIOS;
  const timing = values.quick ? QUICK : FULL;
  const machine = machineInfo();
  const started = Date.now();
  const log = (line: string) => console.log(`[chaos ${((Date.now() - started) / 1000).toFixed(0).padStart(4)} s] ${line}`);
  const results: ScenarioResult[] = [];
  for (const scenario of chosen) {
    results.push(await runScenario(scenario, timing, log));
    const r = results.at(-1);
    if (r) log(`${r.id}: ${r.status}${r.reason ? ` (${r.reason})` : ""}`);
  }
  const totalSeconds = Math.round((Date.now() - started) / 1000);
  const table = renderTable(results);
  console.log(`\n${table}\n`);
  for (const r of results) {
    const errors = Object.entries(r.errors).map(([k, v]) => `${k} ×${v}`).join(", ");
    console.log(`${r.id}: ${[...r.notes, ...r.extras.map((e) => e.note), errors ? `not acknowledged: ${errors}` : ""].filter(Boolean).join("; ")}`);
  }
  const docFile = values["no-doc"] ? undefined : (values.doc ?? (only ? undefined : join(PROJECT_ROOT, "docs", "reliability.md")));
  if (docFile) {
    const command = `npm run chaos${process.argv.length > 2 ? ` -- ${process.argv.slice(2).join(" ")}` : ""}`;
    await writeFile(docFile, renderDoc(results, { machine, command, totalSeconds, timing, loadAfter: machineInfo().loadAverage }));
    log(`wrote ${docFile}`);
  }
  const bad = results.filter((r) => r.status !== "ok");
  log(`${results.length} scenarios in ${totalSeconds} s; ${bad.length === 0 ? "nothing lost, nothing executed twice" : `${bad.length} not ok: ${bad.map((r) => `${r.id} (${r.reason ?? r.status})`).join("; ")}`}`);
  return bad.length === 0 ? 0 : 1;
}

function extrasText(r: ScenarioResult): { lost: string; doubled: string } {
  if (r.extras.length === 0) return { lost: "", doubled: "" };
  return {
    lost: ` (+${r.extras.map((e) => `${e.lost} ${e.what}`).join(", ")})`,
    doubled: ` (+${r.extras.map((e) => `${e.doubled} ${e.what}`).join(", ")})`,
  };
}

export function renderTable(results: ScenarioResult[]): string {
  const head = ["scenario", "status", "submitted", "acknowledged", "executed", "lost", "executed twice", "duplicate relays", "seconds to recover"];
  const rows = results.map((r) => {
    const extra = extrasText(r);
    const recover = r.recoverSeconds.length === 0 ? "—" : r.recoverSeconds.map(fmtSeconds).join(", ");
    return r.status === "not run"
      ? [r.id, `not run: ${r.reason ?? ""}`, "", "", "", "", "", "", ""]
      : [r.id, r.status, String(r.submitted), String(r.acknowledged), String(r.executed), `${r.lost}${extra.lost}`, `${r.executedTwice}${extra.doubled}`, String(r.duplicateRelays), recover];
  });
  return [`| ${head.join(" | ")} |`, `| ${head.map(() => "---").join(" | ")} |`, ...rows.map((row) => `| ${row.join(" | ")} |`)].join("\n");
}

function commitOf(): string {
  try {
    const hash = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: PROJECT_ROOT, encoding: "utf8" }).trim();
    const dirty = execFileSync("git", ["status", "--porcelain", "--untracked-files=no"], { cwd: PROJECT_ROOT, encoding: "utf8" }).trim();
    return dirty ? `${hash} (with uncommitted changes)` : hash;
  } catch {
    return "unknown";
  }
}

function renderDoc(results: ScenarioResult[], run: { machine: ReturnType<typeof machineInfo>; command: string; totalSeconds: number; timing: Timing; loadAfter: number[] }): string {
  const m = run.machine;
  const paragraphs = results.map((r) => {
    const scenario = SCENARIOS.find((s) => s.id === r.id);
    const errors = Object.entries(r.errors).map(([k, v]) => `${k} ×${v}`).join(", ");
    const shown =
      r.status === "not run"
        ? `Not run: ${r.reason ?? "unknown"}.`
        : `${r.acknowledged} of ${r.submitted} payments acknowledged, ${r.executed} executed, ${r.lost} lost, ${r.executedTwice} executed twice, ` +
          `${r.duplicateRelays} duplicate relays; back to steady payments ${r.recoverSeconds.map(fmtSeconds).join(", ")} after the heal. ` +
          [...r.notes, ...r.extras.map((e) => `${e.what}: ${e.note}, ${e.lost} lost, ${e.doubled} doubled`)].map((n) => `${n}.`).join(" ") +
          (errors ? ` Not acknowledged (the client saw the refusal or the failure): ${errors}.` : "");
    return `### ${r.id}: ${r.title}\n\n${scenario?.description ?? ""}\n\n${shown}\n`;
  });
  return `# Reliability: the fault campaign

Generated by \`${run.command}\` (bench/chaos/) on ${new Date().toISOString().slice(0, 10)}; commit ${commitOf()}. Every scenario starts a
fresh local network of real processes with the launcher (\`startNetwork\`, as \`npm start\`): the chain (EDR), three institution nodes,
a regulator node, the gateway and the bank simulator, each its own process, on 127.0.0.1. A steady stream of payments
(${run.timing.perSecond} per second, open loop: the gateway creates, the payer signs the payment id, the gateway authorises) runs for a
${run.timing.baselineSeconds} s baseline, through the fault and its heal, and ${run.timing.tailSeconds} s after; then every acknowledged payment has up to
${run.timing.drainSeconds} s to execute.

Machine: ${m.cpuModel}, ${m.cores} cores, ${m.memoryGiB} GiB, ${m.os}, Node ${m.node}; load average ${m.loadAverage.join(", ")} at the start and
${run.loadAfter.join(", ")} at the end (the machine is shared with other work). The whole run took ${run.totalSeconds} s.

How each column is counted (bench/chaos/harness.ts, ledger.ts):

- **submitted**: payments the stream started; **acknowledged**: authorisations the gateway answered 202 (the node stored it, synced, and
  handed it to its peers);
- **executed**: submitted payments whose \`pay\` executed on-chain, read from the relay transactions' calldata (each escrow batch item and
  token call decoded to its operation id; an item executed unless its transaction reverted or emitted \`OperationFailed\` for it);
- **lost**: acknowledged and never executed; **executed twice**: operations with more than one executing relay; in brackets the
  scenario's own accounts (payouts paid, top-ups minted, webhook events delivered);
- **duplicate relays**: relays of an operation beyond its first, whichever node sent them (the chain refuses them; they cost gas);
- **seconds to recover**: from the heal until the first of three consecutive seconds in which at least 80% of the payments started
  were acknowledged and held on-chain within 3 × the baseline's p90 latency (at least 5 s).

The campaign exits non-zero if anything acknowledged is lost or executed twice, or a scenario could not run.

${renderTable(results)}

${paragraphs.join("\n")}`;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    console.error(error);
    process.exit(1);
  },
);
