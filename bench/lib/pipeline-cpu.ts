/**
 * CPU per operation of the node's operation pipeline, in this process and without network, relay or
 * indexer: an origin pipeline takes groups of signed pays on its API path (validate, store synced,
 * encode the gossip message) and a peer pipeline takes each message the origin published on its gossip
 * path (decode, validate, store synced). Each has its own LevelDB; both read one registry mirror of the
 * network. CPU of every thread of the process (process.cpuUsage), so signature worker threads count.
 * It uses only the pipeline's public surface, so the same code measures an older tree too.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import type { AbstractProvider } from "ethers";
import { pino } from "pino";
import { Registry } from "prom-client";

import type { Deployment } from "../../core/protocol/deployment.js";
import { ChainRegistryView } from "../../node/chain/registry-view.js";
import { OperationPipeline } from "../../node/pipeline.js";
import type { ValidationContext } from "../../node/services.js";
import { openStorage } from "../../node/storage/db.js";
import { OutcomeMapper } from "../../node/validation/outcome.js";
import { RiskEngine } from "../../node/validation/risk.js";
import { signedPay } from "./ops.js";

export interface PipelineCpuInput {
  deployment: Deployment;
  provider: AbstractProvider;
  payers: readonly { address: string; privateKey: string }[];
  merchants: readonly { address: string }[];
  /** Operations per API call (= per gossip message). */
  group: number;
  /** Groups per round. */
  groups: number;
  /** Measured rounds (one more warms up). */
  rounds: number;
  /** Further pipeline modules (the signature verifier). */
  modules?: Record<string, unknown>;
}

export interface PipelineCpu {
  /** CPU µs per operation on the API path, median and best round. */
  origin: { median: number; best: number };
  /** CPU µs per operation on the gossip path, median and best round. */
  peer: { median: number; best: number };
  /** Gossip message bytes per operation. */
  messageBytesPerOperation: number;
}

const summary = (samples: number[]) => {
  const sorted = [...samples].sort((a, b) => a - b);
  return { median: sorted[Math.floor(sorted.length / 2)] as number, best: sorted[0] as number };
};

/** Measures; throws if any operation is refused (the numbers would then mean nothing). */
export async function measurePipelineCpu(input: PipelineCpuInput): Promise<PipelineCpu> {
  const { deployment } = input;
  const escrow = { chainId: BigInt(deployment.chainId), escrow: deployment.contracts.escrow };
  const token = deployment.tokens["CNY"]?.address;
  if (!token) throw new Error("no CNY token in the deployment");
  const deadline = BigInt(Math.floor(Date.now() / 1000) + 3_600);
  const perRound = input.group * input.groups;
  const pays = Array.from({ length: perRound * (input.rounds + 1) }, (_, i) =>
    signedPay(
      {
        payer: input.payers[i % input.payers.length] as { address: string; privateKey: string },
        merchant: (input.merchants[i % input.merchants.length] as { address: string }).address,
        token,
        feeBps: 100,
      },
      escrow,
      deadline,
    ),
  );

  const dir = await mkdtemp(join(tmpdir(), "settlenet-bench-pipeline-"));
  const logger = pino({ level: "silent" });
  const registry = new ChainRegistryView({ deployment, pollIntervalMs: 60_000 }, { provider: input.provider, logger });
  const originStorage = await openStorage(join(dir, "origin"));
  const peerStorage = await openStorage(join(dir, "peer"));
  try {
    await registry.start();
    const pipeline = (storage: typeof originStorage) => {
      const ctx: ValidationContext = { ...escrow, registry, storage, rules: {}, nowSeconds: () => Math.floor(Date.now() / 1000) };
      return new OperationPipeline({ readOnly: false }, ctx, { logger, outcomes: new OutcomeMapper({ logger, metrics: new Registry() }), risk: new RiskEngine({}), ...input.modules });
    };
    const origin = pipeline(originStorage);
    const peer = pipeline(peerStorage);
    let published: Uint8Array[] = [];
    origin.setPublisher(async (data) => {
      published.push(data);
      return 1;
    });
    const originSamples: number[] = [];
    const peerSamples: number[] = [];
    let messageBytes = 0;
    for (let round = 0; round <= input.rounds; round++) {
      const ops = pays.slice(round * perRound, (round + 1) * perRound);
      published = [];
      let before = process.cpuUsage();
      for (let g = 0; g < input.groups; g++) {
        const outcomes = await origin.submit(ops.slice(g * input.group, (g + 1) * input.group).map((p) => p.op));
        const refused = outcomes.find((o) => !o.accepted);
        if (refused) throw new Error(`the origin refused a valid pay: ${refused.accepted ? "" : refused.error.code}`);
      }
      let used = process.cpuUsage(before);
      if (round > 0) originSamples.push((used.user + used.system) / perRound);
      if (published.length !== input.groups) throw new Error(`the origin published ${published.length} messages for ${input.groups} groups`);
      messageBytes = published.reduce((sum, m) => sum + m.byteLength, 0) / perRound;
      before = process.cpuUsage();
      for (const message of published) {
        const verdict = await peer.onGossip("origin", message);
        if (verdict !== "accept") throw new Error(`the peer's verdict on a valid group: ${verdict}`);
      }
      used = process.cpuUsage(before);
      if (round > 0) peerSamples.push((used.user + used.system) / perRound);
    }
    return { origin: summary(originSamples), peer: summary(peerSamples), messageBytesPerOperation: messageBytes };
  } finally {
    await registry.stop();
    await originStorage.close();
    await peerStorage.close();
    await rm(dir, { recursive: true, force: true });
  }
}
