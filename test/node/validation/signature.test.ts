import type { Worker } from "node:worker_threads";

import { expect } from "chai";
import { Signature, Wallet, hexlify, randomBytes, recoverAddress, toBeHex } from "ethers";

import { pino } from "pino";
import { Registry } from "prom-client";

import { OperationError, SettlenetError } from "../../../core/errors.js";
import { InlineVerifier, NATIVE_SECP256K1, SignatureWorkerPool, recoverSigner, type Recovery } from "../../../node/validation/signature.js";

const N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n;

function codeOf(fn: () => unknown): { code: string; action: string } {
  try {
    fn();
  } catch (error) {
    if (error instanceof OperationError) return { code: error.code, action: error.action };
    throw error;
  }
  throw new Error("expected an OperationError");
}

function signRandom(count: number): { digest: string; signature: string; signer: string }[] {
  const wallets = Array.from({ length: Math.min(16, count) }, () => Wallet.createRandom());
  return Array.from({ length: count }, (_, i) => {
    const wallet = wallets[i % wallets.length]!;
    const digest = hexlify(randomBytes(32));
    return { digest, signature: wallet.signingKey.sign(digest).serialized, signer: wallet.address };
  });
}

describe("signer recovery (native secp256k1)", function () {
  it("uses the native binding", function () {
    expect(NATIVE_SECP256K1).to.equal(true);
  });

  it("agrees with ethers.recoverAddress on random keys and digests", function () {
    for (const { digest, signature, signer } of signRandom(200)) {
      const recovered = recoverSigner(digest, signature);
      expect(recovered).to.equal(recoverAddress(digest, signature));
      expect(recovered).to.equal(signer);
    }
  });

  it("recovers a different signer for a different digest (e.g. another chain's domain)", function () {
    const [{ signature, signer }] = signRandom(1) as [{ digest: string; signature: string; signer: string }];
    expect(recoverSigner(hexlify(randomBytes(32)), signature)).to.not.equal(signer);
  });

  it("refuses the high-s twin of a valid signature (malleability), as OpenZeppelin ECDSA does", function () {
    const [{ digest, signature, signer }] = signRandom(1) as [{ digest: string; signature: string; signer: string }];
    const sig = Signature.from(signature);
    const highS = toBeHex(N - BigInt(sig.s), 32);
    const twin = sig.r + highS.slice(2) + (sig.v === 27 ? "1c" : "1b");
    expect(recoverSigner(digest, signature)).to.equal(signer);
    expect(codeOf(() => recoverSigner(digest, twin))).to.deep.equal({ code: "BAD_SIGNATURE", action: "reject" });
  });

  it("refuses v other than 27 or 28, as the EVM's ecrecover does", function () {
    const [{ digest, signature }] = signRandom(1) as [{ digest: string; signature: string; signer: string }];
    const v = Number.parseInt(signature.slice(130), 16);
    for (const bad of [v - 27, 29, 0xff]) {
      const altered = signature.slice(0, 130) + bad.toString(16).padStart(2, "0");
      expect(codeOf(() => recoverSigner(digest, altered)).code).to.equal("BAD_SIGNATURE");
    }
  });

  it("refuses a zero or out-of-range r and malformed hex", function () {
    const [{ digest, signature }] = signRandom(1) as [{ digest: string; signature: string; signer: string }];
    const tail = signature.slice(66);
    expect(codeOf(() => recoverSigner(digest, "0x" + "00".repeat(32) + tail)).code).to.equal("BAD_SIGNATURE");
    expect(codeOf(() => recoverSigner(digest, "0x" + "ff".repeat(32) + tail)).code).to.equal("BAD_SIGNATURE");
    expect(codeOf(() => recoverSigner(digest, signature.slice(0, 128))).code).to.equal("BAD_SIGNATURE");
    expect(codeOf(() => recoverSigner("0x1234", signature)).code).to.equal("BAD_SIGNATURE");
  });

  it("measures recoveries per second against ethers (reported, not asserted)", function () {
    const samples = signRandom(2000);
    const rate = (fn: (digest: string, signature: string) => string, items: typeof samples) => {
      const start = performance.now();
      for (const { digest, signature } of items) fn(digest, signature);
      return Math.round(items.length / ((performance.now() - start) / 1000));
    };
    rate(recoverSigner, samples.slice(0, 300)); // warm-up
    const native = rate(recoverSigner, samples);
    const ethers = rate(recoverAddress, samples.slice(0, 200));
    console.log(`      recoverSigner: ${native}/s, ethers.recoverAddress: ${ethers}/s (x${(native / ethers).toFixed(1)})`);
    expect(native).to.be.greaterThan(0);
  });

  describe("in worker threads, a group at a time", function () {
    let pool: SignatureWorkerPool;
    let metrics: Registry;
    before(function () {
      metrics = new Registry();
      pool = new SignatureWorkerPool({ workers: 2, minChunk: 8, inlineMax: 2 }, { logger: pino({ level: "silent" }), metrics });
    });
    after(async function () {
      await pool?.close();
    });

    const outcome = (r: Recovery | undefined) => (typeof r === "string" ? r : r?.code);

    it("recovers every signer of a group split across the workers, in order, as on the calling thread", async function () {
      const samples = signRandom(300);
      const items = samples.map(({ digest, signature }, i) => ({ digest, signature: i % 2 === 0 ? signature : Buffer.from(signature.slice(2), "hex") }));
      const recovered = await pool.recover(items);
      expect(recovered).to.deep.equal(samples.map((s) => s.signer));
      expect(await new InlineVerifier().recover(items)).to.deep.equal(recovered);
      expect(pool.workers).to.equal(2);
      const value = async (name: string) => (await metrics.getSingleMetric(name)?.get())?.values.map((v) => [v.labels["thread"] ?? "", v.value]);
      expect(await value("settlenet_signature_recovered_total")).to.deep.equal([["worker", 300]]);
      // Split across the two workers: one post each.
      expect(await value("settlenet_signature_worker_posts_total")).to.deep.equal([["", 2]]);
    });

    it("counts the CPU its worker threads spend, as each reports it with its answers", async function () {
      const items = signRandom(200).map(({ digest, signature }) => ({ digest, signature }));
      const before = pool.workerCpuMicros();
      await pool.recover(items);
      // The recoveries ran on the workers' threads, which said so with their answers. (Not compared with the
      // same work on this thread: CPU time of two threads on a shared machine is no stable ratio.)
      const after = pool.workerCpuMicros();
      expect(after).to.be.greaterThan(before);
      await pool.recover(items);
      expect(pool.workerCpuMicros()).to.be.greaterThan(after);
      expect(new InlineVerifier().workerCpuMicros()).to.equal(0);
    });

    it("refuses each bad signature of a group on its own and recovers the others", async function () {
      const samples = signRandom(40);
      const sig = Signature.from(samples[3]!.signature);
      const items = samples.map(({ digest, signature }) => ({ digest, signature: signature as string | Uint8Array }));
      items[3] = { digest: samples[3]!.digest, signature: sig.r + toBeHex(N - BigInt(sig.s), 32).slice(2) + (sig.v === 27 ? "1c" : "1b") };
      items[7] = { digest: samples[7]!.digest, signature: samples[7]!.signature.slice(0, 130) + "1d" };
      items[11] = { digest: samples[11]!.digest, signature: "0x" + "00".repeat(32) + samples[11]!.signature.slice(66) };
      items[20] = { digest: samples[20]!.digest, signature: "0x1234" };
      items[21] = { digest: samples[21]!.digest, signature: new Uint8Array(64) };
      items[30] = { digest: "0x12", signature: samples[30]!.signature };
      const results = await pool.recover(items);
      const bad = new Set([3, 7, 11, 20, 21, 30]);
      results.forEach((result, i) => {
        expect(outcome(result), `item ${i}`).to.equal(bad.has(i) ? "BAD_SIGNATURE" : samples[i]!.signer);
        if (bad.has(i)) expect((result as OperationError).action).to.equal("reject");
      });
      expect((results[3] as OperationError).meta["reason"]).to.equal("s is in the upper half order");
      expect((results[7] as OperationError).meta["reason"]).to.equal("v must be 27 or 28");
    });

    it("recovers groups of one or two signatures on the calling thread, and larger ones in the workers", async function () {
      const samples = signRandom(3);
      const items = samples.map(({ digest, signature }) => ({ digest, signature }));
      const requests = () => (pool as unknown as { nextId: number }).nextId;
      const before = requests();
      expect(await pool.recover(items.slice(0, 1))).to.deep.equal([samples[0]!.signer]);
      expect(await pool.recover(items.slice(0, 2))).to.deep.equal(samples.slice(0, 2).map((s) => s.signer));
      const bad = { digest: samples[0]!.digest, signature: samples[0]!.signature.slice(0, 130) + "1d" };
      expect((await pool.recover([bad])).map(outcome)).to.deep.equal(["BAD_SIGNATURE"]);
      expect(requests(), "worker requests for groups of one or two").to.equal(before);
      expect(await pool.recover(items)).to.deep.equal(samples.map((s) => s.signer));
      expect(requests(), "worker requests for a group of three").to.equal(before + 1);
    });

    it("recovers groups of up to 32 signatures on the calling thread by default", async function () {
      const byDefault = new SignatureWorkerPool({ workers: 2 }, { logger: pino({ level: "silent" }) });
      try {
        const samples = signRandom(33);
        const items = samples.map(({ digest, signature }) => ({ digest, signature }));
        const requests = () => (byDefault as unknown as { nextId: number }).nextId;
        expect(await byDefault.recover(items.slice(0, 32))).to.deep.equal(samples.slice(0, 32).map((s) => s.signer));
        expect(requests(), "worker requests for a group of 32").to.equal(1);
        expect(await byDefault.recover(items)).to.deep.equal(samples.map((s) => s.signer));
        expect(requests(), "worker requests for a group of 33 (split across both workers)").to.equal(3);
      } finally {
        await byDefault.close();
      }
    });

    it("stops its workers after they answered what they were sent: a group in flight at close() is answered, the workers exit by themselves", async function () {
      const closing = new SignatureWorkerPool({ workers: 2, minChunk: 8, inlineMax: 2 }, { logger: pino({ level: "silent" }) });
      const samples = signRandom(2_000);
      const workers = (closing as unknown as { pool: { worker: Worker }[] }).pool.map((entry) => entry.worker);
      const exitCodes = workers.map((worker) => new Promise<number>((resolve) => worker.once("exit", resolve)));
      let settled = false;
      const inFlight = closing
        .recover(samples.map(({ digest, signature }) => ({ digest, signature })))
        .then(
          (value) => ({ value }),
          (error: unknown) => ({ error }),
        )
        .finally(() => {
          settled = true;
        });
      await closing.close();
      // Terminating a worker in the middle of a native call can abort the process; a stopped worker finished first.
      expect(settled, "the group in flight was answered before close() returned").to.equal(true);
      expect(await inFlight).to.deep.equal({ value: samples.map((s) => s.signer) });
      expect(await Promise.all(exitCodes), "exit codes (1 when terminated)").to.deep.equal([0, 0]);
      const refused = await closing.recover(samples.slice(0, 40)).then(() => undefined, (error: unknown) => error);
      expect(refused).to.be.instanceOf(SettlenetError);
      expect((refused as SettlenetError).code).to.equal("VERIFIER_CLOSED");
    });

    it("answers an empty group and a group of nothing but malformed signatures without a round trip", async function () {
      expect(await pool.recover([])).to.deep.equal([]);
      expect((await pool.recover([{ digest: "0x00", signature: "0x00" }])).map(outcome)).to.deep.equal(["BAD_SIGNATURE"]);
    });

    it("keeps answering after a worker dies, with the requests in flight refused as SIGNATURE_WORKER_FAILED", async function () {
      const samples = signRandom(64);
      const items = samples.map(({ digest, signature }) => ({ digest, signature }));
      const workers = (pool as unknown as { pool: { worker: { postMessage(message: unknown): void } }[] }).pool;
      // A request the worker cannot handle (a negative count) throws there, uncaught: the worker dies by itself.
      // (Terminating it from outside could land in the middle of a native keccak call, which aborts the process.)
      workers[0]!.worker.postMessage({ id: -1, input: new ArrayBuffer(0), count: -1 });
      const pending = pool.recover(items);
      const settled = await pending.then(
        () => "recovered",
        (error: { code?: string }) => error.code,
      );
      // The request may have been answered before the worker stopped; either way nothing is lost silently.
      expect(["recovered", "SIGNATURE_WORKER_FAILED"]).to.include(settled);
      expect(await pool.recover(items)).to.deep.equal(samples.map((s) => s.signer));
    });
  });
});
