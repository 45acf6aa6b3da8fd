/**
 * The gateway as an external merchant sees it: real processes (a chain, one institution node, the
 * gateway started with `settlenet gateway start`), set up with the admin CLI, and only HTTP through
 * the signed client helper afterwards.
 */
import { spawn, type ChildProcess } from "node:child_process";
import { createWriteStream } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";
import { createServer, type Server } from "node:http";
import { join } from "node:path";

import { expect } from "chai";

import { GatewayClient } from "../../gateway/client/client.js";
import type { GatewayConfigInput } from "../../gateway/config.js";
import type { BankConfigInput } from "../../bank-sim/server.js";
import { writeOperatorKeystore } from "../../core/keys.js";
import { DEV_ACCOUNTS, SENDER_FUNDS } from "../../scripts/lib/launch/consortium.js";
import { devWallet } from "../helpers/chain.js";
import { PROJECT_ROOT, cliArgs, runCliOk } from "../helpers/cli.js";
import { freePort, gatewayCredentialFile, getJson, launchNetwork, loggedUrl, waitFor, type TestNetwork } from "../helpers/network.js";

interface View {
  id: string;
  status: string;
  paymentId: string;
  refundedAmount: string;
  typedData: { domain: Record<string, unknown>; types: Record<string, { name: string; type: string }[]>; message: Record<string, unknown> } | null;
  fulfilment: { status: string } | null;
  refunds: { id: string; status: string; amount: string }[];
}

/** The gateway's client at the bank simulator (every request to the bank is signed). */
const BANK_CLIENT = { id: "gateway", secret: "integration-test-bank-client-secret-0001" };
/** The custodian service's own client at the bank (it reads the transfers it mints against). */
const CUSTODIAN_CLIENT = { id: "custodian", secret: "integration-test-bank-custodian-secret-01" };

describe("gateway integration: an external merchant over HTTP against a real node network", function () {
  this.timeout(120_000);
  let net: TestNetwork;
  let keysDir: string | undefined;
  let gateway: ChildProcess | undefined;
  let bank: ChildProcess | undefined;
  let receiver: Server | undefined;
  let client: GatewayClient;
  let receiverUrl: string;
  /** Webhook deliveries as received: headers and the exact body. */
  const deliveries: { id: string; timestamp: string; signature: string; body: string }[] = [];
  const env = {
    SETTLENET_GATEWAY_MASTER_KEY: randomBytes(32).toString("hex"),
    SETTLENET_RELAYER_KEY_PASSWORD: "relayer-password",
  };

  before(async function () {
    // The permit relayer pays gas: funded from the governance key (a chain need not prefund it).
    // The custodian key is the custodian service's, beside the institution's node (never the gateway's);
    // the bank it reads listens on a port chosen before the node starts.
    keysDir = await mkdtemp(join(tmpdir(), "settlenet-gw-integration-"));
    await writeOperatorKeystore(join(keysDir, "custodian.json"), DEV_ACCOUNTS.custodian().privateKey, "e2e-password", true);
    const bankPort = await freePort();
    net = await launchNetwork({
      institutions: 1,
      regulator: false,
      merchants: 1,
      payers: 1,
      fund: [{ address: devWallet(16).address, minimum: SENDER_FUNDS }],
      custodianKey: DEV_ACCOUNTS.custodian().address,
      nodeConfig: {
        "institution-0": { custodian: { keyFile: join(keysDir, "custodian.json"), keyPasswordEnv: "SETTLENET_KEY_PASSWORD", bank: { url: `http://127.0.0.1:${bankPort}`, client: CUSTODIAN_CLIENT }, pollIntervalMs: 200 } },
      },
    });
    const node = net.nodes[0];
    const merchant = net.scenario.merchants[0];
    if (!node || !merchant) throw new Error("network incomplete");
    // The permit relayer pays for merchants' permits.
    await writeOperatorKeystore(join(net.dir, "relayer.json"), devWallet(16).privateKey, env.SETTLENET_RELAYER_KEY_PASSWORD, true);
    // The bank simulator as its own process.
    // On port 0: it logs where it listens. Payouts are paid only against the merchant's redemption, which the bank reads on this chain.
    const bankConfig: BankConfigInput = {
      port: bankPort,
      dataDir: join(net.dir, "bank"),
      latencyMs: { min: 200, max: 400 },
      failureRate: 0,
      clients: [BANK_CLIENT, CUSTODIAN_CLIENT],
      chain: { rpcUrl: net.chain.url, deploymentFile: join(net.dir, "deployment.json") },
      logLevel: "info",
    };
    await writeFile(join(net.dir, "bank.json"), JSON.stringify(bankConfig));
    const bankLog = createWriteStream(join(net.dir, "bank.log"));
    bank = spawn(process.execPath, cliArgs("bank", "start", "--config", join(net.dir, "bank.json")), { cwd: PROJECT_ROOT, env: process.env, stdio: ["ignore", "pipe", "pipe"] });
    bank.stdout?.pipe(bankLog);
    bank.stderr?.pipe(bankLog);
    const bankUrl = await loggedUrl(bank, "bank simulator listening");
    await waitFor("the bank simulator to be healthy", async () => (await getJson(`${bankUrl}/health`)).status === 200, 60_000);
    // The merchant's webhook receiver.
    receiver = createServer((request, response) => {
      const chunks: Buffer[] = [];
      request.on("data", (chunk: Buffer) => chunks.push(chunk));
      request.on("end", () => {
        const h = (name: string) => String(request.headers[name] ?? "");
        deliveries.push({ id: h("webhook-id"), timestamp: h("webhook-timestamp"), signature: h("webhook-signature"), body: Buffer.concat(chunks).toString("utf8") });
        response.writeHead(204).end();
      });
    });
    await new Promise<void>((r) => receiver?.listen(0, "127.0.0.1", r));
    const receiverAddress = receiver.address();
    receiverUrl = `http://127.0.0.1:${typeof receiverAddress === "object" && receiverAddress ? receiverAddress.port : 0}/hooks`;
    const config: GatewayConfigInput = {
      port: 0,
      dataDir: join(net.dir, "gateway"),
      nodeUrl: node.apiUrl,
      nodeCredentialFile: await gatewayCredentialFile(net.dir, node),
      rpcUrl: net.chain.url,
      deploymentFile: join(net.dir, "deployment.json"),
      logLevel: "info",
      permitRelayer: { keyFile: "relayer.json" },
      bank: { url: bankUrl, client: BANK_CLIENT },
      moneyTickMs: 200,
      webhooks: { requireHttps: false, allowLoopback: true, pollIntervalMs: 200 },
    };
    const configFile = join(net.dir, "gateway.json");
    await writeFile(configFile, JSON.stringify(config, null, 2));

    const added = JSON.parse(await runCliOk(["gateway", "merchant", "add", "--config", configFile, "--id", "shop", "--private-key-env", "MERCHANT_KEY"], { ...env, MERCHANT_KEY: merchant.privateKey })) as { address: string };
    expect(added.address).to.equal(merchant.address);
    const key = JSON.parse(await runCliOk(["gateway", "keys", "create", "--config", configFile, "--merchant", "shop"], env)) as { keyId: string; secret: string };

    const log = createWriteStream(join(net.dir, "gateway.log"));
    gateway = spawn(process.execPath, cliArgs("gateway", "start", "--config", configFile), { cwd: PROJECT_ROOT, env: { ...process.env, ...env }, stdio: ["ignore", "pipe", "pipe"] });
    gateway.stdout?.pipe(log);
    gateway.stderr?.pipe(log);
    const url = await loggedUrl(gateway, "gateway started");
    await waitFor("the gateway to be healthy", async () => (await getJson(`${url}/health`)).status === 200, 60_000);
    client = new GatewayClient(url, key);
  });

  after(async function () {
    for (const child of [gateway, bank]) {
      if (child && child.exitCode === null) {
        const exited = new Promise((r) => child.once("exit", r));
        child.kill("SIGTERM");
        await exited;
      }
    }
    receiver?.closeAllConnections();
    await new Promise((r) => (receiver ? receiver.close(r) : r(undefined)));
    await net?.stop();
    if (keysDir) await rm(keysDir, { recursive: true, force: true });
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

  it("refuses the authorization of a payment the payer cannot fund (PAYER_INSUFFICIENT_BALANCE from the node) and keeps the order open", async function () {
    const payer = net.scenario.payers[0];
    if (!payer) throw new Error("scenario incomplete");
    const balance = await net.scenario.token.balanceOf(payer.address);
    const created = await client.post<View>("/v1/payments", { amount: (balance + 1n).toString(), currency: "CNY", merchantOrderId: "order-1003", payer: payer.address });
    const { id, typedData } = created.body;
    if (!typedData) throw new Error("no typed data");
    const signature = await payer.signTypedData(typedData.domain, typedData.types, typedData.message);
    const refused = await client.post<{ code: string; upstream: string }>(`/v1/payments/${id}/authorization`, { signature });
    expect([refused.status, refused.body.code, refused.body.upstream]).to.deep.equal([422, "PAYER_INSUFFICIENT_BALANCE", "node"]);
    const after = await client.get<View & { lastError: { code: string } }>(`/v1/payments/${id}`);
    expect([after.body.status, after.body.lastError.code]).to.deep.equal(["awaiting_authorization", "PAYER_INSUFFICIENT_BALANCE"]);
    expect((await net.scenario.contracts.escrow.paymentOf(created.body.paymentId)).status).to.equal(0n);
    await client.post(`/v1/payments/${id}/cancel`, { reason: "the payer cannot fund it" });
  });

  /** The verified events the receiver got, by type (Standard Webhooks signature checked with the endpoint's secret). */
  function verifiedEvents(secret: string, type: string): { id: string; data: Record<string, unknown> }[] {
    const key = Buffer.from(secret.slice("whsec_".length), "base64");
    return deliveries
      .filter((d) => {
        const expected = Buffer.from(`v1,${createHmac("sha256", key).update(`${d.id}.${d.timestamp}.${d.body}`).digest("base64")}`);
        return d.signature.split(" ").some((s) => Buffer.from(s).length === expected.length && timingSafeEqual(Buffer.from(s), expected));
      })
      .map((d) => JSON.parse(d.body) as { id: string; type: string; data: Record<string, unknown> })
      .filter((e) => e.type === type);
  }
  let webhookSecret: string;

  it("runs a payment to release by the payer's signed confirmation, with a verified webhook, and refunds within the window", async function () {
    const payer = net.scenario.payers[0];
    if (!payer) throw new Error("no payer");
    const endpoint = await client.post<{ secret: string }>("/v1/webhook-endpoints", { url: receiverUrl });
    expect(endpoint.status).to.equal(201);
    webhookSecret = endpoint.body.secret;

    const created = await client.post<View>("/v1/payments", { amount: "20000", currency: "CNY", merchantOrderId: "order-2001", payer: payer.address });
    const { id, typedData } = created.body;
    if (!typedData) throw new Error("no typed data");
    await client.post(`/v1/payments/${id}/authorization`, { signature: await payer.signTypedData(typedData.domain, typedData.types, typedData.message) });
    await poll("held", id, (v) => v.status === "held");
    await client.post(`/v1/payments/${id}/fulfilment`);
    await poll("fulfilled", id, (v) => v.status === "fulfilled");

    // The payer's wallet signs the Confirm payload the gateway hands out.
    const payload = await client.get<{ nonce: string; deadline: string; typedData: NonNullable<View["typedData"]> }>(`/v1/payments/${id}/confirm`);
    expect(payload.status).to.equal(200);
    const t = payload.body.typedData;
    const confirmed = await client.post(`/v1/payments/${id}/confirm`, { nonce: payload.body.nonce, deadline: payload.body.deadline, signature: await payer.signTypedData(t.domain, t.types, t.message) });
    expect(confirmed.status).to.equal(202);
    const released = await poll("released", id, (v) => v.status === "released");
    expect((await net.scenario.contracts.escrow.paymentOf(released.paymentId)).status).to.equal(4n);
    const releasedEvents = await waitFor("the payment.released webhook", () => {
      const events = verifiedEvents(webhookSecret, "payment.released").filter((e) => e.data["id"] === id);
      return events.length > 0 ? events : undefined;
    }, 30_000, 200);
    expect(releasedEvents.map((e) => e.data["status"])).to.deep.equal(["released"]);

    const refund = await client.post<{ refund: { status: string } }>(`/v1/payments/${id}/refunds`, { amount: "1000", reason: "late delivery" });
    expect(refund.status).to.equal(202);
    // The relay's receipt may record the refund executed a moment before the indexer records the payment's new refunded total.
    const refunded = await poll("the refund after release", id, (v) => v.refunds[0]?.status === "executed" && v.refundedAmount === "1000");
    expect(refunded.refundedAmount).to.equal("1000");
    // 20000 less the 1% fee, less the refund.
    expect(await net.scenario.token.balanceOf(net.scenario.merchants[0]?.address ?? "")).to.equal(18_800n);
  });

  it("tops up through the bank simulator and has a payout paid by it (payout.paid webhook)", async function () {
    const merchant = net.scenario.merchants[0]?.address ?? "";
    // Top-ups are collected only from the merchant's registered bank account (the payout account).
    const topup = await client.post<{ id: string; stage: string }>("/v1/topups", { amount: "5000", currency: "CNY", account: "merchant-0" });
    expect(topup.status).to.equal(202);
    await waitFor("the top-up", async () => (await client.get<{ stage: string }>(`/v1/topups/${topup.body.id}`)).body.stage === "completed", 60_000, 250);
    expect(await net.scenario.token.balanceOf(merchant)).to.equal(23_800n);

    const payout = await client.post<{ id: string }>("/v1/payouts", { amount: "3000", currency: "CNY", account: "merchant-0" });
    expect(payout.status).to.equal(202);
    const paid = await waitFor("the payout", async () => {
      const res = await client.get<{ status: string; bank: { status: string } }>(`/v1/payouts/${payout.body.id}`);
      return res.body.status === "paid" ? res.body : undefined;
    }, 60_000, 250);
    expect(paid.bank.status).to.equal("confirmed");
    expect(await net.scenario.token.balanceOf(merchant)).to.equal(20_800n);
    const balance = await client.get<{ balances: { currency: string; available: string; pendingPayouts: string }[] }>("/v1/balance");
    expect(balance.body.balances.find((l) => l.currency === "CNY")).to.include({ available: "20800", pendingPayouts: "0" });
    const events = await waitFor("the payout.paid webhook", () => {
      const found = verifiedEvents(webhookSecret, "payout.paid").filter((e) => e.data["id"] === payout.body.id);
      return found.length > 0 ? found : undefined;
    }, 30_000, 200);
    expect(events).to.have.length(1);
  });
});
