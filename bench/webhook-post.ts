/**
 * `tsx bench/webhook-post.ts [--deliveries=20000] [--concurrency=32] [--rounds=3]`: the gateway's CPU per webhook
 * delivery (process CPU, every thread) through its dispatcher's `postWebhook` (undici pools), against
 * the same attempt through Node's http client (a keep-alive agent per target, the socket lookup
 * answered with the checked address, the dispatcher's abort signal, one timer) and against a bare
 * keep-alive `http.request`. The receiver runs in a child process (a plain Node HTTP server answering
 * 204), so its CPU is not counted. The clients take turns for `rounds` rounds after a warm-up, and
 * each one's median is reported; every delivery not answered 204 fails the run.
 */
import { spawn } from "node:child_process";
import { Agent, request } from "node:http";
import type { LookupFunction } from "node:net";
import { parseArgs } from "node:util";

import { postWebhook, WebhookConnections } from "../gateway/jobs/webhooks.js";

const { values } = parseArgs({ options: { deliveries: { type: "string", default: "20000" }, concurrency: { type: "string", default: "32" }, rounds: { type: "string", default: "3" } }, strict: true });
const deliveries = Number(values.deliveries);
const concurrency = Number(values.concurrency);
const rounds = Number(values.rounds);

const receiverScript = `
const server = require("node:http").createServer((req, res) => { req.resume(); req.on("end", () => res.writeHead(204).end()); });
server.listen(0, "127.0.0.1", () => process.stdout.write(server.address().port + "\\n"));
`;
const receiver = spawn(process.execPath, ["-e", receiverScript], { stdio: ["ignore", "pipe", "inherit"] });
const port = await new Promise<number>((resolve) => receiver.stdout.once("data", (data: Buffer) => resolve(Number(String(data).trim()))));
const url = new URL(`http://127.0.0.1:${port}/hooks/0`);

// A payment.held delivery as the dispatcher sends it (body, Standard Webhooks headers).
const body = JSON.stringify({
  id: "evt_07632d2252cb30e6d935d605ff5f05a3",
  type: "payment.held",
  timestamp: "2026-12-06T09:09:45.716Z",
  data: { object: "payment", id: "pay_71b120da1887bd689ccef73467f89975", merchantOrderId: "order-5427", paymentId: `0x${"42".repeat(32)}`, status: "held", mode: "escrow", amount: "100", currency: "CNY", refundedAmount: "0" },
});
const headers = {
  "content-type": "application/json",
  "user-agent": "Settlenet-Webhooks/1",
  "webhook-id": "evt_07632d2252cb30e6d935d605ff5f05a3",
  "webhook-timestamp": "1796548185",
  "webhook-signature": "v1,K5oZfzN95Z9UVu1EsfQmfVNQhnkZ2pj9o9NDN/H/pI4=",
};

let failures = 0;
const stop = new AbortController();
const connections = new WebhookConnections();
const agent = new Agent({ keepAlive: true, maxFreeSockets: concurrency });

const checkedAgent = new Agent({ keepAlive: true, timeout: 4_000, maxFreeSockets: 16, scheduling: "lifo" });
const checkedLookup: LookupFunction = (_hostname, options, callback) => {
  if (options.all) callback(null, [{ address: "127.0.0.1", family: 4 }]);
  else callback(null, "127.0.0.1", 4);
};

const clients: Record<string, () => Promise<number>> = {
  "gateway postWebhook (undici pools)": async () =>
    (await postWebhook(url, headers, body, { allowLoopback: true }, { resolve: async () => [], signal: stop.signal, timeoutMs: 10_000, connections })).statusCode,
  "the same attempt through Node's http": () =>
    new Promise<number>((resolve, reject) => {
      const req = request(
        url,
        { method: "POST", headers: { ...headers, "content-length": String(Buffer.byteLength(body)) }, lookup: checkedLookup, signal: stop.signal, agent: checkedAgent },
        (res) => {
          res.once("end", () => clearTimeout(timer));
          res.resume();
          resolve(res.statusCode ?? 0);
        },
      );
      req.once("error", (error) => {
        clearTimeout(timer);
        reject(error);
      });
      const timer = setTimeout(() => req.destroy(new DOMException("no answer within 10000 ms", "TimeoutError")), 10_000);
      req.end(body);
    }),
  "bare http.request, keep-alive agent": () =>
    new Promise<number>((resolve, reject) => {
      const req = request(url, { method: "POST", headers: { ...headers, "content-length": String(Buffer.byteLength(body)) }, agent }, (res) => {
        res.resume();
        res.once("end", () => resolve(res.statusCode ?? 0));
      });
      req.once("error", reject);
      req.end(body);
    }),
};

/** Sends `count` deliveries with `concurrency` in flight; the process CPU they took, per delivery (µs). */
async function measure(send: () => Promise<number>, count: number): Promise<number> {
  let next = 0;
  const lane = async () => {
    while (next++ < count) if ((await send()) !== 204) failures++;
  };
  const before = process.cpuUsage();
  await Promise.all(Array.from({ length: concurrency }, lane));
  const cpu = process.cpuUsage(before);
  return (cpu.user + cpu.system) / count;
}

process.stdout.write(`webhook deliveries: ${deliveries} per measurement, ${concurrency} in flight, receiver in a child process\n`);
for (const send of Object.values(clients)) await measure(send, Math.min(deliveries, 2_000)); // warm-up
const measured = new Map<string, number[]>(Object.keys(clients).map((name) => [name, []]));
for (let round = 1; round <= rounds; round++) {
  for (const [name, send] of Object.entries(clients)) {
    const perDelivery = await measure(send, deliveries);
    measured.get(name)?.push(perDelivery);
    process.stdout.write(`round ${round}, ${name.padEnd(38)}: ${perDelivery.toFixed(1).padStart(6)} µs CPU per delivery\n`);
  }
}
for (const [name, values] of measured) {
  const sorted = [...values].sort((a, b) => a - b);
  process.stdout.write(`median, ${name.padEnd(38)}: ${(sorted[Math.floor(sorted.length / 2)] ?? 0).toFixed(1).padStart(6)} µs CPU per delivery\n`);
}
connections.close();
agent.destroy();
checkedAgent.destroy();
receiver.kill();
process.stdout.write(`failures: ${failures}\n`);
if (failures > 0) process.exitCode = 1;
