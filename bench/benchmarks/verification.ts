/**
 * verification: EIP-712 signature recoveries per second, single-threaded (one core), in the node's
 * validation path (operationDigests + recoverSigner from node/validation/signature.ts, what
 * validateOperation runs for every operation) beside the raw recovery rate of the fastest secp256k1
 * implementation available here (native libsecp256k1 through the `secp256k1` package, and ethers'
 * pure-JS SigningKey). Each component is also timed on its own, and the whole validateOperation
 * (schema, digests, seen-check in LevelDB, registry mirror, signature) against the network's
 * registry, so a miss names the stage that costs most.
 */
import { createRequire } from "node:module";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";

import { SigningKey, Signature } from "ethers";
import { pino } from "pino";
import type * as Secp256k1 from "secp256k1";

import { ChainRegistryView } from "../../node/chain/registry-view.js";
import { escrowOperationSchema, operationDigests, type EscrowContext } from "../../core/operations/index.js";
import type { ValidationContext } from "../../node/services.js";
import { openStorage } from "../../node/storage/db.js";
import { RiskEngine } from "../../node/validation/risk.js";
import { NATIVE_SECP256K1, recoverSigner } from "../../node/validation/signature.js";
import { validateOperation } from "../../node/validation/validate.js";
import type { Cluster } from "../lib/cluster.js";
import { signedPay } from "../lib/ops.js";
import { Progress } from "../lib/progress.js";
import { fmt, type BenchmarkResult } from "../lib/results.js";
import { interleavedRates, rateOfAsync } from "../lib/stats.js";

const require = createRequire(import.meta.url);
const TARGET_PER_CORE = 10_000;
const TARGET_SHARE = 0.65;
const OPS = 2_000;

export interface VerificationOptions {
  /** Measuring time of each rate. */
  seconds: number;
  /** Folder for the seen-check's LevelDB (the benchmarks' data folder). */
  dataRoot: string;
}

export async function runVerification(cluster: Cluster, options: VerificationOptions): Promise<BenchmarkResult> {
  const progress = new Progress("verification");
  const started = performance.now();
  const { scenario } = cluster.net;
  const deployment = scenario.deployment;
  const ctx: EscrowContext = { chainId: BigInt(deployment.chainId), escrow: deployment.contracts.escrow };
  const token = deployment.tokens["CNY"]?.address;
  if (!token) throw new Error("no CNY token in the deployment");
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 3_600);
  const inputs = Array.from({ length: OPS }, (_, i) =>
    signedPay(
      {
        payer: scenario.payers[i % scenario.payers.length] as { address: string; privateKey: string },
        merchant: (scenario.merchants[i % scenario.merchants.length] as { address: string }).address,
        token,
        feeBps: 100,
      },
      ctx,
      deadline,
    ),
  );
  const parsed = inputs.map(({ op }) => escrowOperationSchema.parse(op));
  const signatures = parsed.map((op) => ("signature" in op ? op.signature : ""));
  const ids = inputs.map((input) => input.id);
  // Raw recoveries take the signature already split and the digest as bytes: nothing but the curve math.
  const raw = ids.map((id, i) => {
    const signature = Buffer.from((signatures[i] as string).slice(2), "hex");
    return { sig64: signature.subarray(0, 64), recid: (signature[64] as number) - 27, digest: Buffer.from(id.slice(2), "hex"), sig: Signature.from(signatures[i] as string) };
  });
  const ms = options.seconds * 1000;
  const at = <T>(list: T[], i: number) => list[i % list.length] as T;

  const secp256k1 = require("secp256k1") as typeof Secp256k1;
  progress.log(`recovery rates and components, interleaved in rounds (${options.seconds} s each in all)`);
  const rates = interleavedRates(
    {
      native: (i) => {
        const r = at(raw, i);
        secp256k1.ecdsaRecover(r.sig64, r.recid, r.digest, false);
      },
      ethersJs: (i) => {
        const r = at(raw, i);
        SigningKey.recoverPublicKey(r.digest, r.sig);
      },
      nodePath: (i) => {
        const op = at(parsed, i);
        const { id } = operationDigests(op, ctx);
        if (op.kind === "pay") recoverSigner(id, op.signature);
      },
      recoverSigner: (i) => recoverSigner(at(ids, i), at(signatures, i)),
      operationDigests: (i) => operationDigests(at(parsed, i), ctx),
      schemaParse: (i) => escrowOperationSchema.parse(at(inputs, i).op),
    },
    ms,
  );
  const median = (name: string) => rates[name]?.median ?? 0;
  const native = { perSecond: median("native") };
  const nodePath = { perSecond: median("nodePath") };
  const recoverOnly = { perSecond: median("recoverSigner") };
  const digestsOnly = { perSecond: median("operationDigests") };
  const schemaOnly = { perSecond: median("schemaParse") };
  const rawRates = [
    { implementation: "libsecp256k1 (native, `secp256k1` package)", perSecond: native.perSecond },
    { implementation: "ethers SigningKey (pure JS, @noble/curves)", perSecond: median("ethersJs") },
  ].sort((a, b) => b.perSecond - a.perSecond);
  const fastest = rawRates[0] as { implementation: string; perSecond: number };

  // The whole validation core against the network's registry (an in-memory mirror built from chain
  // events) and a LevelDB seen-check; nothing is stored, so the same operations stay new.
  const dir = await mkdtemp(join(options.dataRoot, "settlenet-bench-verify-"));
  const storage = await openStorage(join(dir, "db"));
  const registry = new ChainRegistryView({ deployment, pollIntervalMs: 60_000 }, { provider: scenario.chain.provider, logger: pino({ level: "silent" }) });
  let full: { perSecond: number; calls: number };
  try {
    await registry.start();
    const vctx: ValidationContext = { ...ctx, registry, storage, rules: {}, nowSeconds: () => Math.floor(Date.now() / 1000) };
    const risk = new RiskEngine({});
    // Fails loudly if the signed operations are not valid (a wrong signature would make every rate meaningless).
    await validateOperation(inputs[0]?.op, vctx, "gossip", risk);
    full = await rateOfAsync((i) => validateOperation(at(inputs, i).op, vctx, "gossip", risk), ms);
  } finally {
    await registry.stop();
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }

  const share = nodePath.perSecond / fastest.perSecond;
  const met = nodePath.perSecond >= TARGET_PER_CORE && share >= TARGET_SHARE;
  const micros = (perSecond: number) => 1e6 / perSecond;
  const stages = [
    { stage: "curve math (libsecp256k1 ecdsaRecover)", us: micros(native.perSecond) },
    { stage: "recoverSigner around it (hex decoding, low-s check, keccak256 of the key, address checksum)", us: micros(recoverOnly.perSecond) - micros(native.perSecond) },
    { stage: "operationDigests (EIP-712 payment id: two keccak256 over encoded words)", us: micros(digestsOnly.perSecond) },
  ].sort((a, b) => b.us - a.us);
  const overhead = stages.filter((s) => !s.stage.startsWith("curve"));
  const worst = overhead[0] as { stage: string; us: number };
  return {
    name: "verification",
    rows: [
      {
        benchmark: "verification",
        metric: "EIP-712 recoveries in the node's validation path, per core",
        value: nodePath.perSecond,
        unit: "/s",
        target: `≥ ${fmt(TARGET_PER_CORE)}/s per core and ≥ ${TARGET_SHARE * 100}% of raw`,
        met,
        notes:
          `${fmt(share * 100, 1)}% of the fastest raw rate here, ${fastest.implementation} at ${fmt(fastest.perSecond)}/s; ` +
          `whole validateOperation (schema, registry, LevelDB seen-check, signature) ${fmt(full.perSecond)}/s; single thread, median of 5 interleaved rounds` +
          (NATIVE_SECP256K1 ? "" : "; WARNING: the node fell back to the pure-JS secp256k1"),
        ...(met
          ? {}
          : {
              bottleneck: {
                stage: worst.stage,
                evidence:
                  stages.map((s) => `${s.stage}: ${s.us < 0 ? "below the noise" : `${fmt(s.us, 1)} µs`}`).join("; ") +
                  " (per call, from the median of 5 interleaved rounds of each rate; differences of rates can be negative on a busy machine)",
              },
            }),
      },
    ],
    details: {
      nativeSecp256k1InNode: NATIVE_SECP256K1,
      rawRecoveryPerSecond: rawRates,
      nodePathPerSecond: nodePath.perSecond,
      shareOfFastestRaw: share,
      ratesPerSecondMedianBestAndRounds: rates,
      componentsPerSecond: {
        recoverSigner: recoverOnly.perSecond,
        operationDigests: digestsOnly.perSecond,
        schemaParse: schemaOnly.perSecond,
        validateOperation: full.perSecond,
      },
      microsecondsPerCall: Object.fromEntries(stages.map((s) => [s.stage, s.us])),
      schemaParseMicroseconds: micros(schemaOnly.perSecond),
      validateOperationMicroseconds: micros(full.perSecond),
      operations: OPS,
    },
    durationSeconds: (performance.now() - started) / 1000,
  };
}
