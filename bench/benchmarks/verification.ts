/**
 * verification: EIP-712 signature recoveries per second, single-threaded (one core), in the node's
 * validation path (operationDigests + the recovery the signature workers run, on this thread) beside
 * the raw recovery rate of the fastest secp256k1 implementation available here (native libsecp256k1
 * through the `secp256k1` package, and ethers' pure-JS SigningKey). Each component is also timed on its
 * own, so a miss names the stage that costs most.
 *
 * The node's path itself: the signature worker pool (one worker per core) recovering groups of 100,
 * as recoveries per CPU-second of every thread of this process (so dispatch and hand-off count) and as
 * a share of the raw rate; and validateGroup, the whole core (decode or schema, digests, LevelDB
 * seen-check, registry mirror, signatures in the pool) on groups of 100 against the network's
 * registry, as CPU microseconds per operation, for a compact gossip group and for JSON API input.
 * CPU time (process.cpuUsage) rather than wall rates: it holds up on a machine others are using.
 */
import { createRequire } from "node:module";
import { mkdtemp, rm } from "node:fs/promises";
import { join } from "node:path";

import { availableParallelism } from "node:os";

import { SigningKey, Signature } from "ethers";
import { pino } from "pino";
import type * as Secp256k1 from "secp256k1";

import { ChainRegistryView } from "../../node/chain/registry-view.js";
import { escrowOperationSchema, operationDigests, type EscrowContext } from "../../core/operations/index.js";
import { decodeGossipMessage, encodeGossipMessage } from "../../node/p2p/message.js";
import type { ValidationContext } from "../../node/services.js";
import { openStorage } from "../../node/storage/db.js";
import { RiskEngine } from "../../node/validation/risk.js";
import { NATIVE_SECP256K1, SignatureWorkerPool, recoverNow, recoverSigner } from "../../node/validation/signature.js";
import { validateGroup, validateOperation, type GroupItem } from "../../node/validation/validate.js";
import type { Cluster } from "../lib/cluster.js";
import { measurePipelineCpu, type PipelineCpu } from "../lib/pipeline-cpu.js";
import { signedPay } from "../lib/ops.js";
import { Progress } from "../lib/progress.js";
import { fmt, type BenchmarkResult } from "../lib/results.js";
import { interleavedRates } from "../lib/stats.js";

const require = createRequire(import.meta.url);
const TARGET_PER_CORE = 10_000;
const TARGET_SHARE = 0.65;
const OPS = 2_000;
const GROUP = 100;

/**
 * CPU microseconds (every thread of this process) per item: `run` handles `items` items per call and
 * is called for `rounds` rounds; the median round.
 */
async function cpuMicrosPerItem(run: (round: number) => Promise<unknown> | unknown, items: number, rounds: number): Promise<{ median: number; best: number }> {
  await run(-1);
  const samples: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const before = process.cpuUsage();
    await run(r);
    const used = process.cpuUsage(before);
    samples.push((used.user + used.system) / items);
  }
  samples.sort((a, b) => a - b);
  return { median: samples[Math.floor(samples.length / 2)] as number, best: samples[0] as number };
}

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
        if (op.kind === "pay") recoverNow([{ digest: id, signature: op.signature }]);
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

  // The signature worker pool on groups of GROUP: CPU of every thread per recovery, and wall throughput.
  const workers = availableParallelism();
  const pool = new SignatureWorkerPool({ workers }, { logger: pino({ level: "silent" }) });
  const groups = Array.from({ length: OPS / GROUP }, (_, g) => ids.slice(g * GROUP, (g + 1) * GROUP).map((digest, i) => ({ digest, signature: signatures[g * GROUP + i] as string })));
  const rounds = Math.max(3, Math.round(options.seconds * 2));
  progress.log(`signature worker pool (${workers} workers), groups of ${GROUP}: ${rounds} rounds of ${fmt(OPS)}`);
  let poolCpu: { median: number; best: number };
  let poolWall: number;
  try {
    const check = await pool.recover(groups[0] ?? []);
    if (check.some((r) => typeof r !== "string")) throw new Error("the pool refused a valid signature");
    poolCpu = await cpuMicrosPerItem(() => Promise.all(groups.map((group) => pool.recover(group))), OPS, rounds);
    const started = performance.now();
    await Promise.all(groups.map((group) => pool.recover(group)));
    poolWall = (OPS * 1000) / (performance.now() - started);
  } finally {
    await pool.close();
  }

  // The whole validation core on groups against the network's registry (an in-memory mirror built from
  // chain events) and a LevelDB seen-check; nothing is stored, so the same operations stay new.
  const dir = await mkdtemp(join(options.dataRoot, "settlenet-bench-verify-"));
  const storage = await openStorage(join(dir, "db"));
  const registry = new ChainRegistryView({ deployment, pollIntervalMs: 60_000 }, { provider: scenario.chain.provider, logger: pino({ level: "silent" }) });
  const groupPool = new SignatureWorkerPool({ workers }, { logger: pino({ level: "silent" }) });
  let gossipGroup: { median: number; best: number };
  let apiGroup: { median: number; best: number };
  let single: { median: number; best: number };
  let decodeCompact: { median: number; best: number };
  let parseJson: { median: number; best: number };
  try {
    await registry.start();
    const vctx: ValidationContext = { ...ctx, registry, storage, rules: {}, nowSeconds: () => Math.floor(Date.now() / 1000) };
    const risk = new RiskEngine({});
    const modules = { risk, signatures: groupPool };
    // Fails loudly if the signed operations are not valid (a wrong signature would make every rate meaningless).
    await validateOperation(inputs[0]?.op, vctx, "gossip", risk);
    const messages = Array.from({ length: OPS / GROUP }, (_, g) => encodeGossipMessage(inputs.slice(g * GROUP, (g + 1) * GROUP).map((input) => input.op)));
    const jsonGroups = Array.from({ length: OPS / GROUP }, (_, g) => inputs.slice(g * GROUP, (g + 1) * GROUP).map((input) => JSON.stringify(input.op)));
    const allValid = async (items: GroupItem[], path: "api" | "gossip") => {
      const results = await validateGroup(items, vctx, path, modules);
      if (results.some((r) => r.status !== "fulfilled")) throw new Error("a valid operation was refused");
    };
    progress.log(`validateGroup on groups of ${GROUP} (compact gossip, JSON API), one at a time per group`);
    gossipGroup = await cpuMicrosPerItem(async () => {
      for (const message of messages) await allValid(decodeGossipMessage(message), "gossip");
    }, OPS, rounds);
    // The API receives JSON text: Fastify's JSON.parse is counted here too.
    apiGroup = await cpuMicrosPerItem(async () => {
      for (const group of jsonGroups) await allValid(group.map((text) => ({ input: JSON.parse(text) as unknown })), "api");
    }, OPS, rounds);
    single = await cpuMicrosPerItem(async () => {
      for (const input of inputs) await validateOperation(input.op, vctx, "gossip", risk);
    }, OPS, rounds);
    decodeCompact = await cpuMicrosPerItem(() => messages.forEach((message) => decodeGossipMessage(message)), OPS, rounds);
    parseJson = await cpuMicrosPerItem(() => jsonGroups.forEach((group) => group.forEach((text) => escrowOperationSchema.parse(JSON.parse(text)))), OPS, rounds);
  } finally {
    await groupPool.close();
    await registry.stop();
    await storage.close();
    await rm(dir, { recursive: true, force: true });
  }
  // The pipeline as a node runs it, without network or relay: origin (API groups) and peer (their gossip messages).
  progress.log(`pipeline: an origin takes API groups of ${GROUP}, a peer their gossip messages, each storing synced`);
  const pipelinePool = new SignatureWorkerPool({ workers }, { logger: pino({ level: "silent" }) });
  let pipeline: PipelineCpu;
  try {
    pipeline = await measurePipelineCpu({
      deployment,
      provider: scenario.chain.provider,
      payers: scenario.payers,
      merchants: scenario.merchants,
      group: GROUP,
      groups: 10,
      rounds,
      modules: { signatures: pipelinePool },
    });
  } finally {
    await pipelinePool.close();
  }
  const poolPerCpuSecond = 1e6 / poolCpu.median;
  const poolShare = poolPerCpuSecond / native.perSecond;

  const share = nodePath.perSecond / fastest.perSecond;
  const met = nodePath.perSecond >= TARGET_PER_CORE && share >= TARGET_SHARE;
  const micros = (perSecond: number) => 1e6 / perSecond;
  const stages = [
    { stage: "curve math (libsecp256k1 ecdsaRecover)", us: micros(native.perSecond) },
    { stage: "recovery around it (hex decoding, low-s check, keccak256 of the key, address checksum)", us: micros(recoverOnly.perSecond) - micros(native.perSecond) },
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
          `${fmt(share * 100, 1)}% of the fastest raw rate here, ${fastest.implementation} at ${fmt(fastest.perSecond)}/s; single thread` +
          (NATIVE_SECP256K1 ? "" : "; WARNING: the node fell back to the pure-JS secp256k1 or keccak"),
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
      {
        benchmark: "verification",
        metric: `signature worker pool (${workers} workers, groups of ${GROUP}): recoveries per CPU-second, all threads`,
        value: poolPerCpuSecond,
        unit: "/s",
        target: `≥ ${TARGET_SHARE * 100}% of raw libsecp256k1 per core`,
        met: poolShare >= TARGET_SHARE,
        notes:
          `${fmt(poolShare * 100, 1)}% of raw native recovery (${fmt(native.perSecond)}/s on one core); ${fmt(poolCpu.median, 1)} µs of CPU per signature including packing, ` +
          `hand-off and the address checksum (median of ${rounds} rounds); ${fmt(poolWall)}/s wall with ${workers} workers on a machine others share`,
      },
      {
        benchmark: "verification",
        metric: `validateGroup, compact gossip group of ${GROUP}: CPU per operation, all threads`,
        value: gossipGroup.median,
        unit: "µs",
        target: "",
        met: undefined,
        notes:
          `decode, digests, LevelDB seen-check, registry, risk, signatures in the pool; JSON API group of ${GROUP} (JSON.parse + zod) ${fmt(apiGroup.median, 1)} µs; ` +
          `one operation at a time on this thread (validateOperation) ${fmt(single.median, 1)} µs; decoding alone: compact ${fmt(decodeCompact.median, 1)} µs vs JSON + zod ${fmt(parseJson.median, 1)} µs (medians of ${rounds} rounds)`,
      },
      {
        benchmark: "verification",
        metric: `node pipeline CPU per operation, origin: API groups of ${GROUP} validated, stored synced, gossip message encoded`,
        value: pipeline.origin.median,
        unit: "µs",
        target: "",
        met: undefined,
        notes: `every thread of the process (signature workers included), no network, relay or indexer; median of ${rounds} rounds of ${fmt(10 * GROUP)} (best ${fmt(pipeline.origin.best, 1)} µs)`,
      },
      {
        benchmark: "verification",
        metric: `node pipeline CPU per operation, peer: the origin's gossip messages decoded, validated, stored synced`,
        value: pipeline.peer.median,
        unit: "µs",
        target: "",
        met: undefined,
        notes: `as the origin row; ${fmt(pipeline.messageBytesPerOperation, 0)} gossip bytes per operation (best ${fmt(pipeline.peer.best, 1)} µs)`,
      },
    ],
    details: {
      pipelineCpuMicrosecondsPerOperation: pipeline,
      nativeSecp256k1InNode: NATIVE_SECP256K1,
      rawRecoveryPerSecond: rawRates,
      nodePathPerSecond: nodePath.perSecond,
      shareOfFastestRaw: share,
      ratesPerSecondMedianBestAndRounds: rates,
      componentsPerSecond: {
        recoverSigner: recoverOnly.perSecond,
        operationDigests: digestsOnly.perSecond,
        schemaParse: schemaOnly.perSecond,
      },
      workerPool: { workers, group: GROUP, cpuMicrosecondsPerSignature: poolCpu, recoveriesPerCpuSecond: poolPerCpuSecond, shareOfRawNative: poolShare, wallPerSecond: poolWall },
      cpuMicrosecondsPerOperation: {
        validateGroupCompactGossip: gossipGroup,
        validateGroupJsonApi: apiGroup,
        validateOperationOneAtATime: single,
        decodeCompactGroup: decodeCompact,
        jsonParseAndZod: parseJson,
      },
      microsecondsPerCall: Object.fromEntries(stages.map((s) => [s.stage, s.us])),
      schemaParseMicroseconds: micros(schemaOnly.perSecond),
      operations: OPS,
    },
    durationSeconds: (performance.now() - started) / 1000,
  };
}
