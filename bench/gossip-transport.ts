/**
 * `tsx bench/gossip-transport.ts [--messages=3000] [--bytes=600,6000] [--window=50] [--mesh-degree=0]`: what the gossip
 * transport alone (libp2p TCP + Noise + Yamux + gossipsub, node/p2p/network.ts) costs per message. Four
 * gossip networks in this process, fully meshed on loopback as a consortium's nodes are; one publishes
 * `messages` messages of each size (at most `window` not yet received by every peer), the others'
 * validators accept them. Prints process CPU (user + system, all four networks together) per message
 * and per 1,000 bytes; a message some peer never received, or received twice, is a failure and fails
 * the run. No operations are validated or stored: the figure is what the transport adds to them.
 * `--mesh-degree` is the networks' gossipsub mesh degree (the node's `gossip.meshDegree`, default 0).
 */
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";

import { pino } from "pino";

import { loadOrCreatePeerKey, peerIdOf } from "../node/p2p/keys.js";
import { createGossipNetwork, type GossipNetwork } from "../node/p2p/network.js";

const { values } = parseArgs({
  options: { messages: { type: "string", default: "3000" }, bytes: { type: "string", default: "600,6000" }, window: { type: "string", default: "50" }, "mesh-degree": { type: "string", default: "0" } },
  strict: true,
});
const messages = Number(values.messages);
const sizes = values.bytes.split(",").map(Number);
const window = Number(values.window);
const meshDegree = Number(values["mesh-degree"]);

const dir = await mkdtemp(join(tmpdir(), "settlenet-gossip-transport-"));
const logger = pino({ level: "silent" });
const allowed = new Set<string>();
const keys = await Promise.all([0, 1, 2, 3].map((i) => loadOrCreatePeerKey(join(dir, `${i}.key`))));
for (const key of keys) allowed.add(peerIdOf(key));
/** Per receiving network: how many times each message (by its first 8 bytes) arrived. */
const seen = [new Map<string, number>(), new Map<string, number>(), new Map<string, number>(), new Map<string, number>()];
let delivered = 0;
let waiters: (() => boolean)[] = [];
const wake = (): void => {
  waiters = waiters.filter((waiter) => !waiter());
};
const nets: GossipNetwork[] = [];
for (let i = 0; i < 4; i++) {
  const net = await createGossipNetwork(
    { privateKey: keys[i]!, listen: ["/ip4/127.0.0.1/tcp/0"], bootstrap: nets.map((n) => n.multiaddrs()[0]!), redialIntervalMs: 200, meshDegree },
    {
      logger,
      allowlist: () => allowed,
      validate: async (_from, data) => {
        const tag = Buffer.from(data.subarray(0, 8)).toString("hex");
        const count = (seen[i]!.get(tag) ?? 0) + 1;
        seen[i]!.set(tag, count);
        if (count === 1) delivered++;
        wake();
        return "accept";
      },
    },
  );
  nets.push(net);
}
const [origin, ...peers] = nets as [GossipNetwork, ...GossipNetwork[]];

/** Resolves once `condition` holds, looked at on each delivery (no polling to skew the CPU figure). */
const waitUntil = (condition: () => boolean): Promise<void> =>
  condition()
    ? Promise.resolve()
    : new Promise((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error("gossip stalled for 60 s")), 60_000);
        waiters.push(() => {
          if (!condition()) return false;
          clearTimeout(timer);
          resolve();
          return true;
        });
      });
// Every pair connected and every peer in the origin's topic mesh before the clock starts.
const meshDeadline = Date.now() + 60_000;
while (!nets.every((net) => net.connectedPeers().length === 3 && net.topicPeers().length === 3)) {
  if (Date.now() > meshDeadline) throw new Error("the four networks did not mesh within 60 s");
  await new Promise((resolve) => setTimeout(resolve, 100));
}
await new Promise((resolve) => setTimeout(resolve, 2_000));

let failed = 0;
process.stdout.write(`gossip transport: 4 networks in one process, ${messages} messages per size, at most ${window} in flight\n`);
for (const size of sizes) {
  for (const map of seen) map.clear();
  delivered = 0;
  const before = process.cpuUsage();
  const started = performance.now();
  for (let i = 0; i < messages; i++) {
    const data = randomBytes(size);
    data.writeUInt32BE(size, 0);
    data.writeUInt32BE(i, 4);
    await origin.publish(data);
    await waitUntil(() => delivered >= (i + 1 - window) * peers.length);
  }
  await waitUntil(() => delivered >= messages * peers.length);
  const cpu = process.cpuUsage(before);
  const seconds = (performance.now() - started) / 1000;
  const duplicates = seen.slice(1).reduce((sum, map) => sum + [...map.values()].filter((n) => n > 1).length, 0);
  const missing = messages * peers.length - seen.slice(1).reduce((sum, map) => sum + map.size, 0);
  failed += duplicates + missing;
  const perMessageUs = (cpu.user + cpu.system) / messages;
  process.stdout.write(
    `${String(size).padStart(6)} bytes: ${perMessageUs.toFixed(0).padStart(5)} µs CPU per message (user ${(cpu.user / messages).toFixed(0)}, system ${(cpu.system / messages).toFixed(0)}), ` +
      `${((perMessageUs * 1000) / size).toFixed(0)} µs per 1,000 bytes, ${(messages / seconds).toFixed(0)} messages/s; failures ${duplicates + missing} (duplicates ${duplicates}, missing ${missing})\n`,
  );
}
await Promise.all(nets.map((net) => net.stop()));
await rm(dir, { recursive: true, force: true });
if (failed > 0) process.exitCode = 1;
