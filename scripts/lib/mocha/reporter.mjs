/**
 * The mocha tests' reporter: mocha's spec output, then the time of each test file (its tests and
 * their before/after hooks, where networks start and stop) beside the time of its tests alone,
 * slowest first. With SETTLENET_TEST_TIMES=<file> every file's times are also written there as JSON
 * (bench/test-times.ts compares two such files).
 *
 * Plain JavaScript: mocha loads a reporter with require(), before any TypeScript loader is in place.
 */
import { writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { relative } from "node:path";
import { performance } from "node:perf_hooks";

import Mocha from "mocha";

const { Spec } = Mocha.reporters;
const { EVENT_HOOK_END, EVENT_RUN_END, EVENT_TEST_FAIL, EVENT_TEST_PASS } = Mocha.Runner.constants;

/** Files below this many seconds are summed on one line instead of listed. */
const LISTED_SECONDS = 3;

class FileTimes extends Spec {
  constructor(runner, options) {
    super(runner, options);
    const runStarted = performance.now();
    /** @type {Map<string, { ms: number; testMs: number; tests: number }>} */
    const files = new Map();
    const entry = (file) => {
      const name = relative(process.cwd(), file);
      let times = files.get(name);
      if (!times) files.set(name, (times = { ms: 0, testMs: 0, tests: 0 }));
      return times;
    };
    const counted = (runnable, isTest) => {
      if (!runnable.file) return;
      const times = entry(runnable.file);
      times.ms += runnable.duration ?? 0;
      if (isTest) {
        times.testMs += runnable.duration ?? 0;
        times.tests += 1;
      }
    };
    // Durations, not the time between events: in parallel mode a worker's events arrive when its file ends.
    runner.on(EVENT_TEST_PASS, (test) => counted(test, true));
    runner.on(EVENT_TEST_FAIL, (test) => counted(test, true));
    runner.on(EVENT_HOOK_END, (hook) => counted(hook, false));
    // Registered after the spec reporter's own: printed after its summary.
    runner.once(EVENT_RUN_END, () => {
      const totalMs = performance.now() - runStarted;
      const sorted = [...files.entries()].sort((a, b) => b[1].ms - a[1].ms);
      const seconds = (ms) => (ms / 1000).toFixed(1).padStart(7);
      const lines = ["", "  Time per test file (tests and hooks; the tests alone), slowest first:"];
      const rest = { files: 0, ms: 0, testMs: 0 };
      for (const [file, times] of sorted) {
        if (times.ms >= LISTED_SECONDS * 1000) lines.push(`  ${seconds(times.ms)} s ${seconds(times.testMs)} s  ${file} (${times.tests} tests)`);
        else {
          rest.files += 1;
          rest.ms += times.ms;
          rest.testMs += times.testMs;
        }
      }
      if (rest.files > 0) lines.push(`  ${seconds(rest.ms)} s ${seconds(rest.testMs)} s  ${rest.files} other files, each under ${LISTED_SECONDS} s`);
      lines.push(`  ${seconds(totalMs)} s in all, from the first test file to the last (wall clock)`, "");
      process.stdout.write(`${lines.join("\n")}\n`);
      const out = process.env["SETTLENET_TEST_TIMES"];
      if (out) {
        const json = { totalMs: Math.round(totalMs), loadAverage: loadavg().map((l) => Number(l.toFixed(2))), files: Object.fromEntries(sorted.map(([file, t]) => [file, { ms: Math.round(t.ms), testMs: Math.round(t.testMs), tests: t.tests }])) };
        writeFileSync(out, `${JSON.stringify(json, null, 2)}\n`);
      }
    });
  }
}

export { FileTimes as "module.exports" };
