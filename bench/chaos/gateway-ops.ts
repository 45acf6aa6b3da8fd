/**
 * What the gateway scenarios do besides the payment stream, through the gateway's merchant API as a
 * merchant would: top-ups, payouts, a webhook endpoint and its receiver, and the accounts of each
 * (a payout paid once, a top-up minted once, every event delivered at least once).
 */
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { once } from "node:events";

import { Interface, id as keccakText, type JsonRpcProvider } from "ethers";
import { Agent } from "undici";

import { loadArtifact } from "../../core/protocol/artifacts.js";
import type { Deployment } from "../../core/protocol/deployment.js";
import { BenchGatewayClient } from "../lib/gateway-client.js";

/** A signed merchant client of the gateway (trusting the network's CA). */
export function merchantClient(gatewayUrl: string, ca: string, merchant: { keyId: string; secret: string }): { client: BenchGatewayClient; close(): Promise<void> } {
  const agent = new Agent({ connect: { ca }, headersTimeout: 30_000, bodyTimeout: 30_000 });
  return { client: new BenchGatewayClient(gatewayUrl, merchant, agent), close: () => agent.close() };
}

/** A merchant's webhook receiver: answers 200 after `delayMs` (so deliveries are in flight a while), counting deliveries per webhook-id. */
export class WebhookReceiver {
  readonly deliveries = new Map<string, number>();
  open = 0;
  private server: Server | undefined;
  url = "";

  constructor(private readonly delayMs: number) {}

  async start(): Promise<void> {
    this.server = createServer((req, res) => {
      this.open += 1;
      const id = String(req.headers["webhook-id"] ?? "");
      req.resume();
      req.on("end", () => {
        setTimeout(() => {
          this.open -= 1;
          this.deliveries.set(id, (this.deliveries.get(id) ?? 0) + 1);
          res.writeHead(200).end();
        }, this.delayMs);
      });
    });
    this.server.listen(0, "127.0.0.1");
    await once(this.server, "listening");
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}/hooks`;
  }

  async close(): Promise<void> {
    this.server?.closeAllConnections();
    await new Promise<void>((resolve) => (this.server ? this.server.close(() => resolve()) : resolve()));
  }
}

/** Ids of the events in the merchant's event log created after `sinceMs` (GET /v1/events, all pages). */
export async function eventIds(client: BenchGatewayClient, sinceMs: number): Promise<string[]> {
  const ids: string[] = [];
  let cursor: string | null = null;
  for (;;) {
    const page: { status: number; body: { items: { id: string; createdAt: string }[]; nextCursor: string | null } } = await client.get(`/v1/events?limit=100${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ""}`);
    if (page.status !== 200) throw new Error(`GET /v1/events answered ${page.status}`);
    ids.push(...page.body.items.filter((e) => Date.parse(e.createdAt) > sinceMs).map((e) => e.id));
    cursor = page.body.nextCursor;
    if (!cursor) return ids;
  }
}

const tokenIface = new Interface(loadArtifact("SettlementToken").abi);

/** Per bankRef (lower case): how many Redeemed and Minted events the CNY token emitted since block `from`. */
export async function tokenEvents(provider: JsonRpcProvider, deployment: Deployment, from: number): Promise<{ redeemed: Map<string, number>; minted: Map<string, number> }> {
  const token = deployment.tokens["CNY"]?.address;
  if (!token) throw new Error("no CNY token");
  const redeemed = new Map<string, number>();
  const minted = new Map<string, number>();
  const logs = await provider.getLogs({ address: token, fromBlock: from, toBlock: "latest" });
  for (const log of logs) {
    let parsed;
    try {
      parsed = tokenIface.parseLog(log);
    } catch {
      continue;
    }
    if (!parsed || (parsed.name !== "Redeemed" && parsed.name !== "Minted")) continue;
    const ref = String(parsed.args.getValue("bankRef")).toLowerCase();
    const map = parsed.name === "Redeemed" ? redeemed : minted;
    map.set(ref, (map.get(ref) ?? 0) + 1);
  }
  return { redeemed, minted };
}

/** The bankRef a payout's redemption carries: keccak256 of its id. */
export const payoutRef = (payoutId: string) => keccakText(payoutId).toLowerCase();
