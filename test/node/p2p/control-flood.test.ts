/**
 * A registered peer flooding gossipsub control messages (IHAVE advertising thousands of unknown ids,
 * IWANT asking for as many, far more often than once a heartbeat), against real libp2p nodes on
 * loopback: the victim keeps delivering an honest peer's messages during the flood, charges the flooder
 * an offence each second it exceeds the control-RPC limit, and bans and hangs up on it after
 * `maxRejects`; an honest peer's own gossip never comes near the limit.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { pino } from "pino";

import { startControlFlooder, type ControlFlooder } from "../../../bench/chaos/control-flood.js";
import { GOSSIP_TOPIC } from "../../../node/p2p/message.js";
import { loadOrCreatePeerKey, peerIdOf } from "../../../node/p2p/keys.js";
import { createGossipNetwork, type GossipNetwork } from "../../../node/p2p/network.js";
import { waitFor as waitUntil } from "../../helpers/wait.js";

const logger = pino({ level: process.env.P2P_TEST_LOG ?? "silent" });
const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** Polls `condition` (test/helpers/wait.ts) for up to a minute. */
const waitFor = (what: string, condition: () => boolean) => waitUntil(what, condition, 60_000, 50);

describe("gossip control flood from a registered peer", function () {
  this.timeout(180_000);
  let dir: string;
  let running: GossipNetwork[];
  let flooder: ControlFlooder | undefined;
  const allowed = new Set<string>();

  beforeEach(async function () {
    dir = await mkdtemp(join(tmpdir(), "settlenet-p2p-flood-"));
    running = [];
    allowed.clear();
  });
  afterEach(async function () {
    await flooder?.stop();
    flooder = undefined;
    await Promise.all(running.map((net) => net.stop()));
    await rm(dir, { recursive: true, force: true });
  });

  async function node(name: string, bootstrap: string[], received: string[]): Promise<GossipNetwork> {
    const privateKey = await loadOrCreatePeerKey(join(dir, `${name}.key`));
    allowed.add(peerIdOf(privateKey));
    const net = await createGossipNetwork(
      { privateKey, listen: ["/ip4/127.0.0.1/tcp/0"], bootstrap, redialIntervalMs: 200, maxRejects: 3, banSeconds: 60 },
      {
        logger: logger.child({ node: name }),
        allowlist: () => allowed,
        validate: async (_from, data) => {
          received.push(decoder.decode(data));
          return "accept";
        },
      },
    );
    running.push(net);
    return net;
  }

  it("keeps delivering an honest peer's messages, then bans and hangs up on the flooder", async function () {
    const atVictim: string[] = [];
    const victim = await node("victim", [], atVictim);
    const honest = await node("honest", [victim.multiaddrs()[0]!], []);
    const floodKey = await loadOrCreatePeerKey(join(dir, "flooder.key"));
    allowed.add(peerIdOf(floodKey));
    flooder = await startControlFlooder({ privateKey: floodKey, bootstrap: [victim.multiaddrs()[0]!], topic: GOSSIP_TOPIC, idsPerMessage: 5_000 });
    const flooderId = flooder.peerId;
    await waitFor("the honest peer and the flooder on the victim's topic", () => victim.topicPeers().includes(honest.peerId) && victim.topicPeers().includes(flooderId) && flooder!.topicPeers().includes(victim.peerId));

    // The flood: 100 IHAVE/IWANT RPCs a second (five times the limit) while the honest peer publishes.
    let sent = 0;
    let published = 0;
    while (victim.connectedPeers().includes(flooderId)) {
      sent += flooder.round().sent;
      if (sent % 10 === 0) await honest.publish(encoder.encode(`honest ${published++}`));
      await new Promise((resolve) => setTimeout(resolve, 10));
      // A deadline ten times the ban's (three one-second offences), counted in RPCs sent so that a slow machine only slows it.
      if (sent > 100 * 30) throw new Error("the victim still takes the flooder after 3000 RPCs (thirty seconds of flood)");
    }
    await waitFor("the honest messages at the victim", () => atVictim.length >= published);
    expect(atVictim.filter((t) => t.startsWith("honest ")).sort()).to.deep.equal(Array.from({ length: published }, (_, i) => `honest ${i}`).sort());
    expect(published).to.be.greaterThan(0);
    // Banned: the flooder cannot connect again, the honest peer stays.
    expect(victim.connectedPeers()).to.deep.equal([honest.peerId]);
    expect(victim.peerScore(honest.peerId)).to.be.at.least(0);
  });
});
