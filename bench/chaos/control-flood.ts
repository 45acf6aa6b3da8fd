/**
 * A registered peer that floods gossipsub control messages: a libp2p node with the peer key of a
 * registered institution (so the allowlist lets it in) and stock gossipsub, subscribed to the operations
 * topic, that sends every connected peer RPCs carrying an IHAVE advertising many message ids nobody
 * has and an IWANT asking for as many unknown ids, again and again, and never delivers what it
 * advertised. Used by the chaos campaign (scenarios.ts) and the gossip defence test.
 */
import { randomBytes } from "node:crypto";

import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { gossipsub, StrictNoSign, type GossipSub } from "@libp2p/gossipsub";
import { RPC } from "@libp2p/gossipsub/message";
import { identify, type Identify } from "@libp2p/identify";
import type { PrivateKey } from "@libp2p/interface";
import { tcp } from "@libp2p/tcp";
import { multiaddr } from "@multiformats/multiaddr";
import { createLibp2p, type Libp2p } from "libp2p";

/** The part of gossipsub's class its exported interface leaves out: the open outbound stream to each peer. */
interface RawPubsub {
  streamsOutbound: Map<string, { push(data: Uint8Array): void }>;
}

export interface ControlFloodOptions {
  privateKey: PrivateKey;
  /** Victims' multiaddrs, each ending in /p2p/<peer id>. */
  bootstrap: string[];
  topic: string;
  /** Message ids per IHAVE and per IWANT (gossipsub's own cap on what it examines is 5000). */
  idsPerMessage?: number;
}

export interface ControlFlooder {
  peerId: string;
  /** Peers subscribed to the topic as the flooder sees them. */
  topicPeers(): string[];
  connectedPeers(): string[];
  /** Sends one IHAVE+IWANT RPC to every topic peer; returns how many were queued and how many refused. */
  round(): { sent: number; refused: number };
  stop(): Promise<void>;
}

export async function startControlFlooder(options: ControlFloodOptions): Promise<ControlFlooder> {
  const libp2p: Libp2p<{ identify: Identify; pubsub: GossipSub }> = await createLibp2p({
    privateKey: options.privateKey,
    addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
    transports: [tcp()],
    connectionEncrypters: [noise()],
    streamMuxers: [yamux()],
    connectionGater: { denyDialMultiaddr: () => false },
    services: {
      identify: identify(),
      pubsub: gossipsub({ globalSignaturePolicy: StrictNoSign, allowPublishToZeroTopicPeers: true, fallbackToFloodsub: false, allowedTopics: [options.topic] }),
    },
  });
  const pubsub = libp2p.services.pubsub;
  pubsub.subscribe(options.topic);
  for (const address of options.bootstrap) await libp2p.dial(multiaddr(address)).catch(() => undefined);
  const count = options.idsPerMessage ?? 5_000;
  // Fresh ids every round would cost the flooder more than its victims; a few RPCs of random ids,
  // encoded once, are just as unknown to them (they never receive the messages) and keep the flood at rate.
  const ids = () => Array.from({ length: count }, () => new Uint8Array(randomBytes(32)));
  const rpcs = Array.from({ length: 4 }, () =>
    RPC.encode({
      subscriptions: [],
      messages: [],
      control: { ihave: [{ topicID: options.topic, messageIDs: ids() }], iwant: [{ messageIDs: ids() }], graft: [], prune: [], idontwant: [] },
    }),
  );
  let turn = 0;
  const streams = (pubsub as unknown as RawPubsub).streamsOutbound;
  return {
    peerId: libp2p.peerId.toString(),
    topicPeers: () => pubsub.getSubscribers(options.topic).map(String),
    connectedPeers: () => libp2p.getPeers().map(String),
    round() {
      const rpc = rpcs[turn++ % rpcs.length] ?? new Uint8Array();
      let sent = 0;
      let refused = 0;
      for (const peer of pubsub.getSubscribers(options.topic)) {
        try {
          const stream = streams.get(peer.toString());
          if (!stream) throw new Error("no stream");
          stream.push(rpc);
          sent += 1;
        } catch {
          // Its outbound buffer is full (the victim reads slower than we write) or the stream is gone.
          refused += 1;
        }
      }
      return { sent, refused };
    },
    async stop() {
      await libp2p.stop();
    },
  };
}
