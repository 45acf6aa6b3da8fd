/**
 * The gateway as an external merchant sees it: real processes (a chain, one institution node, the
 * gateway started with `settlenet gateway start`), set up with the admin CLI, and only HTTP through
 * the signed client helper afterwards.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { expect } from "chai";

import { GatewayClient } from "../../gateway/client.js";
import type { GatewayConfigInput } from "../../gateway/config.js";
import { freePort, getJson, launchNetwork, waitFor, type TestNetwork } from "../helpers/network.js";

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const CLI = join(projectRoot, "node", "cli.ts");

interface View {
  id: string;
  status: string;
  paymentId: string;
  refundedAmount: string;
  typedData: { domain: Record<string, unknown>; types: Record<string, { name: string; type: string }[]>; message: Record<string, unknown> } | null;
  fulfilment: { status: string } | null;
  refunds: { id: string; status: string; amount: string }[];
}

/** Runs a settlenet CLI command to completion; resolves with stdout. */
function runCli(args: string[], env: NodeJS.ProcessEnv): Promise<string> {
  return new Promise((resolveRun, reject) => {
    const child = spawn(process.execPath, ["--import", "tsx", CLI, ...args], { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    let out = "";
    let err = "";
    child.stdout.on("data", (chunk: Buffer) => (out += chunk.toString()));
    child.stderr.on("data", (chunk: Buffer) => (err += chunk.toString()));
    child.once("exit", (code) => (code === 0 ? resolveRun(out) : reject(new Error(`settlenet ${args.join(" ")} exited ${code}: ${err}`))));
  });
}

describe("gateway integration: an external merchant over HTTP against a real node network", function () {
  this.timeout(120_000);
  let net: TestNetwork;
  let gateway: ChildProcess | undefined;
  let client: GatewayClient;
  const env = { SETTLENET_GATEWAY_MASTER_KEY: randomBytes(32).toString("hex") };

  before(async function () {
    net = await launchNetwork({ institutions: 1, regulator: false, merchants: 1, payers: 1 });
    const node = net.nodes[0];
    const merchant = net.scenario.merchants[0];
    if (!node || !merchant) throw new Error("network incomplete");
    const port = await freePort();
    const config: GatewayConfigInput = {
      port,
      dataDir: join(net.dir, "gateway"),
      nodeUrl: node.apiUrl,
      rpcUrl: net.chain.url,
      deploymentFile: join(net.dir, "deployment.json"),
      logLevel: "info",
    };
    const configFile = join(net.dir, "gateway.json");
    await writeFile(configFile, JSON.stringify(config, null, 2));

    const added = JSON.parse(await runCli(["gateway", "merchant", "add", "--config", configFile, "--id", "shop", "--private-key-env", "MERCHANT_KEY"], { ...env, MERCHANT_KEY: merchant.privateKey })) as { address: string };
    expect(added.address).to.equal(merchant.address);
    const key = JSON.parse(await runCli(["gateway", "keys", "create", "--config", configFile, "--merchant", "shop"], env)) as { keyId: string; secret: string };

    const log = createWriteStream(join(net.dir, "gateway.log"));
    gateway = spawn(process.execPath, ["--import", "tsx", CLI, "gateway", "start", "--config", configFile], { cwd: projectRoot, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    gateway.stdout?.pipe(log);
    gateway.stderr?.pipe(log);
    const url = `http://127.0.0.1:${port}`;
    await waitFor("the gateway to listen", async () => (await getJson(`${url}/health`)).status === 200, 30_000);
    client = new GatewayClient(url, key);
  });

  after(async function () {
    if (gateway && gateway.exitCode === null) {
      const exited = new Promise((r) => gateway?.once("exit", r));
      gateway.kill("SIGTERM");
      await exited;
    }
    await net?.stop();
  });

  const poll = (what: string, id: string, check: (v: View) => boolean) =>
    waitFor(what, async () => {
      const res = await client.get<View>(`/v1/payments/${id}`);
      return res.status === 200 && check(res.body) ? res.body : undefined;
    }, 30_000, 250);

  it("creates, has the payer sign, holds on-chain, fulfils and partly refunds a payment", async function () {
    const payer = net.scenario.payers[0];
    if (!payer) throw new Error("no payer");
    const created = await client.post<View>("/v1/payments", { amount: "10000", currency: "CNY", merchantOrderId: "order-1001", description: "a book", payer: payer.address });
    expect(created.status).to.equal(201);
    expect(created.body.status).to.equal("awaiting_authorization");
    const { id, typedData } = created.body;
    if (!typedData) throw new Error("no typed data");

    // The payer's wallet signs exactly what the gateway returned.
    const signature = await payer.signTypedData(typedData.domain, typedData.types, typedData.message);
    const authKey = `auth-${id}`;
    const authorized = await client.post<View>(`/v1/payments/${id}/authorization`, { signature }, { idempotencyKey: authKey });
    expect(authorized.status).to.equal(202);
    expect(authorized.body.status).to.be.oneOf(["processing", "held"]);
    const replay = await client.post<View>(`/v1/payments/${id}/authorization`, { signature }, { idempotencyKey: authKey });
    expect(replay.status).to.equal(202);
    expect(replay.headers.get("idempotent-replayed")).to.equal("true");
    expect(replay.body).to.deep.equal(authorized.body);

    const held = await poll("the payment to be held", id, (v) => v.status === "held");
    expect((await net.scenario.contracts.escrow.paymentOf(held.paymentId)).status).to.equal(1n);

    const fulfilled = await client.post<View>(`/v1/payments/${id}/fulfilment`);
    expect(fulfilled.status).to.equal(202);
    expect(fulfilled.body.fulfilment?.status).to.equal("pending");
    await poll("the payment to be fulfilled", id, (v) => v.status === "fulfilled" && v.fulfilment?.status === "executed");
    expect((await net.scenario.contracts.escrow.paymentOf(held.paymentId)).status).to.equal(2n);

    const balanceBefore = await net.scenario.token.balanceOf(payer.address);
    const refund = await client.post<{ refund: { id: string; status: string }; payment: View }>(`/v1/payments/${id}/refunds`, { amount: "2500", reason: "one item out of stock" });
    expect(refund.status).to.equal(202);
    expect(refund.body.refund.status).to.equal("pending");
    const tooMuch = await client.post<{ code: string }>(`/v1/payments/${id}/refunds`, { amount: "7501", reason: "more than is left" });
    expect(tooMuch.status).to.equal(422);
    expect(tooMuch.body.code).to.equal("REFUND_EXCEEDS_AVAILABLE");

    const refunded = await poll("the refund to execute", id, (v) => v.refunds[0]?.status === "executed" && v.refundedAmount === "2500");
    expect(refunded.status).to.equal("fulfilled");
    expect((await net.scenario.contracts.escrow.paymentOf(held.paymentId)).refunded).to.equal(2500n);
    expect((await net.scenario.token.balanceOf(payer.address)) - balanceBefore).to.equal(2500n);

    const listed = await client.get<{ items: View[] }>("/v1/payments?status=fulfilled");
    expect(listed.body.items.map((v) => v.id)).to.deep.equal([id]);
  });

  it("passes the node's refusal code through (a signature by someone else than the payer)", async function () {
    const payer = net.scenario.payers[0];
    const merchant = net.scenario.merchants[0];
    if (!payer || !merchant) throw new Error("scenario incomplete");
    const created = await client.post<View>("/v1/payments", { amount: "500", currency: "CNY", merchantOrderId: "order-1002", payer: payer.address });
    const { id, typedData } = created.body;
    if (!typedData) throw new Error("no typed data");
    const forged = await merchant.signTypedData(typedData.domain, typedData.types, typedData.message);
    const refused = await client.post<{ code: string; upstream: string }>(`/v1/payments/${id}/authorization`, { signature: forged });
    expect(refused.status).to.equal(422);
    expect(refused.body.code).to.equal("BAD_SIGNATURE");
    expect(refused.body.upstream).to.equal("node");
    const after = await client.get<View & { lastError: { code: string } }>(`/v1/payments/${id}`);
    expect(after.body.status).to.equal("awaiting_authorization");
    expect(after.body.lastError.code).to.equal("BAD_SIGNATURE");

    const cancelled = await client.post<View>(`/v1/payments/${id}/cancel`, { reason: "customer left" });
    expect(cancelled.status).to.equal(200);
    expect(cancelled.body.status).to.equal("cancelled");
    const late = await client.post<{ code: string }>(`/v1/payments/${id}/authorization`, { signature: forged });
    expect(late.status).to.equal(409);
    expect(late.body.code).to.equal("INVALID_PAYMENT_STATUS");
  });
});
