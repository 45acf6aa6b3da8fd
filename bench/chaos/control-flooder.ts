/**
 * The control flooder (control-flood.ts) as a process of its own, so that its work does not slow the
 * campaign's payment stream in the same event loop. Forked by the gossip-control-flood scenario with
 * the peer key file, the victims' multiaddrs, the topic and the rate; it reports "ready" once every
 * victim is a topic peer, floods when told "flood" for the given seconds, then reports its counts.
 */
import { z } from "zod";

import { loadOrCreatePeerKey } from "../../node/p2p/keys.js";
import { startControlFlooder } from "./control-flood.js";

export const flooderArgsSchema = z.strictObject({
  keyFile: z.string(),
  bootstrap: z.array(z.string()).min(1),
  topic: z.string(),
  idsPerMessage: z.number().int().positive(),
  rpcsPerSecond: z.number().positive(),
  seconds: z.number().positive(),
});
export type FlooderArgs = z.infer<typeof flooderArgsSchema>;
export type FlooderReport =
  | { kind: "ready" }
  /** droppedAfterSeconds: when no victim was connected any more (undefined: some still were at the end). */
  | { kind: "done"; sent: number; refused: number; connected: number; seconds: number; droppedAfterSeconds?: number };

const send = (report: FlooderReport) => process.send?.(report);

async function main(): Promise<void> {
  const args = flooderArgsSchema.parse(JSON.parse(process.argv[2] ?? "{}"));
  const flooder = await startControlFlooder({ privateKey: await loadOrCreatePeerKey(args.keyFile), bootstrap: args.bootstrap, topic: args.topic, idsPerMessage: args.idsPerMessage });
  const deadline = Date.now() + 60_000;
  while (flooder.topicPeers().length < args.bootstrap.length) {
    if (Date.now() > deadline) throw new Error(`the flooder reached ${flooder.topicPeers().length} of ${args.bootstrap.length} victims in 60 s`);
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  send({ kind: "ready" });
  await new Promise<void>((resolve) => process.once("message", () => resolve()));
  const started = Date.now();
  const until = started + args.seconds * 1000;
  let next = started;
  let sent = 0;
  let refused = 0;
  let droppedAfterSeconds: number | undefined;
  while (Date.now() < until) {
    if (droppedAfterSeconds === undefined && flooder.connectedPeers().length === 0) droppedAfterSeconds = (Date.now() - started) / 1000;
    const r = flooder.round();
    sent += r.sent;
    refused += r.refused;
    next += 1000 / args.rpcsPerSecond;
    await new Promise((resolve) => setTimeout(resolve, Math.max(0, next - Date.now())));
  }
  const connected = flooder.connectedPeers().length;
  send({ kind: "done", sent, refused, connected, seconds: (Date.now() - started) / 1000, ...(connected === 0 && droppedAfterSeconds !== undefined ? { droppedAfterSeconds } : {}) });
  await flooder.stop();
  process.disconnect?.();
}

main().catch((error: unknown) => {
  console.error(error);
  process.exit(1);
});
