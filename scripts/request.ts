/**
 * Sends one signed request to the local gateway as a merchant of the running `npm start` network
 * (credentials from .settlenet/network.json), and prints the status and the JSON answer.
 *   npx tsx scripts/request.ts --merchant <id> <METHOD> <path> [json body]
 */
import { parseArgs } from "node:util";

import { GatewayClient } from "../gateway/client/client.js";
import { SettlenetError } from "../core/errors.js";
import { DEFAULT_ROOT, readNetworkState, runningLauncher, trustNetworkCa } from "./lib/network.js";

async function main(): Promise<void> {
  const { values, positionals } = parseArgs({ options: { merchant: { type: "string" }, dir: { type: "string" } }, allowPositionals: true, strict: true });
  const [method, path, body] = positionals;
  if (!method || !path) throw new SettlenetError("USAGE", "usage: npx tsx scripts/request.ts --merchant <id> <METHOD> <path> [json body]");
  const root = values.dir ?? DEFAULT_ROOT;
  const state = await readNetworkState(root);
  const running = runningLauncher(root);
  if (!state || !running) throw new SettlenetError("NETWORK_NOT_RUNNING", `no network is running from ${root}: run npm start first`);
  const merchant = state.merchants.find((m) => m.id === (values.merchant ?? state.merchants[0]?.id));
  if (!merchant) throw new SettlenetError("MERCHANT_NOT_FOUND", `no merchant ${values.merchant}; known: ${state.merchants.map((m) => m.id).join(", ")}`);
  await trustNetworkCa(root);
  const client = new GatewayClient(`https://127.0.0.1:${running.ports.gateway}`, merchant);
  const response = await client.request(method.toUpperCase(), path, body === undefined ? undefined : JSON.parse(body), method.toUpperCase() === "POST" ? { idempotencyKey: crypto.randomUUID() } : {});
  process.stdout.write(`${response.status}\n${JSON.stringify(response.body, null, 2)}\n`);
}

main().catch((error: unknown) => {
  process.stderr.write(`settlenet: ${error instanceof SettlenetError ? `${error.code}: ` : ""}${(error as Error).message}\n`);
  process.exit(1);
});
