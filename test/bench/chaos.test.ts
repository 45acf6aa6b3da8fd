/** The fault campaign's own parts: recovery time, the partition proxy, and the crash-point and clock knobs. */
import { execFileSync } from "node:child_process";
import { once } from "node:events";
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";

import { expect } from "chai";

import { recovery } from "../../bench/chaos/harness.js";
import { startProxy } from "../../bench/chaos/proxy.js";
import type { Attempt } from "../../bench/chaos/stream.js";
import { applyClockOffsetFromEnv } from "../../core/clock-offset.js";
import { failpointFromEnv } from "../../core/failpoints.js";
import { PROJECT_ROOT } from "../../scripts/lib/launch/part.js";

describe("chaos: recovery time", function () {
  /** 4 payments a second from t = 0 for 60 s; those started in [from, to) never execute, the others 1 s after they start. */
  function run(from: number, to: number): { attempts: Attempt[]; holds: Map<string, number> } {
    const attempts: Attempt[] = [];
    const holds = new Map<string, number>();
    for (let t = 0; t < 60_000; t += 250) {
      const id = `0x${t.toString(16)}`;
      const broken = t >= from && t < to;
      attempts.push({ seq: attempts.length, startedAt: t, paymentId: id, ...(broken ? { error: "authorize 503" } : { ackedAt: t + 500 }) });
      if (!broken) holds.set(id, t + 1_000);
    }
    return { attempts, holds };
  }

  it("counts from the heal to the first of three good seconds", function () {
    const { attempts, holds } = run(20_000, 32_000);
    // Fault from 20 s, healed at 30 s: payments are good again from 32 s.
    expect(recovery(attempts, holds, [30_000], 20_000)).to.deep.equal([2]);
  });

  it("is null when payments never come back", function () {
    const { attempts, holds } = run(20_000, 60_000);
    expect(recovery(attempts, holds, [30_000], 20_000)).to.deep.equal([null]);
  });

  it("does not count a second with a slow majority as recovered", function () {
    const { attempts, holds } = run(20_000, 30_000);
    // Payments of 30-33 s are held 20 s late: slower than 3 × the baseline's p90 (and 5 s).
    for (const a of attempts) if (a.startedAt >= 30_000 && a.startedAt < 33_000) holds.set(a.paymentId ?? "", a.startedAt + 20_000);
    expect(recovery(attempts, holds, [30_000], 20_000)).to.deep.equal([3]);
  });
});

describe("chaos: the partition proxy", function () {
  let upstream: Server;
  let accepted = 0;

  before(async function () {
    upstream = createServer((socket) => {
      accepted += 1;
      socket.pipe(socket);
    });
    upstream.listen(0, "127.0.0.1");
    await once(upstream, "listening");
  });
  after(async function () {
    upstream.close();
  });

  const connect = (port: number) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    // A cut connection is reset: the close is what the test waits for.
    socket.on("error", () => undefined);
    return socket;
  };
  const closed = (socket: Socket) => new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const echo = async (socket: Socket, text: string) => {
    socket.write(text);
    const [data] = (await once(socket, "data")) as [Buffer];
    return data.toString();
  };

  it("passes, refuses, black-holes and heals", async function () {
    const proxy = await startProxy({ host: "127.0.0.1", port: (upstream.address() as AddressInfo).port });
    try {
      const first = connect(proxy.port);
      expect(await echo(first, "hello")).to.equal("hello");

      const firstClosed = closed(first);
      await proxy.set("refuse");
      // The open connection is cut, a new one refused.
      await firstClosed;
      const refused = connect(proxy.port);
      const [error] = (await once(refused, "error")) as [NodeJS.ErrnoException];
      expect(error.code).to.equal("ECONNREFUSED");

      await proxy.set("blackhole");
      const before = accepted;
      const hole = connect(proxy.port);
      await once(hole, "connect");
      hole.write("lost");
      const holeClosed = closed(hole);
      await proxy.set("pass");
      await holeClosed;
      const healed = connect(proxy.port);
      expect(await echo(healed, "back")).to.equal("back");
      // Only the healed connection reached the upstream: nothing crossed the black hole.
      expect(accepted - before).to.equal(1);
      healed.destroy();
    } finally {
      await proxy.close();
    }
  });
});

describe("chaos: crash points and the clock offset", function () {
  it("refuses an unknown crash point", function () {
    expect(() => failpointFromEnv("after-everything")).to.throw(/SETTLENET_FAILPOINT=after-everything is not one of/);
    expect(failpointFromEnv("mid-group-commit")).to.equal("mid-group-commit");
    expect(failpointFromEnv(undefined)).to.equal(undefined);
  });

  it("refuses an offset that is not whole milliseconds, and leaves the clock alone without one", function () {
    expect(() => applyClockOffsetFromEnv("5min")).to.throw(/SETTLENET_CLOCK_OFFSET_MS=5min/);
    const now = Date.now;
    expect(applyClockOffsetFromEnv(undefined)).to.equal(0);
    expect(applyClockOffsetFromEnv("0")).to.equal(0);
    expect(Date.now).to.equal(now);
  });

  it("sets a process's Date.now off by the offset", function () {
    const script = `import { applyClockOffsetFromEnv } from "./core/clock-offset.ts"; const real = new Date().getTime(); applyClockOffsetFromEnv(); console.log(Date.now() - real);`;
    const out = execFileSync(process.execPath, ["--import", "tsx", "--input-type=module", "-e", script], { cwd: PROJECT_ROOT, env: { ...process.env, SETTLENET_CLOCK_OFFSET_MS: "-300000" }, encoding: "utf8" });
    // new Date() is not shifted, Date.now is: the difference is the offset (less the microseconds between the two reads).
    expect(Number(out.trim())).to.be.within(-300_000, -299_000);
  });
});
