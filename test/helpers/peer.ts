/**
 * A libp2p gossip peer run inside the test process with the node's own network code, standing for an
 * intruder or a misbehaving institution: it dials the nodes of a test network, records what it
 * receives and can publish arbitrary gossip messages.
 */
import { generateKeyPair } from "@libp2p/crypto/keys";
import { pino } from "pino";

import { peerIdOf, type PrivateKey } from "../../node/p2p/keys.js";
import { createGossipNetwork, type GossipNetwork } from "../../node/p2p/network.js";
import type { NodeHandle } from "./network.js";

export interface TestPeer {
  peerId: string;
  net: GossipNetwork;
  /** Every gossip message delivered to this peer, in arrival order. */
  received: { from: string; data: Uint8Array }[];
  stop(): Promise<void>;
}

export interface TestPeerOptions {
  /** The peer's key (a fresh Ed25519 key by default). */
  privateKey?: PrivateKey;
  /** Largest message this peer lets itself publish (lets a test send more than the nodes accept). */
  maxMessageBytes?: number;
}

/** A fresh libp2p identity: key and peer id. */
export async function freshPeerKey(): Promise<{ privateKey: PrivateKey; peerId: string }> {
  const privateKey = await generateKeyPair("Ed25519");
  return { privateKey, peerId: peerIdOf(privateKey) };
}

/**
 * Starts a peer on 127.0.0.1 that dials (and keeps re-dialling) `nodes`. Its own gater admits exactly
 * those nodes, so whether a connection forms is decided by the nodes' gaters. Received messages are
 * recorded and ignored (never forwarded).
 */
export async function startTestPeer(nodes: NodeHandle[], options: TestPeerOptions = {}): Promise<TestPeer> {
  const privateKey = options.privateKey ?? (await generateKeyPair("Ed25519"));
  const allowed = new Set(nodes.map((node) => node.peerId));
  const received: TestPeer["received"] = [];
  const net = await createGossipNetwork(
    {
      privateKey,
      listen: ["/ip4/127.0.0.1/tcp/0"],
      bootstrap: nodes.map((node) => node.p2pAddr),
      redialIntervalMs: 500,
      ...(options.maxMessageBytes ? { maxMessageBytes: options.maxMessageBytes } : {}),
    },
    {
      logger: pino({ level: process.env["SETTLENET_TEST_PEER_LOG"] ?? "silent" }),
      allowlist: () => allowed,
      validate: async (from, data) => {
        received.push({ from, data });
        return "ignore";
      },
    },
  );
  return { peerId: net.peerId, net, received, stop: () => net.stop() };
}
