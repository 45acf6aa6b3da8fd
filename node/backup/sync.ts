/**
 * Catching up before acknowledging anything. A restored (or emptied) node gets what happened on-chain
 * from its indexer, which resumes at its cursor; operations that peers accepted while it was away and
 * that are not on-chain yet it gets from the peers: it publishes a sync request on the sync topic and
 * every peer answers with its pending (accepted or submitted) operations, in numbered parts, each
 * carrying one operations gossip message (a compact group, base64) that goes through the normal
 * gossip validation path. The request is done once every peer it reached has
 * delivered all the parts of its answer (or left), or at the timeout (alone in the network, or nobody
 * answers). `Readiness` says when the node may acknowledge: the peer sync is done and the indexer is
 * within `maxLagBlocks` of the head. Until then the API answers 503 NOT_READY. Readiness is a start-up
 * gate and latches: a node that was ready stays ready while the chain RPC is down or the indexer lags
 * under load (operations are still taken then and relayed once the chain is back).
 *
 * Limits: a peer sends at most `maxOperations` pending operations (what it has beyond that reaches
 * the node through the chain once executed); a node without bootstrap peers does not ask (nobody to
 * ask when it starts; peers that dial it later gossip only what is new).
 */
import { randomBytes } from "node:crypto";

import type { AbstractProvider } from "ethers";
import { z } from "zod";

import type { GossipNetwork, GossipValidationResult } from "../p2p/network.js";
import { encodeGossipMessage, MAX_OPERATIONS_PER_MESSAGE } from "../p2p/message.js";
import type { StoredOperation } from "../../core/records.js";
import type { Logger, Storage } from "../services.js";

export const SYNC_TOPIC = "/settlenet/sync/2";
const SYNC_VERSION = 2;
/** How often the request is re-checked for complete answers. */
const POLL_MS = 100;

const messageSchema = z.discriminatedUnion("type", [
  z.strictObject({ v: z.literal(SYNC_VERSION), type: z.literal("request"), from: z.string().min(1).max(128), nonce: z.string().regex(/^[0-9a-f]{32}$/) }),
  z.strictObject({
    v: z.literal(SYNC_VERSION),
    type: z.literal("response"),
    to: z.string().min(1).max(128),
    nonce: z.string().regex(/^[0-9a-f]{32}$/),
    by: z.string().min(1).max(128),
    /** This message's index among the `parts` messages of the answer. */
    part: z.number().int().nonnegative(),
    parts: z.number().int().positive().max(1_000),
    /** Operations in this part (at most MAX_OPERATIONS_PER_MESSAGE). */
    count: z.number().int().nonnegative().max(MAX_OPERATIONS_PER_MESSAGE),
    /** One operations gossip message holding them, base64; absent when there are none. */
    group: z.base64().optional(),
  }),
]);

const encoder = new TextEncoder();
const decoder = new TextDecoder("utf-8", { fatal: true });
const encode = (message: z.infer<typeof messageSchema>) => encoder.encode(JSON.stringify(message));

export interface PeerSyncOptions {
  /** Stop waiting for an answer after this long (alone in the network, or nobody answers). */
  timeoutMs?: number;
  /** Most pending operations one node sends in answer. */
  maxOperations?: number;
}

export interface PeerSyncModules {
  network: GossipNetwork;
  storage: Storage;
  logger: Logger;
  /** The operations gossip path (validate, store, enqueue): what answers are fed into. */
  ingest(fromPeerId: string, data: Uint8Array): Promise<GossipValidationResult>;
}

/** Asks peers for their pending operations and answers their requests; see the module comment. */
export class PeerSync {
  private nonce: string | undefined;
  /** Parts of the current request's answers received (and ingested), by answering peer. */
  private readonly answers = new Map<string, { parts: number; received: Set<number> }>();
  private received = 0;

  constructor(
    private readonly options: PeerSyncOptions,
    private readonly modules: PeerSyncModules,
  ) {
    modules.network.addTopic(SYNC_TOPIC, (from, data) => this.onMessage(from, data));
  }

  /** Requests pending operations from peers; resolves with how many were received once answered or timed out. */
  async syncOnce(): Promise<number> {
    const { network, logger } = this.modules;
    const nonce = randomBytes(16).toString("hex");
    this.nonce = nonce;
    this.received = 0;
    this.answers.clear();
    const deadline = Date.now() + (this.options.timeoutMs ?? 10_000);
    let asked: string[] = [];
    // The mesh forms a moment after start: repeat the request until a peer got it (or time is up).
    while (Date.now() < deadline) {
      const peers = network.topicPeers(SYNC_TOPIC);
      if (peers.length > 0) {
        const sent = await network.publishTo(SYNC_TOPIC, encode({ v: SYNC_VERSION, type: "request", from: network.peerId, nonce })).catch(() => 0);
        if (sent > 0) {
          asked = peers;
          break;
        }
      }
      await sleep(POLL_MS);
    }
    // Done when every peer asked has delivered its whole answer, or is gone (it cannot answer then).
    const complete = () => {
      const connected = new Set(network.topicPeers(SYNC_TOPIC));
      return asked.every((peer) => {
        const answer = this.answers.get(peer);
        return (answer !== undefined && answer.received.size >= answer.parts) || !connected.has(peer);
      });
    };
    while (asked.length > 0 && !complete() && Date.now() < deadline) await sleep(POLL_MS);
    this.nonce = undefined;
    const answered = [...this.answers.values()].filter((a) => a.received.size >= a.parts).length;
    const context = { asked: asked.length, answered, received: this.received };
    if (asked.length === 0) logger.info(context, "no peer to sync pending operations from");
    else if (answered < asked.length) logger.warn(context, "not every peer answered the sync request in time");
    else logger.info(context, "synced pending operations from peers");
    return this.received;
  }

  private async onMessage(from: string, data: Uint8Array): Promise<GossipValidationResult> {
    let message: z.infer<typeof messageSchema>;
    try {
      message = messageSchema.parse(JSON.parse(decoder.decode(data)));
    } catch {
      return "reject";
    }
    const self = this.modules.network.peerId;
    if (message.type === "request") {
      if (message.from !== self) void this.answer(message.from, message.nonce);
      return "accept";
    }
    if (message.to !== self) return "accept";
    if (message.nonce !== this.nonce || message.part >= message.parts) return "ignore";
    const verdict = message.group === undefined ? "accept" : await this.modules.ingest(from, Buffer.from(message.group, "base64"));
    // Counted only once ingested: a complete answer means its operations are stored.
    this.received += message.count;
    const answer = this.answers.get(message.by) ?? { parts: message.parts, received: new Set<number>() };
    answer.received.add(message.part);
    this.answers.set(message.by, answer);
    return verdict === "reject" ? "reject" : "accept";
  }

  private async answer(to: string, nonce: string): Promise<void> {
    const { storage, network, logger } = this.modules;
    try {
      const max = this.options.maxOperations ?? 5_000;
      const pending = [...(await storage.operations.listByStatus("accepted", max)), ...(await storage.operations.listByStatus("submitted", max))].slice(0, max);
      const ops = pending.map((op) => op.op);
      const parts = Math.max(1, Math.ceil(ops.length / MAX_OPERATIONS_PER_MESSAGE));
      for (let part = 0; part < parts; part++) {
        const slice = ops.slice(part * MAX_OPERATIONS_PER_MESSAGE, (part + 1) * MAX_OPERATIONS_PER_MESSAGE);
        const group = groupOf(slice, logger);
        await network.publishTo(
          SYNC_TOPIC,
          encode({ v: SYNC_VERSION, type: "response", to, nonce, by: network.peerId, part, parts, count: group.count, ...(group.base64 ? { group: group.base64 } : {}) }),
        );
      }
      logger.debug({ to, operations: ops.length }, "answered a sync request");
    } catch (error) {
      logger.warn({ err: error, to }, "answering a sync request failed");
    }
  }
}

/** Stored operations (validated when accepted) as one gossip message, base64. */
function groupOf(ops: StoredOperation["op"][], logger: Logger): { count: number; base64?: string } {
  if (ops.length === 0) return { count: 0 };
  try {
    return { count: ops.length, base64: Buffer.from(encodeGossipMessage(ops)).toString("base64") };
  } catch (error) {
    // Only a stored operation this version cannot encode gets here; the chain still tells the peer.
    logger.warn({ err: error, operations: ops.length }, "pending operations could not be encoded for a sync answer");
    return { count: 0 };
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Whether the node may acknowledge: peers synced and the indexer near the head (checked every `intervalMs` until then; latches). */
export class Readiness {
  private peersSynced = false;
  private caughtUp = false;
  /** Set once both held; never cleared. */
  private ready = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: { intervalMs: number; maxLagBlocks: number },
    private readonly modules: { provider: AbstractProvider; storage: Storage; logger: Logger },
  ) {}

  isReady(): boolean {
    return this.ready;
  }

  markPeersSynced(): void {
    this.peersSynced = true;
    // Ready at once if the indexer is already near the head, not at the next tick.
    void this.check().catch(() => false);
  }

  /** Checks the indexer's lag now (nothing to check once ready: readiness latches). */
  async check(): Promise<boolean> {
    if (this.ready) return true;
    const [head, indexed] = await Promise.all([this.modules.provider.getBlockNumber().catch(() => null), this.modules.storage.getCursor()]);
    const caughtUp = head !== null && indexed !== undefined && head - indexed <= this.options.maxLagBlocks;
    if (caughtUp !== this.caughtUp) this.modules.logger.info({ head, indexed }, caughtUp ? "caught up with the chain" : "behind the chain: not acknowledging");
    this.caughtUp = caughtUp;
    if (!this.ready && this.peersSynced && this.caughtUp) {
      this.ready = true;
      this.modules.logger.info({ head, indexed }, "ready: acknowledging operations");
    }
    return this.ready;
  }

  async start(): Promise<void> {
    await this.check().catch(() => false);
    const tick = () => {
      this.check()
        .catch(() => false)
        .finally(() => {
          if (this.timer && !this.ready) this.timer = setTimeout(tick, this.options.intervalMs);
        });
    };
    this.timer = setTimeout(tick, this.options.intervalMs);
  }

  async stop(): Promise<void> {
    const timer = this.timer;
    this.timer = undefined;
    clearTimeout(timer);
  }
}
