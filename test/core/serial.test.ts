import { expect } from "chai";

import { Serial } from "../../core/serial.js";

/** A promise the test settles by hand. */
function deferred<T = void>() {
  let resolve!: (value: T) => void;
  let reject!: (error: unknown) => void;
  const promise = new Promise<T>((res, rej) => ((resolve = res), (reject = rej)));
  return { promise, resolve, reject };
}

describe("Serial (core/serial.ts)", function () {
  it("starts a task only once the one before it ended, in the order given", async function () {
    const serial = new Serial();
    const log: string[] = [];
    const first = deferred();
    const a = serial.run(async () => {
      log.push("a starts");
      await first.promise;
      log.push("a ends");
      return "a";
    });
    const b = serial.run(async () => {
      log.push("b starts");
      return "b";
    });
    await Promise.resolve();
    expect(log).to.deep.equal(["a starts"]);
    first.resolve();
    expect(await Promise.all([a, b])).to.deep.equal(["a", "b"]);
    expect(log).to.deep.equal(["a starts", "a ends", "b starts"]);
  });

  it("gives a task's failure to its caller and still runs the next; idle waits for every task given", async function () {
    const serial = new Serial();
    const failing = deferred();
    const failed = serial.run(() => failing.promise);
    let ran = false;
    const next = serial.run(async () => {
      ran = true;
    });
    const idle = serial.idle();
    const boom = new Error("boom");
    failing.reject(boom);
    expect(await failed.then(() => undefined, (error: unknown) => error)).to.equal(boom);
    await idle;
    expect(ran).to.equal(true);
    await next;
  });
});
