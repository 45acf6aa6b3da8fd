/**
 * The launcher's process handling with real child processes: a part's whole process group goes when
 * it stops, a part that ignores SIGTERM is killed after its stop timeout, a part that exits while
 * starting is reported with its log's last line, and stages stop latest first.
 */
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { SettlenetError } from "../../../core/errors.js";
import { StopOrder, lastLogLine, spawnPart, waitReady } from "../../../scripts/lib/launch/part.js";
import { waitFor } from "../../helpers/wait.js";

/** True while `pid` is a live process (a zombie waiting to be reaped counts as gone). */
function alive(pid: number): boolean {
  try {
    return !readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]?.startsWith("Z");
  } catch {
    return false;
  }
}

/** Polls `check` (test/helpers/wait.ts) for up to 20 s. */
const until = (what: string, check: () => boolean | Promise<boolean>) => waitFor(what, check, 20_000, 20);

describe("launcher: parts as process groups", function () {
  this.timeout(60_000);
  let dir: string;

  before(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-part-"));
  });
  after(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  /** Writes `source` as a script the part runs. */
  async function script(name: string, source: string): Promise<string> {
    const file = join(dir, `${name}.mjs`);
    await writeFile(file, source);
    return file;
  }

  it("stops the part's whole process group, including what the part started", async function () {
    // The part leaves behind a child that ignores SIGTERM; the part itself exits on SIGTERM.
    const file = await script(
      "parent",
      `import { spawn } from "node:child_process";
       spawn(process.execPath, ["-e", "process.on('SIGTERM', () => {}); console.log('child ready ' + process.pid); setInterval(() => {}, 1000)"], { stdio: "inherit" });
       process.on("SIGTERM", () => process.exit(0));
       setInterval(() => {}, 1000);`,
    );
    const logFile = join(dir, "parent.log");
    const part = spawnPart({ name: "parent", args: [file], logFile });
    let childPid = 0;
    await until("the part's child to ignore SIGTERM", async () => {
      childPid = Number(/child ready (\d+)/.exec(await readFile(logFile, "utf8"))?.[1] ?? 0);
      return childPid > 0;
    });
    expect(alive(childPid)).to.equal(true);
    await part.stop();
    expect(await part.exited).to.equal("code 0");
    await until("the part's child to be gone", () => !alive(childPid));
  });

  it("kills a part that ignores SIGTERM once its stop timeout has passed", async function () {
    const file = await script("stubborn", `process.on("SIGTERM", () => console.log("ignored SIGTERM")); console.log("up"); setInterval(() => {}, 1000);`);
    const logFile = join(dir, "stubborn.log");
    const part = spawnPart({ name: "stubborn", args: [file], logFile, stopTimeoutMs: 300 });
    await until("the part to install its handler", async () => (await readFile(logFile, "utf8")).includes("up"));
    await part.stop();
    expect(await part.exited).to.equal("signal SIGKILL");
    expect(await readFile(logFile, "utf8")).to.include("ignored SIGTERM");
  });

  it("reports a part that exits while starting with the last line of its log", async function () {
    const file = await script("failing", `console.error("settlenet: CONFIG_INVALID: api.port must be a number"); process.exit(1);`);
    const part = spawnPart({ name: "failing", args: [file], logFile: join(dir, "failing.log") });
    const error = await waitReady(part, "never", async () => false, 30_000).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(error).to.be.instanceOf(SettlenetError);
    expect((error as SettlenetError).code).to.equal("PART_EXITED");
    expect((error as SettlenetError).message).to.include("failing exited (code 1) while starting: settlenet: CONFIG_INVALID: api.port must be a number");
  });
});

describe("launcher: stop order", function () {
  it("stops stages latest first, each stage's parts together, and waits for a stage before the one before it", async function () {
    const events: string[] = [];
    let node2Stopped: () => void = () => undefined;
    const node2Gone = new Promise<void>((r) => (node2Stopped = r));
    const stop = (name: string, options: { after?: Promise<void>; then?: () => void } = {}) => async () => {
      events.push(`${name} stopping`);
      await options.after;
      // A few turns of the event loop: the next stage would start meanwhile if the stage were not awaited.
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
      events.push(`${name} stopped`);
      options.then?.();
    };
    const order = new StopOrder();
    order.stage(stop("chain"));
    order.stage(stop("node-1", { after: node2Gone }), stop("node-2", { then: node2Stopped }));
    const services = order.stage(stop("bank"));
    services.add(stop("gateway"));
    await order.stop();
    expect(events).to.deep.equal([
      "bank stopping",
      "gateway stopping",
      "bank stopped",
      "gateway stopped",
      "node-1 stopping",
      "node-2 stopping",
      "node-2 stopped",
      "node-1 stopped",
      "chain stopping",
      "chain stopped",
    ]);
  });

  it("runs every stop although one fails, then throws that failure", async function () {
    const stopped: string[] = [];
    const order = new StopOrder();
    order.stage(async () => void stopped.push("chain"));
    order.stage(async () => {
      throw new Error("node would not stop");
    });
    order.stage(async () => void stopped.push("gateway"));
    const error = await order.stop().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as Error).message).to.equal("node would not stop");
    expect(stopped).to.deep.equal(["gateway", "chain"]);
    // Stopping twice stops nothing again.
    await order.stop();
    expect(stopped).to.deep.equal(["gateway", "chain"]);
  });
});

describe("launcher: the line that says why a part exited", function () {
  it("names an error log entry, or a crash's message above its stack frames and fields", async function () {
    const dir = await mkdtemp(join(tmpdir(), "settlenet-lastline-"));
    try {
      const file = join(dir, "part.log");
      await writeFile(file, `${JSON.stringify({ level: 30, msg: "starting" })}\n${JSON.stringify({ level: 50, msg: "startup failed", err: { message: "NOT_REGISTERED" } })}\n`);
      expect(lastLogLine(file)).to.equal("startup failed: NOT_REGISTERED");
      const crash = [
        JSON.stringify({ level: 30, msg: "starting" }),
        "node:events:502",
        "      throw er; // Unhandled 'error' event",
        "Error: listen EADDRINUSE: address already in use 127.0.0.1:7101",
        "    at Server.setupListenHandle [as _listen2] (node:net:1937:16)",
        "    at process.processTicksAndRejections (node:internal/process/task_queues:89:21) {",
        "  code: 'EADDRINUSE',",
        "  errno: -98,",
        "  port: 7101",
        "}",
      ];
      await writeFile(file, `${crash.join("\n")}\n`);
      expect(lastLogLine(file)).to.equal("Error: listen EADDRINUSE: address already in use 127.0.0.1:7101");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
