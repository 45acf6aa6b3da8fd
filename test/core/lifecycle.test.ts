import { expect } from "chai";

import { Waker } from "../../core/lifecycle.js";

/** What settles first: `promise`, or the turn of the event loop after every pending microtask. */
const settledFirst = (promise: Promise<unknown>) => Promise.race([promise.then(() => "settled"), new Promise((resolve) => setImmediate(() => resolve("pending")))]);

describe("Waker (core/lifecycle.ts)", function () {
  it("ends a sleep at once on wake, and only then", async function () {
    const waker = new Waker();
    const nap = waker.sleep(60_000);
    expect(await settledFirst(nap)).to.equal("pending");
    waker.wake();
    expect(await settledFirst(nap)).to.equal("settled");
  });

  it("ends a wait for an event when the event comes, or on wake", async function () {
    const waker = new Waker();
    let happen!: () => void;
    const event = new Promise<void>((resolve) => (happen = resolve));
    const wait = waker.until(event);
    expect(await settledFirst(wait)).to.equal("pending");
    happen();
    expect(await settledFirst(wait)).to.equal("settled");

    const woken = waker.until(new Promise<void>(() => undefined));
    waker.wake();
    expect(await settledFirst(woken)).to.equal("settled");
  });
});
