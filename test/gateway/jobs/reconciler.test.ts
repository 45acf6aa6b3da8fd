/**
 * Dropped orders (掉单) with real processes: a chain, one institution node, the gateway started with
 * `settlenet gateway start` and killed with SIGKILL between the on-chain execution of a payment and
 * the gateway's local write of it; after a restart the gateway repairs the order (from the node's
 * change feed, which it resumes after the last change it applied, or by its reconciler) and the
 * webhook goes out exactly once. The repairs are then listed by `settlenet report reconcile` (JSON
 * and CSV). A node that turns the authorization away for now (503 with Retry-After) gets the merchant
 * a retryable answer with the same Retry-After and nothing stored.
 *
 * How the crash lands in the window, without a crash point in the product: the gateway reaches its
 * node through an HTTP relay in this test, which holds the gateway's change feed requests while a
 * crash is staged (so the gateway cannot learn of the pay before it dies). For the first payment the
 * relay forwards the gateway's `pay` to the node, withholds the node's 202, waits until the node
 * reports the operation executed on-chain, and then kills the gateway: it dies having relayed a pay
 * that executed but with nothing written (the order still awaits authorization). For the second
 * payment the gateway records the authorization normally; the test waits until the node reports the
 * pay executed and kills the gateway before it could learn of it.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { writeFile } from "node:fs/promises";
import { randomBytes } from "node:crypto";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { join } from "node:path";

import { expect } from "chai";

import { GatewayClient } from "../../../gateway/client/client.js";
import type { GatewayConfigInput } from "../../../gateway/config.js";
import { RECONCILE_CSV_COLUMNS } from "../../../gateway/cli/reconcile-report.js";
import { PROJECT_ROOT, cliArgs, runCli } from "../../helpers/cli.js";
import { gatewayCredentialFile, loggedUrl, getJson, launchNetwork, nodeApi, waitFor, type TestNetwork } from "../../helpers/network.js";
import { WebhookReceiver } from "../../../scripts/lib/webhook-receiver.js";

interface View {
  id: string;
  status: string;
  paymentId: string;
  authorization: { status: string } | null;
  typedData: { domain: Record<string, unknown>; types: Record<string, { name: string; type: string }[]>; message: Record<string, unknown> } | null;
}

async function readBody(req: IncomingMessage): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of req) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks);
}

describe("gateway: a dropped order is repaired after kill -9 and its webhook sent exactly once", function () {
  this.timeout(240_000);
  let net: TestNetwork;
  let relay: Server;
  let gateway: ChildProcess | undefined;
  let configFile: string;
  let gatewayUrl: string;
  let client: GatewayClient;
  let apiKey: { keyId: string; secret: string };
  let adminToken = "";
  let nodeUrl: string;
  const receiver = new WebhookReceiver();
  const env = { SETTLENET_GATEWAY_MASTER_KEY: randomBytes(32).toString("hex") };
  /** When set, the relay crashes the gateway after the next pay executes. */
  let crashOnPay = false;
  let crashed: { operationId: string } | undefined;
  /** When set, the relay answers submissions 503 with Retry-After (a node under admission control). */
  let busy = false;
  /** While set, the relay holds the gateway's change feed requests. */
  let feedGate: Promise<void> | undefined;
  let openFeed: (() => void) | undefined;
  const holdFeed = () => {
    feedGate ??= new Promise<void>((resolve) => (openFeed = resolve));
  };
  const releaseFeed = () => {
    openFeed?.();
    feedGate = undefined;
  };

  async function startGateway(): Promise<void> {
    const log = createWriteStream(join(net.dir, "gateway.log"), { flags: "a" });
    const child = spawn(process.execPath, cliArgs("gateway", "start", "--config", configFile), { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    gateway = child;
    // On port 0 at every start: it logs where it listens.
    gatewayUrl = await loggedUrl(child, "gateway started");
    client = new GatewayClient(gatewayUrl, apiKey);
    await waitFor("the gateway to be healthy", async () => (await getJson(`${gatewayUrl}/health`)).status === 200, 60_000);
  }

  function exited(child: ChildProcess): Promise<NodeJS.Signals | number | null> {
    if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve(child.signalCode ?? child.exitCode);
    return new Promise((r) => child.once("exit", (code, signal) => r(signal ?? code)));
  }

  async function nodeOperationStatus(id: string): Promise<string | undefined> {
    return (await nodeApi({ apiUrl: nodeUrl }).operation(id))?.status;
  }

  before(async function () {
    net = await launchNetwork({ institutions: 1, regulator: false, merchants: 1, payers: 1 });
    const node = net.nodes[0];
    const merchant = net.scenario.merchants[0];
    if (!node || !merchant) throw new Error("network incomplete");
    nodeUrl = node.apiUrl;

    // The relay between the gateway and its node (see the file comment).
    relay = createServer((req, res) => {
      void (async () => {
        const body = await readBody(req);
        if (req.method === "GET" && req.url?.startsWith("/v1/changes")) await feedGate;
        const submitted = req.method === "POST" && req.url === "/v1/operations" ? (JSON.parse(body.toString("utf8") || "{}") as { kind?: string; operations?: { kind?: string }[] }) : undefined;
        if (submitted && busy) {
          const problem = { type: "https://settlenet.dev/problems/relay_backlog", title: "the relay is behind; retry later", status: 503, code: "RELAY_BACKLOG" };
          res.writeHead(503, { "content-type": "application/problem+json", "retry-after": "2" }).end(JSON.stringify(problem));
          return;
        }
        // The gateway submits in groups: a group of one pay.
        const isPay = submitted !== undefined && (submitted.kind === "pay" || submitted.operations?.[0]?.kind === "pay");
        const upstream = await fetch(new URL(req.url ?? "/", nodeUrl), {
          method: req.method ?? "GET",
          headers: {
            ...(req.headers["content-type"] ? { "content-type": req.headers["content-type"] } : {}),
            ...(req.headers.authorization ? { authorization: req.headers.authorization } : {}),
          },
          ...(body.length > 0 ? { body } : {}),
        });
        const text = await upstream.text();
        if (isPay && crashOnPay && upstream.status === 202) {
          crashOnPay = false;
          const answer = JSON.parse(text) as { id?: string; results?: { id: string }[] };
          const id = answer.id ?? answer.results?.[0]?.id ?? "";
          await waitFor("the pay to execute on-chain", async () => (await nodeOperationStatus(id)) === "executed", 30_000, 50);
          gateway?.kill("SIGKILL");
          crashed = { operationId: id };
          res.destroy();
          return;
        }
        res.writeHead(upstream.status, { "content-type": upstream.headers.get("content-type") ?? "application/json" }).end(text);
      })().catch(() => res.destroy());
    });
    await new Promise<void>((r) => relay.listen(0, "127.0.0.1", () => r()));
    const relayAddress = relay.address();
    const relayPort = typeof relayAddress === "object" && relayAddress ? relayAddress.port : 0;

    const config: GatewayConfigInput = {
      port: 0,
      dataDir: join(net.dir, "gateway"),
      nodeUrl: `http://127.0.0.1:${relayPort}`,
      nodeCredentialFile: await gatewayCredentialFile(net.dir, node),
      rpcUrl: net.chain.url,
      deploymentFile: join(net.dir, "deployment.json"),
      nodeTimeoutMs: 30_000,
      logLevel: "info",
      webhooks: { requireHttps: false, allowLoopback: true, initialDelayMs: 200, backoffFactor: 2, maxDelayMs: 1_000, pollIntervalMs: 100 },
      // One run at start, then once a minute: nothing polls between the pay and the kill.
      reconcile: { intervalMs: 60_000, dropAfterSeconds: 1 },
      admin: { credentialsFile: join(net.dir, "admin-credentials.json") },
    };
    configFile = join(net.dir, "gateway.json");
    await writeFile(configFile, JSON.stringify(config, null, 2));
    const added = await runCli(["gateway", "merchant", "add", "--config", configFile, "--id", "shop", "--private-key-env", "MERCHANT_KEY"], { ...env, MERCHANT_KEY: merchant.privateKey });
    expect(added.code, added.stderr).to.equal(0);
    const key = await runCli(["gateway", "keys", "create", "--config", configFile, "--merchant", "shop"], env);
    expect(key.code, key.stderr).to.equal(0);
    apiKey = JSON.parse(key.stdout) as { keyId: string; secret: string };
    const credential = await runCli(["gateway", "admin", "credential", "add", "--config", configFile, "--id", "ops"], env);
    expect(credential.code, credential.stderr).to.equal(0);
    adminToken = (JSON.parse(credential.stdout) as { token: string }).token;

    await receiver.start();
    await startGateway();
    const endpoint = await client.post<{ secret: string }>("/v1/webhook-endpoints", { url: receiver.url, eventTypes: ["payment.held", "payment.released"] });
    expect(endpoint.status).to.equal(201);
    receiver.secret = endpoint.body.secret;
  });

  after(async function () {
    if (gateway && gateway.exitCode === null && gateway.signalCode === null) {
      const done = exited(gateway);
      gateway.kill("SIGTERM");
      await done;
    }
    await receiver.stop();
    await new Promise<void>((r) => (relay ? relay.close(() => r()) : r()));
    await net?.stop();
  });

  async function createAndSign(orderId: string): Promise<{ id: string; paymentId: string; signature: string }> {
    const payer = net.scenario.payers[0];
    if (!payer) throw new Error("no payer");
    const created = await client.post<View>("/v1/payments", { amount: "10000", currency: "CNY", merchantOrderId: orderId, payer: payer.address });
    expect(created.status).to.equal(201);
    const typedData = created.body.typedData;
    if (!typedData) throw new Error("no typed data");
    return { id: created.body.id, paymentId: created.body.paymentId, signature: await payer.signTypedData(typedData.domain, typedData.types, typedData.message) };
  }

  const heldFor = (id: string) => receiver.ofType("payment.held").filter((w) => w.payload.data["id"] === id).length;
  let barriers = 0;

  /**
   * The order's held webhooks once the gateway is past it: a later order paid after it has its held
   * webhook too (the change feed is applied in order), and every payment.held the event log has for
   * the order was delivered. A second event for the order would be in the log by then.
   */
  async function heldWebhooksFor(id: string): Promise<number> {
    await waitFor("the held webhook", () => heldFor(id) > 0, 60_000, 100);
    barriers += 1;
    const later = await createAndSign(`barrier-${barriers}`);
    expect((await client.post(`/v1/payments/${later.id}/authorization`, { signature: later.signature })).status).to.equal(202);
    await waitFor("the later order's held webhook", () => heldFor(later.id) > 0, 60_000, 100);
    const events = await client.get<{ items: { type: string; data: { id: string } }[] }>("/v1/events?limit=100");
    const logged = events.body.items.filter((e) => e.type === "payment.held" && e.data.id === id).length;
    await waitFor("every held event of the order delivered", () => heldFor(id) >= logged, 60_000, 100);
    return Math.max(logged, heldFor(id));
  }

  it("adopts a pay that executed on-chain while the gateway died before recording it", async function () {
    const order = await createAndSign("dropped-1");
    const dying = gateway;
    if (!dying) throw new Error("no gateway");
    holdFeed();
    crashOnPay = true;
    const answer = await client.post(`/v1/payments/${order.id}/authorization`, { signature: order.signature }).then(
      (res) => `answered ${res.status}`,
      () => "no answer",
    );
    expect(answer).to.equal("no answer");
    expect(await exited(dying)).to.equal("SIGKILL");
    expect(crashed?.operationId).to.equal(order.paymentId);
    // On-chain the payment is held; the gateway wrote nothing about it.
    expect((await net.scenario.contracts.escrow.paymentOf(order.paymentId)).status).to.equal(1n);
    expect(receiver.ofType("payment.held")).to.deep.equal([]);

    await startGateway();
    releaseFeed();
    expect(await heldWebhooksFor(order.id)).to.equal(1);
    expect(receiver.duplicates).to.equal(0);
    const view = await client.get<View>(`/v1/payments/${order.id}`);
    expect(view.body.status).to.equal("held");
    expect(view.body.authorization?.status).to.equal("executed");
    const events = await client.get<{ items: { type: string; data: { id: string } }[] }>("/v1/events?limit=50");
    expect(events.body.items.filter((e) => e.data.id === order.id).map((e) => e.type)).to.deep.equal(["payment.held"]);
    const metrics = await fetch(`${gatewayUrl}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } }).then((r) => r.text());
    expect(metrics).to.match(/gateway_reconcile_repairs_total\{kind="payment_adopted"\} 1/);
  });

  it("repairs an order whose recorded pay executed while the gateway was down", async function () {
    const order = await createAndSign("dropped-2");
    holdFeed();
    const authorizedAt = Date.now();
    const authorized = await client.post<View>(`/v1/payments/${order.id}/authorization`, { signature: order.signature });
    expect(authorized.status).to.equal(202);
    expect(authorized.body.status).to.equal("processing");
    await waitFor("the pay to execute on-chain", async () => (await nodeOperationStatus(order.paymentId)) === "executed", 30_000, 50);
    // The scenario: the gateway learns of the execution later than the drop threshold (1 s) after the
    // submission, which is what makes it a repair; a restart can be quicker than that.
    await waitFor("the drop threshold to pass since the submission", () => Date.now() - authorizedAt > 1_100, 30_000, 50);
    const dying = gateway;
    if (!dying) throw new Error("no gateway");
    dying.kill("SIGKILL");
    expect(await exited(dying)).to.equal("SIGKILL");
    expect(receiver.ofType("payment.held").filter((w) => w.payload.data["id"] === order.id)).to.deep.equal([]);

    await startGateway();
    releaseFeed();
    expect(await heldWebhooksFor(order.id)).to.equal(1);
    expect(receiver.duplicates).to.equal(0);
    expect(receiver.rejected).to.deep.equal([]);
    const metrics = await fetch(`${gatewayUrl}/metrics`, { headers: { authorization: `Bearer ${adminToken}` } }).then((r) => r.text());
    expect(metrics).to.match(/gateway_reconcile_repairs_total\{kind="status_repaired"\} 1/);
  });

  it("answers 503 with the node's Retry-After when the node turns the authorization away, storing nothing; the same request then goes through", async function () {
    const order = await createAndSign("busy-1");
    busy = true;
    let refused;
    try {
      refused = await client.post<{ code: string; retryable?: boolean }>(`/v1/payments/${order.id}/authorization`, { signature: order.signature }, { idempotencyKey: "busy-1-authorization" });
    } finally {
      busy = false;
    }
    expect([refused.status, refused.headers.get("retry-after"), refused.body.code, refused.body.retryable]).to.deep.equal([503, "2", "RELAY_BACKLOG", true]);
    const unchanged = await client.get<View>(`/v1/payments/${order.id}`);
    expect([unchanged.body.status, unchanged.body.authorization]).to.deep.equal(["awaiting_authorization", null]);
    expect(await nodeOperationStatus(order.paymentId)).to.equal(undefined);

    // The same request under the same Idempotency-Key: a 503 is not recorded, so it runs again.
    const accepted = await client.post<View>(`/v1/payments/${order.id}/authorization`, { signature: order.signature }, { idempotencyKey: "busy-1-authorization" });
    expect([accepted.status, accepted.body.status]).to.deep.equal([202, "processing"]);
    await waitFor("the pay to execute on-chain", async () => (await nodeOperationStatus(order.paymentId)) === "executed", 30_000, 50);
  });

  it("lists the repairs with `settlenet report reconcile` as JSON and CSV, and refuses bad arguments", async function () {
    const running = gateway;
    if (!running) throw new Error("no gateway");
    const done = exited(running);
    running.kill("SIGTERM");
    await done;

    const json = await runCli(["report", "reconcile", "--config", configFile], env);
    expect(json.code, json.stderr).to.equal(0);
    const repairs = JSON.parse(json.stdout) as { kind: string; orderId: string; from: string; to: string; onChainStatus: string; eventIds: string[]; at: string }[];
    expect(repairs.map((r) => [r.kind, r.from, r.to, r.onChainStatus])).to.deep.equal([
      ["payment_adopted", "awaiting_authorization", "held", "held"],
      ["status_repaired", "processing", "held", "held"],
    ]);
    for (const r of repairs) {
      expect(r.eventIds).to.have.length(1);
      expect(r.eventIds[0]).to.equal(receiver.ofType("payment.held").find((w) => w.payload.data["id"] === r.orderId)?.id);
    }

    const csv = await runCli(["report", "reconcile", "--config", configFile, "--format", "csv", "--from", repairs[1]?.at ?? ""], env);
    expect(csv.code, csv.stderr).to.equal(0);
    const lines = csv.stdout.trimEnd().split("\r\n");
    expect(lines[0]).to.equal(RECONCILE_CSV_COLUMNS.join(","));
    expect(lines).to.have.length(2);
    const row = lines[1]?.split(",") ?? [];
    expect(row[2]).to.equal("status_repaired");
    expect(row[3]).to.equal(repairs[1]?.orderId);

    for (const bad of [["--format", "xml"], ["--colour", "red"]]) {
      const refused = await runCli(["report", "reconcile", "--config", configFile, ...bad], env);
      expect(refused.code, bad.join(" ")).to.equal(1);
      expect(refused.stderr, bad.join(" ")).to.match(/^settlenet: USAGE: /);
    }
  });
});
