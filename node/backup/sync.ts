/**
 * Catching up before acknowledging anything. A restored (or emptied) node gets what happened on-chain
 * from its indexer, which resumes at its cursor; operations that peers accepted while it was away and
 * that are not on-chain yet it gets from the peers: it publishes a sync request on the sync topic and
 * every peer answers with its pending (accepted or submitted) operations, which go through the normal
 * gossip validation path. `Readiness` says when the node may acknowledge: the peer sync is done (an
 * answer came, or nobody answered within the timeout) and the indexer is within `maxLagBlocks` of the
 * head. Until then the API answers 503 NOT_READY.
 */
import { randomBytes } from "node:crypto";

import type { AbstractProvider } from "ethers";
import { z } from "zod";

import type { GossipNetwork, GossipValidationResult } from "../p2p/network.js";
import { encodeGossipMessage, MAX_OPERATIONS_PER_MESSAGE } from "../protocol/gossip.js";
import type { Logger, Storage } from "../services.js";

export const SYNC_TOPIC = "/settlenet/sync/1";
/** How long to keep taking answers after the first one. */
const ANSWER_GRACE_MS = 500;

const messageSchema = z.discriminatedUnion("type", [
  z.strictObject({ v: z.literal(1), type: z.literal("request"), from: z.string().min(1).max(128), nonce: z.string().regex(/^[0-9a-f]{32}$/) }),
  z.strictObject({
    v: z.literal(1),
    type: z.literal("response"),
    to: z.string().min(1).max(128),
    nonce: z.string().regex(/^[0-9a-f]{32}$/),
    by: z.string().min(1).max(128),
    ops: z.array(z.unknown()).max(MAX_OPERATIONS_PER_MESSAGE),
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
  private answered: (() => void) | undefined;
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
    const deadline = Date.now() + (this.options.timeoutMs ?? 10_000);
    const answer = new Promise<void>((resolve) => (this.answered = resolve));
    let sent = 0;
    // The mesh forms a moment after start: repeat the request until a peer got it (or time is up).
    while (Date.now() < deadline) {
      if (network.topicPeers(SYNC_TOPIC).length > 0) {
        sent = await network.publishTo(SYNC_TOPIC, encode({ v: 1, type: "request", from: network.peerId, nonce })).catch(() => 0);
        if (sent > 0) break;
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
    if (sent > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([answer, new Promise((resolve) => (timer = setTimeout(resolve, Math.max(0, deadline - Date.now()))))]);
      clearTimeout(timer);
      // Other peers' answers follow the first closely: take them too.
      await new Promise((resolve) => setTimeout(resolve, Math.min(ANSWER_GRACE_MS, Math.max(0, deadline - Date.now()))));
    }
    this.nonce = undefined;
    logger.info({ peers: sent, received: this.received }, sent > 0 ? "synced pending operations from peers" : "no peer to sync pending operations from");
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
    if (message.nonce !== this.nonce) return "ignore";
    const verdict = message.ops.length === 0 ? "accept" : await this.modules.ingest(from, encodeGossipMessage(message.ops));
    this.received += message.ops.length;
    this.answered?.();
    return verdict === "reject" ? "reject" : "accept";
  }

  private async answer(to: string, nonce: string): Promise<void> {
    const { storage, network, logger } = this.modules;
    try {
      const max = this.options.maxOperations ?? 5_000;
      const pending = [...(await storage.operations.listByStatus("accepted", max)), ...(await storage.operations.listByStatus("submitted", max))].slice(0, max);
      const ops = pending.map((op) => op.op);
      for (let i = 0; i === 0 || i < ops.length; i += MAX_OPERATIONS_PER_MESSAGE) {
        await network.publishTo(SYNC_TOPIC, encode({ v: 1, type: "response", to, nonce, by: network.peerId, ops: ops.slice(i, i + MAX_OPERATIONS_PER_MESSAGE) }));
      }
      logger.debug({ to, operations: ops.length }, "answered a sync request");
    } catch (error) {
      logger.warn({ err: error, to }, "answering a sync request failed");
    }
  }
}

/** Whether the node may acknowledge: peers synced and the indexer near the head (checked every `intervalMs`). */
export class Readiness {
  private peersSynced = false;
  private caughtUp = false;
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly options: { intervalMs: number; maxLagBlocks: number },
    private readonly modules: { provider: AbstractProvider; storage: Storage; logger: Logger },
  ) {}

  isReady(): boolean {
    return this.peersSynced && this.caughtUp;
  }

  markPeersSynced(): void {
    this.peersSynced = true;
  }

  /** Checks the indexer's lag now. */
  async check(): Promise<boolean> {
    const [head, indexed] = await Promise.all([this.modules.provider.getBlockNumber().catch(() => null), this.modules.storage.getCursor()]);
    const caughtUp = head !== null && indexed !== undefined && head - indexed <= this.options.maxLagBlocks;
    if (caughtUp !== this.caughtUp) this.modules.logger.info({ head, indexed }, caughtUp ? "caught up with the chain" : "behind the chain: not acknowledging");
    this.caughtUp = caughtUp;
    return this.isReady();
  }

  async start(): Promise<void> {
    await this.check().catch(() => false);
    const tick = () => {
      this.check()
        .catch(() => false)
        .finally(() => {
          if (this.timer) this.timer = setTimeout(tick, this.options.intervalMs);
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
