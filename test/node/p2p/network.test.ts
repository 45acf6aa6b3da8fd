import { mkdtemp, readFile, rm, stat, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { noise } from "@chainsafe/libp2p-noise";
import { yamux } from "@chainsafe/libp2p-yamux";
import { gossipsub, StrictNoSign, StrictSign, type GossipSub, type Message } from "@libp2p/gossipsub";
import { identify, type Identify } from "@libp2p/identify";
import { tcp } from "@libp2p/tcp";
import { multiaddr } from "@multiformats/multiaddr";
import { expect } from "chai";
import { createLibp2p } from "libp2p";
import { pino } from "pino";
import { Registry } from "prom-client";

import { GOSSIP_TOPIC } from "../../../node/p2p/message.js";

import { loadOrCreatePeerKey, peerIdOf, type PrivateKey } from "../../../node/p2p/keys.js";
import { createGossipNetwork, type GossipNetwork, type GossipNetworkOptions, type GossipValidationResult } from "../../../node/p2p/network.js";
import { refusalOf } from "../../helpers/errors.js";
import { waitFor } from "../../helpers/wait.js";

const logger = pino({ level: process.env.P2P_TEST_LOG ?? "silent" });
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/**
 * Checks `condition` on every poll until `tried` holds (the peer kept out has demonstrably tried to
 * connect again) and then once more: fails the first time it does not hold.
 */
async function holdsWhile(what: string, condition: () => boolean, tried: () => boolean, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const done = tried();
    if (!condition()) throw new Error(`no longer holds: ${what}`);
    if (done) return;
    if (Date.now() > deadline) throw new Error(`timed out waiting for the peer to try again: ${what}`);
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
}

interface Received {
  from: string;
  text: string;
}

interface TestNode {
  net: GossipNetwork;
  received: Received[];
  keyFile: string;
}

describe("permissioned gossip network", function () {
  this.timeout(90_000);

  let dir: string;
  let running: GossipNetwork[];
  /** The registry's view shared by every node in a test. */
  let allowed: Set<string>;

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-p2p-"));
    running = [];
    allowed = new Set();
  });

  afterEach(async function () {
    await Promise.all(running.map((net) => net.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  async function key(name: string): Promise<{ key: PrivateKey; peerId: string; keyFile: string }> {
    const keyFile = join(dir, `${name}.key`);
    const privateKey = await loadOrCreatePeerKey(keyFile);
    return { key: privateKey, peerId: peerIdOf(privateKey), keyFile };
  }

  /** Starts a node on loopback; `validate` defaults to accepting everything. */
  async function start(
    name: string,
    options: Partial<Omit<GossipNetworkOptions, "privateKey">> & { bootstrapFrom?: TestNode[]; allow?: boolean; metrics?: Registry } = {},
    validate: (text: string) => GossipValidationResult = () => "accept",
  ): Promise<TestNode> {
    const { key: privateKey, peerId, keyFile } = await key(name);
    if (options.allow !== false) allowed.add(peerId);
    const received: Received[] = [];
    const { bootstrapFrom = [], allow: _allow, metrics, ...rest } = options;
    const net = await createGossipNetwork(
      {
        privateKey,
        listen: ["/ip4/127.0.0.1/tcp/0"],
        bootstrap: bootstrapFrom.map((node) => node.net.multiaddrs()[0]!),
        redialIntervalMs: 200,
        ...rest,
      },
      {
        logger: logger.child({ node: name }),
        allowlist: () => allowed,
        ...(metrics ? { metrics } : {}),
        validate: async (from, data) => {
          const text = decoder.decode(data);
          received.push({ from, text });
          return validate(text);
        },
      },
    );
    running.push(net);
    return { net, received, keyFile };
  }

  const texts = (node: TestNode) => node.received.map((r) => r.text);
  const connected = (a: TestNode, b: TestNode) => a.net.connectedPeers().includes(b.net.peerId);
  const subscribed = (a: TestNode, b: TestNode) => a.net.topicPeers().includes(b.net.peerId);

  it("delivers each message to every allowlisted node exactly once over a redundant mesh", async function () {
    const a = await start("a");
    const b = await start("b", { bootstrapFrom: [a] });
    const c = await start("c", { bootstrapFrom: [a, b] });
    const metrics = new Registry();
    const d = await start("d", { bootstrapFrom: [a, c], metrics });
    const nodes = [a, b, c, d];
    const links: [TestNode, TestNode][] = [
      [a, b],
      [a, c],
      [b, c],
      [a, d],
      [c, d],
    ];
    await waitFor("mesh formed", () => links.every(([x, y]) => subscribed(x, y) && subscribed(y, x)));

    // Every node publishes one message; several paths lead to each node, so duplicates do arrive.
    const recipients = await Promise.all(nodes.map((node, i) => node.net.publish(encoder.encode(`message from ${i}`))));
    expect(recipients.every((count) => count >= 1)).to.equal(true);
    await waitFor("every message everywhere", () => nodes.every((node) => node.received.length >= 3));
    // A later round acts as a barrier: anything duplicated from the first round would have arrived by now.
    await Promise.all(nodes.map((node, i) => node.net.publish(encoder.encode(`barrier from ${i}`))));
    await waitFor("barrier everywhere", () => nodes.every((node) => node.received.length >= 6));

    nodes.forEach((node, i) => {
      const expected = nodes.flatMap((_, j) => (j === i ? [] : [`message from ${j}`, `barrier from ${j}`]));
      expect(texts(node).sort(), `node ${i}`).to.deep.equal(expected.sort());
    });
    // Validation sees the forwarding peer: d is not linked to b, so b's message reached d through a or c.
    const fromB = d.received.find((r) => r.text === "message from 1");
    expect([a.net.peerId, c.net.peerId]).to.include(fromB?.from);
    // Copies counted as they arrive, duplicates included, in at least one RPC.
    const received = new Map((await metrics.getSingleMetric("settlenet_p2p_received_total")?.get())?.values.map((v) => [v.labels["part"], v.value]));
    expect(received.get("message")).to.be.at.least(6);
    expect(received.get("rpc")).to.be.at.least(1);
  });

  it("with no mesh, sends each message once to every peer of a full mesh: nothing forwarded, no IDONTWANT", async function () {
    const registries = [new Registry(), new Registry(), new Registry(), new Registry()];
    const a = await start("a", { metrics: registries[0]! });
    const b = await start("b", { bootstrapFrom: [a], metrics: registries[1]! });
    const c = await start("c", { bootstrapFrom: [a, b], metrics: registries[2]! });
    const d = await start("d", { bootstrapFrom: [a, b, c], metrics: registries[3]! });
    const nodes = [a, b, c, d];
    await waitFor("full mesh formed", () => nodes.every((x) => nodes.every((y) => x === y || subscribed(x, y))));
    // Above gossipsub's IDONTWANT threshold (512 bytes): forwarding peers would announce each one.
    const count = 30;
    for (let i = 0; i < count; i++) expect(await a.net.publish(encoder.encode(`m${i} `.padEnd(2_000, "x")))).to.equal(3);
    await waitFor("every message at every peer", () => [b, c, d].every((node) => node.received.length >= count));
    for (const [i, node] of [b, c, d].entries()) {
      expect(node.received.every((r) => r.from === a.net.peerId), `node ${i + 1} heard only from the publisher`).to.equal(true);
      const parts = new Map((await registries[i + 1]!.getSingleMetric("settlenet_p2p_received_total")?.get())?.values.map((v) => [v.labels["part"], v.value]));
      expect(parts.get("idontwant") ?? 0, `node ${i + 1} IDONTWANT ids`).to.equal(0);
      // Forwarding would bring about two more copies of each; a late IWANT answer may add one.
      expect(parts.get("message"), `node ${i + 1} copies`).to.be.below(count * 1.5);
    }
  });

  it("delivers a stream of messages several times the Yamux window, whole and in order, in both directions", async function () {
    const a = await start("a");
    const b = await start("b", { bootstrapFrom: [a] });
    await waitFor("mesh formed", () => subscribed(a, b) && subscribed(b, a));
    // 24 messages of up to 900 KB each way: each needs several grants of receive credit (256 KB windows).
    const sizes = Array.from({ length: 24 }, (_, i) => 1_000 + ((i * 37_003) % 900_000));
    const body = (from: string, i: number) => `${from} ${i} `.padEnd(sizes[i]!, String.fromCharCode(97 + (i % 26)));
    for (let i = 0; i < sizes.length; i++) {
      await a.net.publish(encoder.encode(body("a", i)));
      await b.net.publish(encoder.encode(body("b", i)));
    }
    await waitFor("every message both ways", () => a.received.length === sizes.length && b.received.length === sizes.length);
    expect(texts(b)).to.deep.equal(sizes.map((_, i) => body("a", i)));
    expect(texts(a)).to.deep.equal(sizes.map((_, i) => body("b", i)));
  });

  it("delivers the same data once however many nodes publish it (content message id)", async function () {
    const a = await start("a");
    const b = await start("b", { bootstrapFrom: [a] });
    const c = await start("c", { bootstrapFrom: [a, b] });
    await waitFor("mesh formed", () => subscribed(c, a) && subscribed(c, b) && subscribed(a, b) && subscribed(b, a));

    await Promise.all([a.net.publish(encoder.encode("operation 1")), b.net.publish(encoder.encode("operation 1"))]);
    await waitFor("c receives", () => texts(c).includes("operation 1"));
    expect(await a.net.publish(encoder.encode("operation 1"))).to.equal(0);
    await a.net.publish(encoder.encode("barrier"));
    await waitFor("barrier", () => texts(c).includes("barrier"));
    expect(texts(c).filter((t) => t === "operation 1")).to.have.length(1);
  });

  it("sends messages without author, sequence number or signature, and drops signed ones before validation", async function () {
    const a = await start("a");
    /** A bare gossipsub peer (allowlisted) with the given signature policy, dialled into `a`. */
    const bare = async (name: string, policy: typeof StrictSign | typeof StrictNoSign) => {
      const { key: privateKey, peerId } = await key(name);
      allowed.add(peerId);
      const node = await createLibp2p<{ identify: Identify; pubsub: GossipSub }>({
        privateKey,
        addresses: { listen: ["/ip4/127.0.0.1/tcp/0"] },
        transports: [tcp()],
        connectionEncrypters: [noise()],
        streamMuxers: [yamux()],
        services: { identify: identify(), pubsub: gossipsub({ globalSignaturePolicy: policy, allowPublishToZeroTopicPeers: true }) },
      });
      running.push({ stop: () => node.stop() } as GossipNetwork);
      const messages: Message[] = [];
      node.services.pubsub.addEventListener("message", (event) => messages.push(event.detail));
      node.services.pubsub.subscribe(GOSSIP_TOPIC);
      await node.dial(multiaddr(a.net.multiaddrs()[0]!));
      await waitFor(`${name} subscribed`, () => a.net.topicPeers().includes(peerId));
      // Its own publishes reach only peers it knows subscribed: wait for a's subscription too.
      await waitFor(`${name} sees a subscribed`, () => node.services.pubsub.getSubscribers(GOSSIP_TOPIC).some((peer) => peer.toString() === a.net.peerId));
      return { node, peerId, messages };
    };
    // A peer that only takes unsigned messages receives a's: so a signs nothing.
    const plain = await bare("plain", StrictNoSign);
    await a.net.publish(encoder.encode("from a"));
    await waitFor("plain receives a's message", () => plain.messages.length === 1);
    expect(plain.messages[0]?.type).to.equal("unsigned");
    // A message signed the old way is refused before a's validator sees it, and counts against its sender.
    const signer = await bare("signer", StrictSign);
    await signer.node.services.pubsub.publish(GOSSIP_TOPIC, encoder.encode("signed by gossipsub"));
    await waitFor("the signed message's sender penalised", () => a.net.peerScore(signer.peerId) < 0);
    await plain.node.services.pubsub.publish(GOSSIP_TOPIC, encoder.encode("from plain"));
    await waitFor("a receives plain's message", () => texts(a).includes("from plain"));
    expect(texts(a)).to.deep.equal(["from plain"]);
  });

  it("refuses connections from a node whose peer id is not allowlisted", async function () {
    const a = await start("a");
    const b = await start("b", { bootstrapFrom: [a] });
    // x allows everyone it dials; a and b do not know x.
    const x = await start("x", { bootstrapFrom: [a, b], allow: false });
    await waitFor("a and b subscribed", () => subscribed(a, b) && subscribed(b, a));

    // x re-dials every 200 ms. Its side may count a connection for the few milliseconds before a or b
    // closes it (the dialer negotiates the muxer optimistically), but a and b never admit it and no
    // connection lasts.
    const seenSince = new Map<string, number>();
    const noLastingConnection = () => {
      const now = Date.now();
      const current = new Set(x.net.connectedPeers());
      for (const peer of seenSince.keys()) if (!current.has(peer)) seenSince.delete(peer);
      for (const peer of current) if (!seenSince.has(peer)) seenSince.set(peer, now);
      return [...seenSince.values()].every((since) => now - since < 1_000);
    };
    // Until a and b have each refused x three times more, and x has stayed out for a second at least.
    const refusedBefore = [a, b].map((node) => node.net.refusedConnections(x.net.peerId));
    const from = Date.now();
    await holdsWhile(
      "x is never admitted",
      () => !connected(a, x) && !connected(b, x) && noLastingConnection(),
      () => Date.now() - from > 1_000 && [a, b].every((node, i) => node.net.refusedConnections(x.net.peerId) >= (refusedBefore[i] ?? 0) + 3),
    );
    await a.net.publish(encoder.encode("members only"));
    await waitFor("b receives", () => texts(b).includes("members only"));
    expect(x.received).to.deep.equal([]);
  });

  it("drops a peer removed from the allowlist within seconds and keeps it out", async function () {
    const a = await start("a");
    const b = await start("b", { bootstrapFrom: [a] });
    const c = await start("c", { bootstrapFrom: [a, b] });
    await waitFor("c connected", () => connected(a, c) && connected(b, c) && subscribed(a, c));

    allowed.delete(c.net.peerId);
    await Promise.all([a.net.refreshAllowlist(), b.net.refreshAllowlist()]);
    await waitFor("c dropped", () => !connected(a, c) && !connected(b, c) && c.net.connectedPeers().length === 0, 30_000);
    const cRefused = [a, b].map((node) => node.net.refusedConnections(c.net.peerId));
    await holdsWhile(
      "c stays out",
      () => !connected(a, c) && !connected(b, c),
      () => [a, b].every((node, i) => node.net.refusedConnections(c.net.peerId) >= (cRefused[i] ?? 0) + 3),
    );

    await a.net.publish(encoder.encode("after suspension"));
    await waitFor("b receives", () => texts(b).includes("after suspension"));
    expect(texts(c)).to.not.include("after suspension");
  });

  it("bans a peer after maxRejects rejected messages while honest traffic keeps flowing", async function () {
    const options = { maxRejects: 3, banSeconds: 60 };
    const judge = (text: string): GossipValidationResult => (text.startsWith("forged") ? "reject" : text.startsWith("stale") ? "ignore" : "accept");
    const a = await start("a", options, judge);
    const b = await start("b", { ...options, bootstrapFrom: [a] }, judge);
    const m = await start("m", { ...options, bootstrapFrom: [a, b] }, judge);
    await waitFor("m in the mesh", () => subscribed(a, m) && subscribed(b, m) && subscribed(m, a) && subscribed(m, b));

    // "ignore" never counts against the sender.
    for (let i = 0; i < 5; i++) await m.net.publish(encoder.encode(`stale ${i}`));
    await waitFor("stale seen", () => texts(a).filter((t) => t.startsWith("stale")).length === 5);
    expect(connected(a, m)).to.equal(true);

    await m.net.publish(encoder.encode("forged 0"));
    await waitFor("score lowered", () => a.net.peerScore(m.net.peerId) < 0);
    expect(connected(a, m) && connected(b, m)).to.equal(true);

    await b.net.publish(encoder.encode("honest 0"));
    await m.net.publish(encoder.encode("forged 1"));
    await m.net.publish(encoder.encode("forged 2"));
    await waitFor("m hung up", () => !connected(a, m) && !connected(b, m), 30_000);
    // m keeps re-dialling every 200 ms; the ban keeps it out.
    const mRefused = [a, b].map((node) => node.net.refusedConnections(m.net.peerId));
    await holdsWhile(
      "m stays banned",
      () => !connected(a, m) && !connected(b, m),
      () => [a, b].every((node, i) => node.net.refusedConnections(m.net.peerId) >= (mRefused[i] ?? 0) + 3),
    );

    await b.net.publish(encoder.encode("honest 1"));
    await waitFor("honest traffic flows", () => texts(a).includes("honest 0") && texts(a).includes("honest 1"));
    expect(texts(a).filter((t) => t.startsWith("forged"))).to.have.length(3);
    expect(texts(m)).to.not.include("honest 1");
  });

  it("refuses an oversized message on publish and bans a peer that sends one", async function () {
    const a = await start("a", { maxMessageBytes: 1_024, maxRejects: 1 });
    const s = await start("s", { bootstrapFrom: [a] });
    await waitFor("s subscribed", () => subscribed(a, s) && subscribed(s, a));

    const tooLarge = await refusalOf(a.net.publish(new Uint8Array(1_025)));
    expect(tooLarge.code).to.equal("MESSAGE_TOO_LARGE");

    await s.net.publish(encoder.encode("x".repeat(1_024)));
    await waitFor("limit-sized message accepted", () => a.received.length === 1);
    await s.net.publish(encoder.encode("y".repeat(2_048)));
    await waitFor("s hung up", () => !connected(a, s), 30_000);
    expect(a.received).to.have.length(1);
  });

  it("reconnects a restarted peer through the redial loop, with the same peer id", async function () {
    const b = await start("b");
    const address = b.net.multiaddrs()[0]!;
    const a = await start("a", { bootstrap: [address] });
    await waitFor("a subscribed to b", () => subscribed(a, b));

    await b.net.stop();
    running = running.filter((net) => net !== b.net);
    await waitFor("b gone", () => !connected(a, b));

    // Same key file, same port; b has no bootstrap list, so only a's redial loop can reconnect them.
    const port = /\/tcp\/(\d+)\//.exec(address)?.[1];
    const restarted = await start("b", { listen: [`/ip4/127.0.0.1/tcp/${port}`] });
    expect(restarted.net.peerId).to.equal(b.net.peerId);
    await waitFor("a subscribed to restarted b", () => subscribed(a, restarted));
    await a.net.publish(encoder.encode("welcome back"));
    await waitFor("restarted b receives", () => texts(restarted).includes("welcome back"));
  });

  it("refuses bootstrap addresses without a peer id", async function () {
    const { key: privateKey } = await key("a");
    const error = await refusalOf(
      createGossipNetwork(
        { privateKey, listen: ["/ip4/127.0.0.1/tcp/0"], bootstrap: ["/ip4/127.0.0.1/tcp/4001"] },
        { logger, allowlist: () => allowed, validate: async () => "accept" },
      ),
    );
    expect(error.code).to.equal("P2P_OPTIONS_INVALID");
  });
});

describe("peer key file", function () {
  let dir: string;
  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-peerkey-"));
  });
  afterEach(async function () {
    await rm(dir, { recursive: true, force: true });
  });

  it("creates an Ed25519 key once (mode 0600) and reuses it", async function () {
    const file = join(dir, "keys", "peer.key");
    const first = await loadOrCreatePeerKey(file);
    expect(first.type).to.equal("Ed25519");
    expect((await stat(file)).mode & 0o777).to.equal(0o600);
    const bytes = await readFile(file);

    const second = await loadOrCreatePeerKey(file);
    expect(peerIdOf(second)).to.equal(peerIdOf(first));
    expect(await readFile(file)).to.deep.equal(bytes);
  });

  it("refuses a corrupt key file instead of replacing it", async function () {
    const file = join(dir, "peer.key");
    await writeFile(file, "not a key");
    const error = await refusalOf(loadOrCreatePeerKey(file));
    expect(error.code).to.equal("PEER_KEY_INVALID");
    expect(error.meta.file).to.equal(file);
    expect(await readFile(file, "utf8")).to.equal("not a key");
  });
});
