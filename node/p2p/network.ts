/**
 * The permissioned gossip network: libp2p over TCP with Noise and Yamux, gossipsub on the operations topic plus any further topics declared up front (`topics`) and subscribed with
 * `addTopic`, each with its own validator (settlement attestations, compliance alerts). Only peers in the registry-derived allowlist may connect (the connection gater checks
 * every encrypted connection); discovery is explicit (the bootstrap list, re-dialled periodically).
 * Every received message goes through its topic's validator; each "reject" is an offence against the
 * peer that forwarded it, and after `maxRejects` offences that peer is hung up and banned for a while.
 * Gossipsub peer scoring runs alongside, so rejected messages also lower the peer's score.
 *
 * Gossip control messages (IHAVE/IWANT) are bounded in three places: the decoder refuses an RPC with
 * more control entries or ids than an honest peer ever sends (`decodeRpcLimits`), gossipsub itself looks
 * at 10 IHAVEs and 10 IWANTs and asks for 5000 ids per peer per heartbeat and penalises IHAVEs whose
 * messages never come (the behaviour penalty), and every second a peer sends more than
 * `maxControlRpcsPerSecond` RPCs carrying IHAVE or IWANT, the rest are dropped before gossipsub handles
 * them and the peer is charged one offence (so a peer that keeps flooding is banned like one that sends
 * invalid messages). An honest peer sends gossip once per heartbeat (one second) and an IWANT only in
 * answer to ours.
 *
 * Messages are not signed by gossipsub (StrictNoSign: no author, sequence number or signature on the
 * wire). What they carry is signed already (operations, attestations and alerts by their signers),
 * and every peer is authenticated by Noise and the allowlist, so gossipsub's own Ed25519 signature
 * proved nothing more, and it was verified on every copy before duplicates were dropped. A message's
 * id is a hash of its data (and topic), so each further copy is dropped by the seen-cache before any
 * validation or signature check, and the same data published by two nodes is one message.
 * Yamux grants receive credit once per half window, not once per message (yamux-window.ts).
 *
 * No mesh by default (`meshDegree` 0): a consortium's nodes all dial one another (each one's bootstrap
 * list names the others), and a node sends what it publishes to every connected peer (flood publish),
 * so each peer gets one copy straight from its publisher. Mesh forwarding would add, per message and
 * peer, a copy to every other peer or an IDONTWANT to stop it: several RPCs per message that only
 * matter when two nodes are not connected. What a node missed (a link down) it still gets from the
 * IHAVE gossip every peer sends once a heartbeat (one second) for the messages it has seen lately,
 * answered by an IWANT. A network whose nodes do not all connect to each other sets `meshDegree`
 * (gossipsub's D, e.g. 6) for forwarding without the heartbeat's delay.
 */
import { createHash } from "node:crypto";

import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { gossipsub, StrictNoSign, TopicValidatorResult, type GossipSub, type Message } from "@libp2p/gossipsub";
import { createTopicScoreParams } from "@libp2p/gossipsub/score";
import { identify, type Identify } from "@libp2p/identify";
import type { ConnectionGater, Libp2p, PeerId, PrivateKey } from "@libp2p/interface";
import { peerIdFromPrivateKey, peerIdFromString } from "@libp2p/peer-id";
import { tcp } from "@libp2p/tcp";
import { multiaddr, type Multiaddr } from "@multiformats/multiaddr";
import { createLibp2p } from "libp2p";
import type { Registry } from "prom-client";
import { z } from "zod";

import { SettlenetError } from "../../core/errors.js";
import { counterOf } from "../metrics.js";
import { GOSSIP_TOPIC } from "./message.js";
import { applyYamuxWindowUpdates } from "./yamux-window.js";
import type { Logger } from "../services.js";

/** Largest length-prefixed frame gossipsub encodes or decodes (it-length-prefixed's default, set explicitly). */
const MAX_FRAME_BYTES = 4 * 1024 * 1024;
/** Room for the RPC envelope around one message's data (topic and framing; no author or signature). */
const FRAME_OVERHEAD_BYTES = 64 * 1024;
const DIAL_TIMEOUT_MS = 5_000;
/** Gossipsub's cap on ids it examines per IHAVE or IWANT (GossipsubMaxIHaveLength); an honest peer never sends more. */
const MAX_CONTROL_IDS = 5_000;
/** Control entries and subscriptions per RPC: an honest peer sends at most one IHAVE, IWANT, graft, prune or subscription per topic, and we carry a handful of topics. */
const MAX_CONTROL_ENTRIES = 64;
/** Gossipsub's publish threshold: a peer at or below it no longer receives our own messages. */
const PUBLISH_THRESHOLD = -50;

export type GossipValidationResult = "accept" | "ignore" | "reject";

export interface GossipNetworkOptions {
  privateKey: PrivateKey;
  /** Multiaddrs to listen on, e.g. /ip4/127.0.0.1/tcp/0. */
  listen: string[];
  /** Peers to dial at start and re-dial while disconnected; each multiaddr ends in /p2p/<peer id>. */
  bootstrap?: string[];
  topic?: string;
  /**
   * Further topics this network carries besides `topic`. Declared at start so that peers'
   * subscriptions to them are kept from the first connection; subscribe with `addTopic`. Peers'
   * subscriptions and messages on undeclared topics are dropped.
   */
  topics?: string[];
  /** Largest message data accepted or published. */
  maxMessageBytes?: number;
  /** Offences (rejected or oversized messages) after which a peer is hung up and banned. */
  maxRejects?: number;
  banSeconds?: number;
  redialIntervalMs?: number;
  /** RPCs carrying IHAVE or IWANT taken from one peer per second; beyond it they are dropped and the peer charged an offence. */
  maxControlRpcsPerSecond?: number;
  /** Gossipsub mesh degree D (Dlo, Dhi, Dscore and Dout in gossipsub's default proportions); 0: no mesh (see the module comment). */
  meshDegree?: number;
}

export interface GossipNetworkModules {
  logger: Logger;
  /** Peer ids allowed to connect (active institutions and regulators); read on every connection. */
  allowlist: () => ReadonlySet<string>;
  /**
   * Decides a received message before it is forwarded. `fromPeerId` is the propagation source (the
   * peer that sent it to us), which is also the peer an offence is counted against.
   */
  validate: (fromPeerId: string, data: Uint8Array) => Promise<GossipValidationResult>;
  /** Gossip message id from the data (default: its sha256); equal ids are delivered once. */
  messageId?: (data: Uint8Array) => Uint8Array;
  /** What arrives from peers: RPCs, message copies and control entries. */
  metrics?: Registry;
}

export interface GossipNetwork {
  peerId: string;
  /** Listen addresses, each ending in /p2p/<peer id> (usable as another node's bootstrap entry). */
  multiaddrs(): string[];
  /** Publishes to the topic; resolves to the number of peers it was sent to (0 when alone). */
  publish(data: Uint8Array): Promise<number>;
  /**
   * Subscribes to a declared further topic; its messages go through `validate` (same offence counting
   * and bans as the operations topic). Until then, messages on it are ignored.
   */
  addTopic(topic: string, validate: GossipNetworkModules["validate"]): void;
  /** Publishes to a declared topic (subscribed or not); resolves to the number of peers it was sent to. */
  publishTo(topic: string, data: Uint8Array): Promise<number>;
  connectedPeers(): string[];
  /** Connected peers subscribed to `topic` (default: the operations topic). */
  topicPeers(topic?: string): string[];
  /** Gossipsub score of a peer (0 for unknown peers); negative after rejected messages. */
  peerScore(peerId: string): number;
  /** Connections with `peerId` the connection gater refused since start (not allowlisted, or banned). */
  refusedConnections(peerId: string): number;
  /** Hangs up peers no longer allowed and dials bootstrap peers that now are; call when the registry changes. */
  refreshAllowlist(): Promise<void>;
  stop(): Promise<void>;
}

const optionsSchema = z.strictObject({
  listen: z.array(z.string()).min(1),
  bootstrap: z.array(z.string()).default([]),
  topic: z.string().min(1).default(GOSSIP_TOPIC),
  topics: z.array(z.string().min(1)).default([]),
  maxMessageBytes: z
    .number()
    .int()
    .positive()
    .max(MAX_FRAME_BYTES - FRAME_OVERHEAD_BYTES)
    .default(1024 * 1024),
  maxRejects: z.number().int().positive().default(5),
  banSeconds: z.number().positive().default(600),
  redialIntervalMs: z.number().int().positive().default(2_000),
  maxControlRpcsPerSecond: z.number().int().positive().default(20),
  meshDegree: z.number().int().min(0).max(12).default(0),
});

type Services = { identify: Identify; pubsub: GossipSub };

/** The part of gossipsub's class that its exported interface leaves out. */
interface ScoredPubsub {
  getScore(peerId: string): number;
  /** Called with every decoded RPC from a peer (public on the class, for tests and wrappers like ours). */
  handleReceivedRpc(from: PeerId, rpc: ReceivedRpc): Promise<void>;
}
interface ReceivedRpc {
  messages?: unknown[];
  control?:
    | {
        ihave?: { messageIDs?: unknown[] }[];
        iwant?: { messageIDs?: unknown[] }[];
        idontwant?: { messageIDs?: unknown[] }[];
        graft?: unknown[];
        prune?: unknown[];
      }
    | undefined;
}

/** Message ids over a control message's entries. */
function idCount(entries: { messageIDs?: unknown[] }[] | undefined): number {
  let count = 0;
  for (const entry of entries ?? []) count += entry.messageIDs?.length ?? 0;
  return count;
}

/** Peers whose refused connections are counted one by one (refusedConnections). */
const REFUSALS_KEPT = 1_024;

/** Starts a libp2p node on the gossip topic with the allowlist gater and the bootstrap re-dial loop. */
export async function createGossipNetwork(options: GossipNetworkOptions, modules: GossipNetworkModules): Promise<GossipNetwork> {
  const { privateKey, ...rest } = options;
  const parsed = optionsSchema.safeParse(rest);
  if (!parsed.success) {
    throw new SettlenetError("P2P_OPTIONS_INVALID", `invalid gossip network options: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`, {
      fields: parsed.error.issues.map((issue) => issue.path.join(".")),
    });
  }
  const config = parsed.data;
  const extraTopics = new Set(config.topics.filter((topic) => topic !== config.topic));
  const allTopics = [config.topic, ...extraTopics];
  const listen = config.listen.map((address) => parseMultiaddr(address, "listen"));
  const bootstrap = config.bootstrap.map((address) => {
    const addr = parseMultiaddr(address, "bootstrap");
    const peer = addr.getComponents().findLast((component) => component.name === "p2p")?.value;
    if (peer === undefined) {
      throw new SettlenetError("P2P_OPTIONS_INVALID", `bootstrap address ${address} does not end in /p2p/<peer id>`, { fields: ["bootstrap"], address });
    }
    return { peer, addr };
  });

  const self = peerIdFromPrivateKey(privateKey).toString();
  const logger = modules.logger.child({ component: "p2p", peer: self });
  const messageId = modules.messageId ?? sha256;
  const offences = new OffenceTracker(config.maxRejects, config.banSeconds * 1_000);
  const admitted = (peer: string): boolean => modules.allowlist().has(peer) && !offences.isBanned(peer);

  const refusedCount = counterOf(modules.metrics, "settlenet_p2p_connections_refused_total", "Connections the connection gater refused, by reason (banned, not_allowlisted)", ["reason"]);
  const refusedFrom = new Map<string, number>();
  const refuse = (peer: PeerId, direction: "inbound" | "outbound"): boolean => {
    const id = peer.toString();
    if (admitted(id)) return false;
    const banned = offences.isBanned(id);
    // Per peer, for the most recently refused ones only: a dialler can make up peer ids at will.
    const count = (refusedFrom.get(id) ?? 0) + 1;
    refusedFrom.delete(id);
    refusedFrom.set(id, count);
    if (refusedFrom.size > REFUSALS_KEPT) refusedFrom.delete(refusedFrom.keys().next().value as string);
    refusedCount.inc({ reason: banned ? "banned" : "not_allowlisted" });
    logger.debug({ remote: id, direction, reason: banned ? "banned" : "not-allowlisted" }, "connection refused");
    return true;
  };
  const connectionGater: ConnectionGater = {
    // Explicitly allow every address: consortium nodes (and tests) sit on private and loopback networks.
    denyDialMultiaddr: () => false,
    denyDialPeer: (peer) => !admitted(peer.toString()),
    denyInboundEncryptedConnection: (peer) => refuse(peer, "inbound"),
    denyOutboundEncryptedConnection: (peer) => refuse(peer, "outbound"),
  };

  // Penalty weight chosen so that maxRejects offences bring a score to the publish threshold but stay
  // above the graylist threshold (-80): the validator keeps seeing the offender until the ban.
  const invalidMessageDeliveriesWeight = PUBLISH_THRESHOLD / config.maxRejects ** 2;
  // One window-update frame per half window instead of per message (yamux-window.ts).
  applyYamuxWindowUpdates();
  const libp2p: Libp2p<Services> = await createLibp2p<Services>({
    privateKey,
    addresses: { listen: listen.map(String) },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater,
    services: {
      identify: identify(),
      pubsub: gossipsub({
        globalSignaturePolicy: StrictNoSign,
        ...meshParams(config.meshDegree),
        allowPublishToZeroTopicPeers: true,
        ignoreDuplicatePublishError: true,
        fallbackToFloodsub: false,
        allowedTopics: allTopics,
        // Further topics get ids over topic and data, so equal bytes on two topics are two messages.
        msgIdFn: (msg: Message) => (msg.topic === config.topic ? messageId(msg.data) : sha256(topicBytes(msg.topic), msg.data)),
        maxInboundDataLength: MAX_FRAME_BYTES,
        decodeRpcLimits: {
          maxSubscriptions: MAX_CONTROL_ENTRIES,
          maxMessages: 5_000,
          maxIhaveMessageIDs: MAX_CONTROL_IDS,
          maxIwantMessageIDs: MAX_CONTROL_IDS,
          maxIdontwantMessageIDs: 512,
          maxControlMessages: MAX_CONTROL_ENTRIES,
          maxPeerInfos: 16,
        },
        scoreParams: {
          // Every peer is vetted by the registry and tests share one IP: colocation says nothing here.
          IPColocationFactorWeight: 0,
          // Forget a penalty over about one ban period.
          retainScore: config.banSeconds * 1_000,
          topics: Object.fromEntries(
            allTopics.map((topic) => [
              topic,
              createTopicScoreParams({
                topicWeight: 1,
                // Positive components are off: only misbehaviour moves a vetted peer's score, and a quiet
                // consortium network must not punish peers for low traffic.
                timeInMeshWeight: 0,
                firstMessageDeliveriesWeight: 0,
                meshMessageDeliveriesWeight: 0,
                meshFailurePenaltyWeight: 0,
                invalidMessageDeliveriesWeight,
                invalidMessageDeliveriesDecay: Math.pow(0.01, 1 / config.banSeconds),
              }),
            ]),
          ),
        },
        scoreThresholds: { publishThreshold: PUBLISH_THRESHOLD },
      }),
    },
  });

  const hangUp = async (peer: string, reason: string): Promise<void> => {
    logger.info({ remote: peer, reason }, "hanging up peer");
    try {
      await libp2p.hangUp(peerIdFromString(peer));
    } catch (error) {
      logger.warn({ remote: peer, err: error }, "hang-up failed");
    }
  };
  /** One offence of `peer`; a peer with too many is banned and hung up on. */
  const charge = (peer: string, what: string, offenceKind: string, detail: Record<string, unknown>): void => {
    const count = offences.record(peer);
    logger.debug({ remote: peer, offences: count, ...detail }, what);
    if (offences.isBanned(peer)) {
      logger.warn({ remote: peer, offences: count, banSeconds: config.banSeconds }, `peer banned after repeated ${offenceKind}`);
      void hangUp(peer, "banned");
    }
  };

  const pubsub = libp2p.services.pubsub;
  /** One validator wrapper for every topic: size limit, offence counting and bans. */
  const topicValidator =
    (topic: string, validate: GossipNetworkModules["validate"]) =>
    async (source: PeerId, message: Message): Promise<TopicValidatorResult> => {
      const from = source.toString();
      // A peer hung up a moment ago may still have messages in flight; drop them without judging.
      if (!admitted(from)) return TopicValidatorResult.Ignore;
      let outcome: GossipValidationResult;
      if (message.data.byteLength > config.maxMessageBytes) {
        outcome = "reject";
      } else {
        try {
          outcome = await validate(from, message.data);
        } catch (error) {
          // A validator fault is our problem, not the sender's.
          logger.error({ remote: from, topic, err: error }, "gossip validator failed");
          return TopicValidatorResult.Ignore;
        }
      }
      if (outcome === "reject") {
        charge(from, "gossip message rejected", "rejected messages", { topic, bytes: message.data.byteLength });
        return TopicValidatorResult.Reject;
      }
      return outcome === "accept" ? TopicValidatorResult.Accept : TopicValidatorResult.Ignore;
    };
  // Control-message flood limit (see the module comment): counted per peer per one-second window.
  const controlRpcs = new Map<string, { windowStart: number; count: number; charged: boolean }>();
  const scored = pubsub as unknown as ScoredPubsub;
  const handleRpc = scored.handleReceivedRpc.bind(pubsub);
  const received = counterOf(
    modules.metrics,
    "settlenet_p2p_received_total",
    "What peers sent this node, by part: rpc (frames), message (message copies, duplicates included), ihave, iwant and idontwant (message ids), graft, prune",
    ["part"],
  );
  scored.handleReceivedRpc = async (from, rpc) => {
    const control = rpc.control;
    received.inc({ part: "rpc" });
    if (rpc.messages?.length) received.inc({ part: "message" }, rpc.messages.length);
    if (control) {
      const ihave = idCount(control.ihave);
      const iwant = idCount(control.iwant);
      const idontwant = idCount(control.idontwant);
      if (ihave > 0) received.inc({ part: "ihave" }, ihave);
      if (iwant > 0) received.inc({ part: "iwant" }, iwant);
      if (idontwant > 0) received.inc({ part: "idontwant" }, idontwant);
      if (control.graft?.length) received.inc({ part: "graft" }, control.graft.length);
      if (control.prune?.length) received.inc({ part: "prune" }, control.prune.length);
    }
    if ((control?.ihave?.length ?? 0) === 0 && (control?.iwant?.length ?? 0) === 0) return handleRpc(from, rpc);
    const peer = from.toString();
    const now = Date.now();
    let window = controlRpcs.get(peer);
    if (window === undefined || now - window.windowStart >= 1_000) {
      window = { windowStart: now, count: 0, charged: false };
      controlRpcs.set(peer, window);
    }
    window.count += 1;
    if (window.count <= config.maxControlRpcsPerSecond) return handleRpc(from, rpc);
    if (!window.charged) {
      window.charged = true;
      charge(peer, "gossip control flood", "gossip control floods", { limit: config.maxControlRpcsPerSecond });
    }
    // The rest of the RPC (messages, subscriptions, grafts) is still handled; only the flood is dropped.
    return handleRpc(from, { ...rpc, control: { ...control, ihave: [], iwant: [] } });
  };
  libp2p.addEventListener("peer:disconnect", (event) => controlRpcs.delete(event.detail.toString()));

  pubsub.topicValidators.set(config.topic, topicValidator(config.topic, modules.validate));
  pubsub.subscribe(config.topic);
  // Declared topics nobody has added yet: their messages are neither judged nor forwarded.
  for (const topic of extraTopics) pubsub.topicValidators.set(topic, async () => TopicValidatorResult.Ignore);
  const added = new Set<string>();
  const checkSize = (data: Uint8Array): void => {
    if (data.byteLength > config.maxMessageBytes) {
      throw new SettlenetError("MESSAGE_TOO_LARGE", `gossip message of ${data.byteLength} bytes exceeds ${config.maxMessageBytes}`, {
        bytes: data.byteLength,
        maxMessageBytes: config.maxMessageBytes,
      });
    }
  };
  const checkDeclared = (topic: string): void => {
    if (topic !== config.topic && !extraTopics.has(topic)) {
      throw new SettlenetError("P2P_TOPIC_UNKNOWN", `gossip topic ${topic} was not declared when the network started`, { topic });
    }
  };

  libp2p.addEventListener("peer:connect", (event) => logger.info({ remote: event.detail.toString() }, "peer connected"));
  libp2p.addEventListener("peer:disconnect", (event) => logger.info({ remote: event.detail.toString() }, "peer disconnected"));

  // Bootstrap re-dial: nodes restart, so every bootstrap peer that is allowed but not connected is
  // dialled again each interval. At most one dial per peer is in flight.
  const dialing = new Set<string>();
  const stopping = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const redial = (): void => {
    const connected = new Set(libp2p.getPeers().map(String));
    for (const { peer, addr } of bootstrap) {
      if (peer === self || connected.has(peer) || dialing.has(peer) || !admitted(peer)) continue;
      dialing.add(peer);
      libp2p
        .dial(addr, { signal: AbortSignal.any([stopping.signal, AbortSignal.timeout(DIAL_TIMEOUT_MS)]) })
        .then(
          () => logger.debug({ remote: peer }, "dialled bootstrap peer"),
          (error: unknown) => logger.debug({ remote: peer, addr: addr.toString(), err: error }, "bootstrap dial failed"),
        )
        .finally(() => dialing.delete(peer));
    }
  };
  const schedule = (): void => {
    timer = setTimeout(() => {
      redial();
      schedule();
    }, config.redialIntervalMs);
    timer.unref();
  };
  redial();
  schedule();
  logger.info({ listen: libp2p.getMultiaddrs().map(String), bootstrap: bootstrap.length, topic: config.topic }, "gossip network started");

  return {
    peerId: self,
    multiaddrs: () => libp2p.getMultiaddrs().map(String),
    async publish(data) {
      checkSize(data);
      const { recipients } = await pubsub.publish(config.topic, data);
      return recipients.length;
    },
    addTopic(topic, validate) {
      checkDeclared(topic);
      if (topic === config.topic || added.has(topic)) {
        throw new SettlenetError("P2P_TOPIC_TAKEN", `gossip topic ${topic} already has a validator`, { topic });
      }
      added.add(topic);
      pubsub.topicValidators.set(topic, topicValidator(topic, validate));
      pubsub.subscribe(topic);
      logger.info({ topic }, "subscribed to gossip topic");
    },
    async publishTo(topic, data) {
      checkDeclared(topic);
      checkSize(data);
      const { recipients } = await pubsub.publish(topic, data);
      return recipients.length;
    },
    connectedPeers: () => libp2p.getPeers().map(String),
    topicPeers: (topic = config.topic) => pubsub.getSubscribers(topic).map(String),
    peerScore: (peer) => (pubsub as unknown as ScoredPubsub).getScore(peer),
    refusedConnections: (peer) => refusedFrom.get(peer) ?? 0,
    async refreshAllowlist() {
      const dropped = libp2p
        .getPeers()
        .map(String)
        .filter((peer) => !admitted(peer));
      await Promise.all(dropped.map((peer) => hangUp(peer, "not-allowlisted")));
      redial();
    },
    async stop() {
      clearTimeout(timer);
      stopping.abort();
      await libp2p.stop();
      logger.info("gossip network stopped");
    },
  };
}

/** Gossipsub's mesh bounds for degree `d` (its defaults' proportions at 6); all zero for no mesh. */
function meshParams(d: number): { D: number; Dlo: number; Dhi: number; Dscore: number; Dout: number } {
  if (d === 0) return { D: 0, Dlo: 0, Dhi: 0, Dscore: 0, Dout: 0 };
  return { D: d, Dlo: Math.max(1, Math.round((d * 2) / 3)), Dhi: d * 2, Dscore: Math.max(1, Math.round((d * 2) / 3)), Dout: Math.floor(d / 3) };
}

function parseMultiaddr(address: string, field: string): Multiaddr {
  try {
    return multiaddr(address);
  } catch (error) {
    throw new SettlenetError("P2P_OPTIONS_INVALID", `${field} address ${address} is not a multiaddr`, { fields: [field], address }, { cause: error });
  }
}

function sha256(...parts: Uint8Array[]): Uint8Array {
  const hash = createHash("sha256");
  for (const part of parts) hash.update(part);
  return hash.digest();
}

/** A topic name as a length-prefixed prefix of its message ids. */
function topicBytes(topic: string): Uint8Array {
  const name = new TextEncoder().encode(topic);
  return new Uint8Array([...new TextEncoder().encode(`${name.byteLength}:`), ...name]);
}

/**
 * Counts offences per peer and bans a peer once it reaches `limit`. Offences older than the ban period
 * are forgotten, so a rare fault does not add up to a ban over months.
 */
class OffenceTracker {
  private readonly offences = new Map<string, { count: number; last: number }>();
  private readonly bans = new Map<string, number>();

  constructor(
    private readonly limit: number,
    private readonly banMs: number,
  ) {}

  /** Records one offence and returns the peer's count including it; reaching the limit bans the peer. */
  record(peer: string): number {
    const now = Date.now();
    const previous = this.offences.get(peer);
    const count = previous !== undefined && now - previous.last < this.banMs ? previous.count + 1 : 1;
    if (count >= this.limit) {
      this.offences.delete(peer);
      this.bans.set(peer, now + this.banMs);
    } else {
      this.offences.set(peer, { count, last: now });
    }
    return count;
  }

  isBanned(peer: string): boolean {
    const until = this.bans.get(peer);
    if (until === undefined) return false;
    if (Date.now() < until) return true;
    this.bans.delete(peer);
    return false;
  }
}
