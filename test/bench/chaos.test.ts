/** The fault campaign's own parts: recovery time, and the crash-point and clock knobs (its partition proxy is test/scripts/tcp-proxy.test.ts). */
import { execFileSync } from "node:child_process";

import { expect } from "chai";

import { recovery } from "../../bench/chaos/harness.js";
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
