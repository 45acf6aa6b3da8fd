/** Further gossip topics (addTopic / publishTo) beside the operations topic, on loopback libp2p. */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { pino } from "pino";

import { loadOrCreatePeerKey, peerIdOf } from "../../../node/p2p/keys.js";
import { createGossipNetwork, type GossipNetwork, type GossipValidationResult } from "../../../node/p2p/network.js";
import { refusal, refusalOf } from "../../helpers/errors.js";
import { waitFor } from "../../helpers/wait.js";

const logger = pino({ level: process.env.P2P_TEST_LOG ?? "silent" });
const encoder = new TextEncoder();
const decoder = new TextDecoder();
const ALERTS = "/settlenet/test-alerts/1";
const UNDECLARED = "/settlenet/undeclared/1";

interface TopicNode {
  net: GossipNetwork;
  /** Messages delivered to the operations validator. */
  operations: string[];
}

describe("gossip network: further topics", function () {
  this.timeout(90_000);
  let dir: string;
  let running: GossipNetwork[];
  const allowed = new Set<string>();

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-p2p-topics-"));
    running = [];
    allowed.clear();
  });
  afterEach(async function () {
    await Promise.all(running.map((net) => net.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  async function start(name: string, bootstrapFrom: TopicNode[] = [], extra: { maxRejects?: number } = {}): Promise<TopicNode> {
    const privateKey = await loadOrCreatePeerKey(join(dir, `${name}.key`));
    allowed.add(peerIdOf(privateKey));
    const operations: string[] = [];
    const net = await createGossipNetwork(
      {
        privateKey,
        listen: ["/ip4/127.0.0.1/tcp/0"],
        bootstrap: bootstrapFrom.map((node) => node.net.multiaddrs()[0]!),
        topics: [ALERTS],
        redialIntervalMs: 200,
        ...extra,
      },
      {
        logger: logger.child({ node: name }),
        allowlist: () => allowed,
        validate: async (_from, data) => {
          operations.push(decoder.decode(data));
          return "accept";
        },
      },
    );
    running.push(net);
    return { net, operations };
  }

  it("delivers a further topic's messages through its own validator only, to subscribers only", async function () {
    const a = await start("a");
    const b = await start("b", [a]);
    const c = await start("c", [a, b]);
    const seenByB: string[] = [];
    b.net.addTopic(ALERTS, async (_from, data) => {
      seenByB.push(decoder.decode(data));
      return "accept";
    });
    // a publishes without subscribing (e.g. an institution pushing alerts to regulators); c never subscribes.
    await waitFor("b subscribed to alerts, everyone to operations", () => {
      const ops = a.net.topicPeers();
      return a.net.topicPeers(ALERTS).includes(b.net.peerId) && ops.includes(b.net.peerId) && ops.includes(c.net.peerId);
    });
    expect(a.net.topicPeers(ALERTS)).to.not.include(c.net.peerId);
    expect(await a.net.publishTo(ALERTS, encoder.encode("alert 1"))).to.be.greaterThan(0);
    await a.net.publish(encoder.encode("operation 1"));
    await waitFor("b got the alert and the operation", () => seenByB.includes("alert 1") && b.operations.includes("operation 1"));
    await waitFor("c got the operation", () => c.operations.includes("operation 1"));
    expect(seenByB).to.deep.equal(["alert 1"]);
    expect(b.operations).to.deep.equal(["operation 1"]);
    expect(c.operations).to.deep.equal(["operation 1"]);
  });

  it("treats the same bytes on two topics as two messages", async function () {
    const a = await start("a");
    const b = await start("b", [a]);
    const seen: string[] = [];
    b.net.addTopic(ALERTS, async (_from, data) => {
      seen.push(decoder.decode(data));
      return "accept";
    });
    await waitFor("b subscribed", () => a.net.topicPeers(ALERTS).includes(b.net.peerId) && a.net.topicPeers().includes(b.net.peerId));
    await a.net.publish(encoder.encode("same"));
    await a.net.publishTo(ALERTS, encoder.encode("same"));
    await waitFor("both delivered", () => seen.length === 1 && b.operations.length === 1);
    expect(seen).to.deep.equal(["same"]);
    expect(b.operations).to.deep.equal(["same"]);
  });

  it("counts rejections on a further topic as offences and bans the sender", async function () {
    const a = await start("a", [], { maxRejects: 2 });
    const m = await start("m", [a]);
    const judged: GossipValidationResult[] = [];
    a.net.addTopic(ALERTS, async (_from, data) => {
      const outcome: GossipValidationResult = decoder.decode(data).startsWith("forged") ? "reject" : "accept";
      judged.push(outcome);
      return outcome;
    });
    await waitFor("a subscribed, seen by m", () => m.net.topicPeers(ALERTS).includes(a.net.peerId));
    await m.net.publishTo(ALERTS, encoder.encode("fine"));
    await m.net.publishTo(ALERTS, encoder.encode("forged 1"));
    await m.net.publishTo(ALERTS, encoder.encode("forged 2"));
    await waitFor("m hung up", () => !a.net.connectedPeers().includes(m.net.peerId));
    expect(judged).to.deep.equal(["accept", "reject", "reject"]);
  });

  it("refuses undeclared topics, a second validator, and oversized messages on further topics", async function () {
    const a = await start("a");
    expect(refusal(() => a.net.addTopic(UNDECLARED, async () => "accept")).code).to.equal("P2P_TOPIC_UNKNOWN");
    expect((await refusalOf(a.net.publishTo(UNDECLARED, encoder.encode("x")))).code).to.equal("P2P_TOPIC_UNKNOWN");
    a.net.addTopic(ALERTS, async () => "accept");
    expect(refusal(() => a.net.addTopic(ALERTS, async () => "accept")).code).to.equal("P2P_TOPIC_TAKEN");
    expect((await refusalOf(a.net.publishTo(ALERTS, new Uint8Array(1024 * 1024 + 1)))).code).to.equal("MESSAGE_TOO_LARGE");
  });
});
