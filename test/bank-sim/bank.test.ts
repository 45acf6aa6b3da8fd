import { spawn, type ChildProcess } from "node:child_process";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join, resolve } from "node:path";
import { fileURLToPath } from "node:url";

import { expect } from "chai";
import { hexlify, randomBytes as randomHex, type Contract } from "ethers";
import { pino } from "pino";

import { SettlenetError } from "../../core/errors.js";
import { HttpBankAdapter, type BankSettlement, type HttpBankAdapterOptions } from "../../gateway/adapters/bank.js";
import { parseBankConfig, type BankConfigInput } from "../../bank-sim/server.js";
import { ChainRedemptions, redemptionRefOf } from "../../bank-sim/redemptions.js";
import { buildBankSimulator, transferPlanner, type BankSimulatorOptions } from "../../bank-sim/simulator.js";
import { toTokenCall, tokenOperationSchema } from "../../core/operations/index.js";
import { deployScenario, startTestChain, type LocalChain, type Scenario } from "../helpers/chain.js";
import { signedTokenOp } from "../helpers/tokens.js";
import { openBankStore } from "../../bank-sim/store.js";
import { BANK_CALLBACK_HEADERS, bankRequestHeaders, callbackSignatureMatches, signCallback } from "../../core/bank/wire.js";
import { freePort, loggedUrl, waitFor } from "../helpers/network.js";
import { startBankSimulator, type BankSimulatorHandle } from "../gateway/fixture.js";
import { refusalOf } from "../helpers/errors.js";
import { cliArgs } from "../helpers/cli.js";

const projectRoot = resolve(dirname(fileURLToPath(import.meta.url)), "..", "..");
const logger = pino({ level: "silent" });
const SECRET = "callback-secret-for-tests";
const ACCOUNT = "CN12 3456 7890";

let cleanups: (() => Promise<unknown>)[] = [];
afterEach(async function () {
  for (const cleanup of cleanups.reverse()) await cleanup().catch(() => undefined);
  cleanups = [];
});

async function tempDir(): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), "settlenet-bank-"));
  cleanups.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

/** A chain with one custodian and one merchant (payout account "merchant-0"), shared by the tests that pay out. */
let payoutChain: Promise<{ chain: LocalChain; scenario: Scenario; redemptions: ChainRedemptions }> | undefined;
/** The merchant's payout account in `payoutChain`. */
const MERCHANT_ACCOUNT = "merchant-0";
after(async function () {
  const started = await payoutChain;
  started?.redemptions.close();
  await started?.chain.close();
});

function redemptionChain() {
  payoutChain ??= (async () => {
    const chain = await startTestChain();
    const scenario = await deployScenario(chain, { institutions: 1, merchants: 1, payers: 1 });
    const redemptions = ChainRedemptions.connect(chain.url, BigInt(scenario.deployment.chainId), { deployment: scenario.deployment, confirmations: 0 });
    return { chain, scenario, redemptions };
  })();
  return payoutChain;
}

/**
 * A fresh payout reference the merchant redeemed `amount` for on-chain (the custodian mints it to the
 * merchant first, then relays the merchant's signed redemption), as the gateway's payouts do.
 */
async function redeemedPayout(amount: bigint): Promise<string> {
  const { scenario: s } = await redemptionChain();
  const [custodian] = s.institutions;
  const [merchant] = s.merchants;
  if (!custodian || !merchant) throw new Error("scenario incomplete");
  const reference = `po_${hexlify(randomHex(12)).slice(2)}`;
  const token = s.token.connect(custodian) as unknown as Contract;
  await (await token.getFunction("mint")(merchant.address, amount, hexlify(randomHex(32)))).wait();
  const op = tokenOperationSchema.parse(
    await signedTokenOp(s, merchant, { kind: "redeem", holder: merchant.address, custodian: custodian.address, amount: amount.toString(), bankRef: redemptionRefOf(reference) }),
  );
  const call = toTokenCall(op);
  await (await token.getFunction(call.functionName)(...call.args)).wait();
  return reference;
}

/** The simulator in-process, listening on 127.0.0.1 with its LevelDB in `dir`, paying against the test chain's redemptions; stopped after the test. */
async function startSimulator(dir: string, options: Partial<BankSimulatorOptions> = {}, port = 0, simLogger?: pino.Logger): Promise<BankSimulatorHandle> {
  const { redemptions } = await redemptionChain();
  const sim = await startBankSimulator(dir, { latencyMs: { min: 20, max: 40 }, failureRate: 0, ...options }, port, redemptions, simLogger);
  cleanups.push(sim.stop);
  return sim;
}

/**
 * The simulator in-process like startSimulator, except that it answers no transfer until `release()`:
 * what a pending transfer holds can be read without racing the bank's answer (its store's `due` waits
 * for the release; the answers' times and outcomes stay as planned at acceptance).
 */
async function startHeldSimulator(dir: string, options: Partial<BankSimulatorOptions> = {}): Promise<{ url: string; release(): void }> {
  const { redemptions } = await redemptionChain();
  const store = await openBankStore(dir);
  let release = () => {};
  const released = new Promise<void>((resolveRelease) => (release = resolveRelease));
  const held = { ...store, due: async (now: number, limit: number) => (await released, store.due(Math.max(now, Date.now()), limit)) };
  const app = await buildBankSimulator({ latencyMs: { min: 20, max: 40 }, failureRate: 0, ...options }, { logger, store: held, redemptions });
  cleanups.push(async () => {
    release();
    await app.close();
    await store.close();
  });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const address = app.server.address();
  return { url: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`, release };
}

function adapterFor(url: string, options: Partial<HttpBankAdapterOptions> = {}): HttpBankAdapter {
  const adapter = new HttpBankAdapter({ baseUrl: url, callbackSecret: SECRET, attempts: 2, retryDelayMs: 10, ...options }, { logger });
  cleanups.push(() => adapter.stopPolling());
  return adapter;
}

async function settled(adapter: HttpBankAdapter, bankRef: string, timeoutMs = 30_000) {
  return waitFor(`transfer ${bankRef} to settle`, async () => {
    const transfer = await adapter.getTransfer(bankRef);
    return transfer.status === "pending" ? undefined : transfer;
  }, timeoutMs, 20);
}

async function health(url: string): Promise<{ status: string; pending: number; callbacks: number }> {
  return (await (await fetch(`${url}/health`)).json()) as { status: string; pending: number; callbacks: number };
}

interface ReceivedCallback {
  headers: IncomingMessage["headers"];
  body: string;
}

/** An HTTP server on 127.0.0.1:`port` that answers callbacks with `answer` (status code). */
async function startReceiver(port: number, answer: (callback: ReceivedCallback) => Promise<number>): Promise<{ received: ReceivedCallback[]; close(): Promise<void> }> {
  const received: ReceivedCallback[] = [];
  const server: Server = createServer((request: IncomingMessage, response: ServerResponse) => {
    const chunks: Buffer[] = [];
    request.on("data", (chunk: Buffer) => chunks.push(chunk));
    request.on("end", () => {
      const callback = { headers: request.headers, body: Buffer.concat(chunks).toString("utf8") };
      received.push(callback);
      answer(callback).then(
        (status) => response.writeHead(status).end(),
        () => response.writeHead(500).end(),
      );
    });
  });
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  let closed = false;
  const close = async () => {
    if (closed) return;
    closed = true;
    server.closeAllConnections();
    await new Promise<void>((r) => server.close(() => r()));
  };
  cleanups.push(close);
  return { received, close };
}

/** A receiver that hands callbacks to the adapter: 204 when processed, 401 when refused, 500 when a listener failed. */
function viaAdapter(adapter: HttpBankAdapter) {
  return async (callback: ReceivedCallback) => {
    try {
      await adapter.handleCallback(callback);
      return 204;
    } catch (error) {
      return error instanceof SettlenetError && error.code.startsWith("BANK_CALLBACK_") ? 401 : 500;
    }
  };
}

/** A fake bank that answers every request with `status` and `body` (for misbehaving-bank cases). */
async function startFakeBank(status: number, body: string): Promise<string> {
  const server = createServer((_request, response) => {
    response.writeHead(status, { "content-type": "application/json" }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  const address = server.address();
  return `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`;
}

/** A caller of the bank with its HMAC secret. */
const CLIENT = { id: "gateway", secret: "bank-test-client-secret-000000000001" };

describe("bank simulator and HttpBankAdapter", function () {
  this.timeout(120_000);

  describe("transfers", function () {
    it("accepts a deposit as pending and confirms it after the configured latency", async function () {
      const sim = await startSimulator(await tempDir(), { latencyMs: { min: 300, max: 300 } });
      const bank = adapterFor(sim.url);
      const accepted = await bank.requestDeposit({ reference: "topup-1", account: ACCOUNT, amount: 125_00n, currency: "CNY" });
      expect(accepted.status).to.equal("pending");
      expect(accepted.kind).to.equal("deposit");
      expect(accepted.amount).to.equal(125_00n);
      expect((await bank.getTransfer(accepted.bankRef)).status).to.equal("pending");
      expect((await bank.getReserve("CNY")).balance).to.equal(0n);

      const done = await settled(bank, accepted.bankRef);
      expect(done.status).to.equal("confirmed");
      expect(done.reason).to.equal(undefined);
      expect(done.updatedAt - done.createdAt).to.be.at.least(300);
      expect(await bank.getReserve("CNY")).to.deep.equal({ currency: "CNY", balance: 125_00n, held: 0n, available: 125_00n });
    });

    it("holds a payout on the reserve, pays it on confirmation and rejects one larger than the available reserve", async function () {
      const dir = await tempDir();
      const sim = await startSimulator(dir);
      let bank = adapterFor(sim.url);
      await settled(bank, (await bank.requestDeposit({ reference: "topup-1", account: ACCOUNT, amount: 1_000n, currency: "CNY" })).bankRef);
      await sim.stop();

      const held = await startHeldSimulator(dir);
      bank = adapterFor(held.url);
      const payout = await bank.requestPayout({ reference: await redeemedPayout(400n), account: MERCHANT_ACCOUNT, amount: 400n, currency: "CNY" });
      expect(payout.status).to.equal("pending");
      expect(await bank.getReserve("CNY")).to.deep.equal({ currency: "CNY", balance: 1_000n, held: 400n, available: 600n });
      held.release();
      expect((await settled(bank, payout.bankRef)).status).to.equal("confirmed");
      expect(await bank.getReserve("CNY")).to.deep.equal({ currency: "CNY", balance: 600n, held: 0n, available: 600n });

      const tooLarge = await bank.requestPayout({ reference: await redeemedPayout(700n), account: MERCHANT_ACCOUNT, amount: 700n, currency: "CNY" });
      const rejected = await settled(bank, tooLarge.bankRef);
      expect(rejected.status).to.equal("rejected");
      expect(rejected.reason).to.equal("insufficient_funds");
      expect((await bank.getReserve("CNY")).balance).to.equal(600n);

      const accounts = (await (await fetch(`${held.url}/v1/accounts/${encodeURIComponent(MERCHANT_ACCOUNT)}`)).json()) as { balances: unknown[] };
      expect(accounts.balances).to.deep.equal([{ currency: "CNY", deposited: "0", paidOut: "400" }]);
    });

    it("rejects every transfer with failure rate 1 and releases the held payout", async function () {
      const dir = await tempDir();
      const sim = await startSimulator(dir, { failureRate: 0 });
      let bank = adapterFor(sim.url);
      await settled(bank, (await bank.requestDeposit({ reference: "topup-1", account: ACCOUNT, amount: 500n, currency: "CNY" })).bankRef);
      await sim.stop();

      const held = await startHeldSimulator(dir, { failureRate: 1 });
      bank = adapterFor(held.url);
      const deposit = await bank.requestDeposit({ reference: "topup-2", account: ACCOUNT, amount: 100n, currency: "CNY" });
      const payout = await bank.requestPayout({ reference: await redeemedPayout(300n), account: MERCHANT_ACCOUNT, amount: 300n, currency: "CNY" });
      expect((await bank.getReserve("CNY")).held).to.equal(300n);
      held.release();
      for (const bankRef of [deposit.bankRef, payout.bankRef]) {
        const transfer = await settled(bank, bankRef);
        expect(transfer.status).to.equal("rejected");
        expect(transfer.reason).to.equal("declined");
      }
      expect(await bank.getReserve("CNY")).to.deep.equal({ currency: "CNY", balance: 500n, held: 0n, available: 500n });
    });

    it("draws the same answers for the same seed", async function () {
      const run = async () => {
        const sim = await startSimulator(await tempDir(), { failureRate: 0.5, seed: "reproducible", latencyMs: { min: 5, max: 30 } });
        const bank = adapterFor(sim.url);
        const refs: string[] = [];
        for (let i = 0; i < 12; i += 1) refs.push((await bank.requestDeposit({ reference: `topup-${i}`, account: ACCOUNT, amount: 10n, currency: "CNY" })).bankRef);
        const statuses: string[] = [];
        for (const bankRef of refs) statuses.push((await settled(bank, bankRef)).status);
        return statuses;
      };
      const first = await run();
      expect(await run()).to.deep.equal(first);
      expect(first).to.include("confirmed").and.to.include("rejected");

      const plan = transferPlanner({ latencyMs: { min: 0, max: 1_000 }, failureRate: 0.5, seed: "reproducible" });
      const again = transferPlanner({ latencyMs: { min: 0, max: 1_000 }, failureRate: 0.5, seed: "reproducible" });
      expect([0, 1, 2, 3].map(plan)).to.deep.equal([0, 1, 2, 3].map(again));
    });
  });

  describe("payouts only against final redemptions", function () {
    it("refuses a payout no redemption carries (REDEMPTION_NOT_FINAL, retryable), then pays it once the merchant redeemed, and only once", async function () {
      const sim = await startSimulator(await tempDir());
      const bank = adapterFor(sim.url);
      await settled(bank, (await bank.requestDeposit({ reference: "topup-r", account: ACCOUNT, amount: 1_000n, currency: "CNY" })).bankRef);
      const reference = `po_${hexlify(randomHex(12)).slice(2)}`;
      const early = await refusalOf(bank.requestPayout({ reference, account: MERCHANT_ACCOUNT, amount: 250n, currency: "CNY" }));
      expect(early.code).to.equal("BANK_REDEMPTION_NOT_FINAL");
      expect((await bank.getReserve("CNY")).held).to.equal(0n);

      const redeemed = await redeemedPayout(250n);
      const request = { reference: redeemed, account: MERCHANT_ACCOUNT, amount: 250n, currency: "CNY" };
      const [first, second] = await Promise.all([bank.requestPayout(request), bank.requestPayout(request)]);
      expect(second?.bankRef).to.equal(first?.bankRef);
      expect((await settled(bank, first.bankRef)).status).to.equal("confirmed");
      expect((await bank.requestPayout(request)).bankRef).to.equal(first.bankRef);
      const accounts = (await (await fetch(`${sim.url}/v1/accounts/${encodeURIComponent(MERCHANT_ACCOUNT)}`)).json()) as { balances: { paidOut: string }[] };
      expect(accounts.balances[0]?.paidOut).to.equal("250");
    });

    it("refuses a payout whose redemption burned another amount or whose account is not the redeeming merchant's (REDEMPTION_MISMATCH), and pays nothing", async function () {
      const sim = await startSimulator(await tempDir());
      const bank = adapterFor(sim.url);
      await settled(bank, (await bank.requestDeposit({ reference: "topup-m", account: ACCOUNT, amount: 1_000n, currency: "CNY" })).bankRef);
      const reference = await redeemedPayout(100n);
      for (const request of [
        { reference, account: MERCHANT_ACCOUNT, amount: 900n, currency: "CNY" },
        { reference, account: ACCOUNT, amount: 100n, currency: "CNY" },
      ]) {
        const refused = await refusalOf(bank.requestPayout(request));
        expect([refused.code, refused.meta["bankCode"]]).to.deep.equal(["BANK_REJECTED", "REDEMPTION_MISMATCH"]);
      }
      expect(await bank.getReserve("CNY")).to.deep.equal({ currency: "CNY", balance: 1_000n, held: 0n, available: 1_000n });
    });

    it("without a chain to read, refuses every payout (PAYOUT_UNVERIFIABLE) and still takes deposits", async function () {
      const sim = await startBankSimulator(await tempDir(), { latencyMs: { min: 20, max: 40 }, failureRate: 0 });
      cleanups.push(sim.stop);
      const bank = adapterFor(sim.url);
      const refused = await refusalOf(bank.requestPayout({ reference: await redeemedPayout(10n), account: MERCHANT_ACCOUNT, amount: 10n, currency: "CNY" }));
      expect([refused.code, refused.meta["bankCode"]]).to.deep.equal(["BANK_REJECTED", "PAYOUT_UNVERIFIABLE"]);
      expect((await bank.requestDeposit({ reference: "topup-u", account: ACCOUNT, amount: 5n, currency: "CNY" })).status).to.equal("pending");
    });
  });

  describe("idempotent references", function () {
    it("returns the same transfer for a repeated reference and never creates a second one", async function () {
      const sim = await startSimulator(await tempDir(), { latencyMs: { min: 200, max: 200 } });
      const bank = adapterFor(sim.url);
      const request = { reference: "topup-7", account: ACCOUNT, amount: 42n, currency: "CNY" };
      // Concurrent first requests race for the reference: exactly one transfer comes out.
      const concurrent = await Promise.all(Array.from({ length: 5 }, () => bank.requestDeposit(request)));
      const first = concurrent[0];
      if (!first) throw new Error("no answer");
      expect(concurrent.map((t) => t.bankRef)).to.deep.equal(Array(5).fill(first.bankRef));

      const raw = await fetch(`${sim.url}/v1/deposits`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...request, amount: "42" }) });
      expect(raw.status).to.equal(200);

      const confirmed = await settled(bank, first.bankRef);
      const later = await bank.requestDeposit(request);
      expect(later.bankRef).to.equal(first.bankRef);
      expect(later.status).to.equal("confirmed");
      expect(later.updatedAt).to.equal(confirmed.updatedAt);

      const page = await bank.listTransfers({ limit: 100 });
      expect(page.transfers.map((t) => t.bankRef)).to.deep.equal([first.bankRef]);
      expect((await bank.getReserve("CNY")).balance).to.equal(42n);
    });

    it("refuses a used reference for a different transfer with BANK_REFERENCE_CONFLICT", async function () {
      const sim = await startSimulator(await tempDir());
      const bank = adapterFor(sim.url);
      const first = await bank.requestDeposit({ reference: "ref-1", account: ACCOUNT, amount: 42n, currency: "CNY" });
      const conflicts = [
        bank.requestDeposit({ reference: "ref-1", account: ACCOUNT, amount: 43n, currency: "CNY" }),
        bank.requestDeposit({ reference: "ref-1", account: "OTHER", amount: 42n, currency: "CNY" }),
        bank.requestDeposit({ reference: "ref-1", account: ACCOUNT, amount: 42n, currency: "USD" }),
        bank.requestPayout({ reference: "ref-1", account: ACCOUNT, amount: 42n, currency: "CNY" }),
      ];
      for (const conflict of conflicts) {
        const error = await refusalOf(conflict);
        expect(error.code).to.equal("BANK_REFERENCE_CONFLICT");
        expect(error.meta["bankRef"]).to.equal(first.bankRef);
      }
      expect((await bank.listTransfers({ limit: 100 })).transfers).to.have.length(1);
    });
  });

  describe("refusals", function () {
    it("refuses unsigned, badly signed, stale and unknown-client requests with 401 and changes nothing", async function () {
      const dir = await tempDir();
      const sim = await startSimulator(dir, { clients: { [CLIENT.id]: CLIENT.secret } });
      const body = JSON.stringify({ reference: "auth-1", account: ACCOUNT, amount: "500", currency: "CNY" });
      const post = (headers: Record<string, string>) => fetch(`${sim.url}/v1/payouts`, { method: "POST", headers: { "content-type": "application/json", ...headers }, body });
      const now = Math.floor(Date.now() / 1000);
      const answers = [
        await post({}),
        await post(bankRequestHeaders({ id: CLIENT.id, secret: "another-secret-of-the-same-length-0001" }, "POST", "/v1/payouts", body)),
        await post(bankRequestHeaders({ id: "stranger", secret: CLIENT.secret }, "POST", "/v1/payouts", body)),
        await post(bankRequestHeaders(CLIENT, "POST", "/v1/payouts", body, now - 301)),
        // Signed for another body (amount 5), sent with this one.
        await post(bankRequestHeaders(CLIENT, "POST", "/v1/payouts", body.replace('"500"', '"5"'))),
        await fetch(`${sim.url}/v1/transfers?limit=10`),
      ];
      for (const answer of answers) {
        expect(answer.status).to.equal(401);
        expect(((await answer.json()) as { code: string }).code).to.equal("BANK_AUTH_FAILED");
      }
      expect((await sim.store.list({ limit: 10 })).transfers).to.deep.equal([]);
      // Signed by the client, the same request goes through; /health stays open.
      const signed = await post(bankRequestHeaders(CLIENT, "POST", "/v1/deposits".replace("deposits", "payouts"), body));
      expect([201, 422, 409]).to.include(signed.status);
      expect((await fetch(`${sim.url}/health`)).status).to.equal(200);
      const adapter = adapterFor(sim.url, { client: CLIENT });
      const deposit = await adapter.requestDeposit({ reference: "auth-2", account: ACCOUNT, amount: 70n, currency: "CNY" });
      expect((await settled(adapter, deposit.bankRef)).status).to.equal("confirmed");
    });

    it("refuses bad input with MALFORMED and creates no transfer", async function () {
      const sim = await startSimulator(await tempDir());
      const good = { reference: "topup-1", account: ACCOUNT, amount: "100", currency: "CNY" };
      const bodies: unknown[] = [
        { ...good, amount: "1.5" },
        { ...good, amount: "-1" },
        { ...good, amount: "0" },
        { ...good, amount: "0100" },
        { ...good, amount: 100 },
        { ...good, currency: "cny" },
        { ...good, reference: "has spaces" },
        { ...good, reference: "" },
        { ...good, account: "" },
        { ...good, extra: true },
        { reference: "topup-1", account: ACCOUNT, amount: "100" },
      ];
      for (const body of bodies) {
        for (const path of ["/v1/deposits", "/v1/payouts"]) {
          const response = await fetch(`${sim.url}${path}`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });
          expect(response.status, JSON.stringify(body)).to.equal(400);
          expect(response.headers.get("content-type")).to.match(/^application\/problem\+json/);
          expect(((await response.json()) as { code: string }).code).to.equal("MALFORMED");
        }
      }
      const notJson = await fetch(`${sim.url}/v1/deposits`, { method: "POST", headers: { "content-type": "application/json" }, body: "{not json" });
      expect(((await notJson.json()) as { code: string }).code).to.equal("MALFORMED");
      const notJsonType = await fetch(`${sim.url}/v1/deposits`, { method: "POST", headers: { "content-type": "text/plain" }, body: JSON.stringify(good) });
      expect(((await notJsonType.json()) as { code: string }).code).to.equal("MALFORMED");

      const bank = adapterFor(sim.url);
      const error = await refusalOf(bank.requestDeposit({ reference: "topup-1", account: ACCOUNT, amount: 0n, currency: "CNY" }));
      expect(error.code).to.equal("BANK_REJECTED");
      expect(error.meta["bankCode"]).to.equal("MALFORMED");

      expect((await bank.listTransfers({ limit: 100 })).transfers).to.deep.equal([]);
      expect(await health(sim.url)).to.deep.equal({ status: "ok", pending: 0, callbacks: 0 });
      // The refused reference is still free.
      expect((await bank.requestDeposit({ reference: "topup-1", account: ACCOUNT, amount: 100n, currency: "CNY" })).status).to.equal("pending");
    });

    it("answers unknown transfers and bad queries with codes", async function () {
      const sim = await startSimulator(await tempDir());
      const bank = adapterFor(sim.url);
      expect((await refusalOf(bank.getTransfer(`bt_${"0".repeat(24)}`))).code).to.equal("BANK_TRANSFER_NOT_FOUND");
      const malformedRef = await fetch(`${sim.url}/v1/transfers/not-a-ref`);
      expect(malformedRef.status).to.equal(400);
      expect(((await malformedRef.json()) as { code: string }).code).to.equal("MALFORMED");
      const badCursor = await refusalOf(bank.listTransfers({ limit: 10, cursor: "Zm9v" }));
      expect(badCursor.code).to.equal("BANK_REJECTED");
      expect(badCursor.meta["bankCode"]).to.equal("INVALID_CURSOR");
      const badLimit = await refusalOf(bank.listTransfers({ limit: 0 }));
      expect(badLimit.meta["bankCode"]).to.equal("MALFORMED");
    });

    it("maps an absent, failing or nonsensical bank to BANK_UNAVAILABLE and BANK_INVALID_RESPONSE", async function () {
      const request = { reference: "topup-1", account: ACCOUNT, amount: 1n, currency: "CNY" };
      // A port nothing listens on (the bank is "down").
      const down = adapterFor(`http://127.0.0.1:${await freePort()}`);
      expect((await refusalOf(down.requestDeposit(request))).code).to.equal("BANK_UNAVAILABLE");

      const failing = adapterFor(await startFakeBank(500, '{"code":"INTERNAL","status":500}'));
      expect((await refusalOf(failing.requestDeposit(request))).code).to.equal("BANK_UNAVAILABLE");

      const nonsense = adapterFor(await startFakeBank(201, '{"hello":"world"}'));
      expect((await refusalOf(nonsense.requestDeposit(request))).code).to.equal("BANK_INVALID_RESPONSE");

      const notJson = adapterFor(await startFakeBank(200, "<html>"));
      expect((await refusalOf(notJson.getTransfer(`bt_${"1".repeat(24)}`))).code).to.equal("BANK_INVALID_RESPONSE");

      // A well-formed answer about a different transfer is not taken for this one.
      const other = { bankRef: `bt_${"2".repeat(24)}`, kind: "deposit", status: "pending", reference: "someone-else", account: ACCOUNT, amount: "1", currency: "CNY", createdAt: 1, updatedAt: 1 };
      const mismatched = adapterFor(await startFakeBank(201, JSON.stringify(other)));
      expect((await refusalOf(mismatched.requestDeposit(request))).code).to.equal("BANK_INVALID_RESPONSE");
    });
  });

  describe("restarts", function () {
    it("completes pending transfers after a restart, as planned when they were accepted", async function () {
      const dir = await tempDir();
      let sim = await startSimulator(dir, { latencyMs: { min: 1_000, max: 1_000 } });
      let bank = adapterFor(sim.url);
      const early = await bank.requestDeposit({ reference: "topup-1", account: ACCOUNT, amount: 10n, currency: "CNY" });
      await sim.stop();

      // Restarted at once: still pending, and it completes on its original schedule (not the new latency).
      sim = await startSimulator(dir, { latencyMs: { min: 60_000, max: 60_000 } });
      bank = adapterFor(sim.url);
      expect((await bank.getTransfer(early.bankRef)).status).to.equal("pending");
      expect((await health(sim.url)).pending).to.equal(1);
      // Well before the new latency (60 s) would answer it.
      expect((await settled(bank, early.bankRef, 30_000)).status).to.equal("confirmed");
      await sim.stop();

      // Down past a transfer's answer time: it completes as soon as the bank is back.
      sim = await startSimulator(dir, { latencyMs: { min: 100, max: 100 } });
      bank = adapterFor(sim.url);
      const late = await bank.requestDeposit({ reference: "topup-2", account: ACCOUNT, amount: 5n, currency: "CNY" });
      await sim.stop();
      await waitFor("the transfer's answer time to pass while the bank is down", () => Date.now() > late.createdAt + 100, 30_000, 20);
      sim = await startSimulator(dir, { latencyMs: { min: 60_000, max: 60_000 } });
      bank = adapterFor(sim.url);
      expect((await settled(bank, late.bankRef, 30_000)).status).to.equal("confirmed");
      expect((await bank.getReserve("CNY")).balance).to.equal(15n);
    });

    it("closes promptly with requests in flight, and a repeated reference after the restart finds what was made", async function () {
      const dir = await tempDir();
      let sim = await startSimulator(dir);
      let bank = adapterFor(sim.url, { attempts: 1 });
      await bank.requestDeposit({ reference: "warm-up", account: ACCOUNT, amount: 1n, currency: "CNY" });
      const requests = Array.from({ length: 8 }, (_, i) => ({ reference: `topup-${i}`, account: ACCOUNT, amount: 10n, currency: "CNY" }));
      const inFlight = requests.map((request) => bank.requestDeposit(request).then(
        (transfer) => transfer.bankRef,
        (error: unknown) => (error as SettlenetError).code,
      ));
      await Promise.race(inFlight); // the others are on keep-alive connections now
      await sim.stop();
      for (const outcome of await Promise.all(inFlight)) expect(outcome).to.match(/^(bt_|BANK_UNAVAILABLE$)/);

      sim = await startSimulator(dir);
      bank = adapterFor(sim.url);
      for (const request of requests) await bank.requestDeposit(request);
      const all = (await bank.listTransfers({ limit: 100 })).transfers.map((t) => t.reference).sort();
      expect(all).to.deep.equal(["warm-up", ...requests.map((r) => r.reference)].sort());
    });
  });

  describe("confirmations", function () {
    it("delivers a signed callback that the adapter verifies and reports", async function () {
      // The callback receiver's port is in the simulator's configuration before the receiver listens.
      const port = await freePort();
      const sim = await startSimulator(await tempDir(), { callbackUrl: `http://127.0.0.1:${port}/bank/callbacks`, callbackSecret: SECRET });
      const bank = adapterFor(sim.url);
      const settlements: BankSettlement[] = [];
      bank.onSettled((settlement) => {
        settlements.push(settlement);
      });
      const receiver = await startReceiver(port, viaAdapter(bank));

      const payout = await bank.requestPayout({ reference: await redeemedPayout(9n), account: MERCHANT_ACCOUNT, amount: 9n, currency: "CNY" });
      const deposit = await bank.requestDeposit({ reference: "topup-1", account: ACCOUNT, amount: 9n, currency: "CNY" });
      await waitFor("two settlements", () => settlements.length >= 2, 30_000, 20);
      await waitFor("the outbox to drain", async () => (await health(sim.url)).callbacks === 0, 30_000, 20);

      const byRef = new Map(settlements.map((s) => [s.transfer.bankRef, s]));
      expect(byRef.get(deposit.bankRef)?.transfer.status).to.equal("confirmed");
      expect(byRef.get(payout.bankRef)?.transfer.status).to.equal("rejected");
      expect(byRef.get(payout.bankRef)?.transfer.reason).to.equal("insufficient_funds");
      for (const settlement of settlements) {
        expect(settlement.source).to.equal("callback");
        expect(settlement.eventId).to.match(/^evt_/);
      }

      // The signature covers timestamp and body: anyone holding the secret can check it.
      const [callback] = receiver.received;
      if (!callback) throw new Error("no callback received");
      const timestamp = Number(callback.headers[BANK_CALLBACK_HEADERS.timestamp]);
      const signature = String(callback.headers[BANK_CALLBACK_HEADERS.signature]);
      expect(callbackSignatureMatches(SECRET, timestamp, callback.body, signature)).to.equal(true);
      expect(callbackSignatureMatches("another-secret-entirely", timestamp, callback.body, signature)).to.equal(false);

      const tampered = { headers: callback.headers, body: callback.body.replace('"amount":"9"', '"amount":"900"') };
      expect((await refusalOf(bank.handleCallback(tampered))).code).to.equal("BANK_CALLBACK_SIGNATURE_INVALID");
      const wrongSecret = adapterFor(sim.url, { callbackSecret: "another-secret-entirely" });
      expect((await refusalOf(wrongSecret.handleCallback(callback))).code).to.equal("BANK_CALLBACK_SIGNATURE_INVALID");
      const unsigned = { headers: { ...callback.headers, [BANK_CALLBACK_HEADERS.signature]: undefined }, body: callback.body };
      expect((await refusalOf(bank.handleCallback(unsigned))).code).to.equal("BANK_CALLBACK_SIGNATURE_INVALID");
      const old = Math.floor(Date.now() / 1000) - 3_600;
      const stale = { headers: { ...callback.headers, [BANK_CALLBACK_HEADERS.timestamp]: String(old), [BANK_CALLBACK_HEADERS.signature]: signCallback(SECRET, old, callback.body) }, body: callback.body };
      expect((await refusalOf(bank.handleCallback(stale))).code).to.equal("BANK_CALLBACK_STALE");
      const now = Math.floor(Date.now() / 1000);
      const garbage = '{"id":"evt_x"}';
      const malformed = { headers: { ...callback.headers, [BANK_CALLBACK_HEADERS.timestamp]: String(now), [BANK_CALLBACK_HEADERS.signature]: signCallback(SECRET, now, garbage) }, body: garbage };
      expect((await refusalOf(bank.handleCallback(malformed))).code).to.equal("BANK_CALLBACK_MALFORMED");
      expect(settlements).to.have.length(2);
    });

    it("retries a callback while the receiver is down or failing until it answers 2xx", async function () {
      // The receiver is down at first: its port is in the simulator's configuration before it listens.
      const port = await freePort();
      const failedAttempts: number[] = [];
      const simLogger = pino({ level: "warn" }, {
        write: (line: string) => {
          const record = JSON.parse(line) as { msg: string; attempt?: number };
          if (record.msg === "callback failed; will retry" && record.attempt !== undefined) failedAttempts.push(record.attempt);
        },
      });
      const sim = await startSimulator(await tempDir(), {
        latencyMs: { min: 5, max: 5 },
        callbackUrl: `http://127.0.0.1:${port}/bank/callbacks`,
        callbackSecret: SECRET,
        callbackRetryMs: { min: 40, max: 160 },
      }, 0, simLogger);
      const bank = adapterFor(sim.url);
      const deposit = await bank.requestDeposit({ reference: "topup-1", account: ACCOUNT, amount: 3n, currency: "CNY" });
      await settled(bank, deposit.bankRef);
      await waitFor("several attempts against a closed port", () => failedAttempts.length >= 3, 30_000, 20);
      expect((await health(sim.url)).callbacks).to.equal(1);

      // Back up, but the first delivery fails inside the gateway's listener: it must come again.
      let failures = 1;
      const settlements: BankSettlement[] = [];
      bank.onSettled((settlement) => {
        if (failures > 0) {
          failures -= 1;
          throw new Error("gateway busy");
        }
        settlements.push(settlement);
      });
      const receiver = await startReceiver(port, viaAdapter(bank));
      await waitFor("the callback to be processed", () => settlements.length === 1, 30_000, 20);
      await waitFor("the outbox to drain", async () => (await health(sim.url)).callbacks === 0, 30_000, 20);

      expect(receiver.received.length).to.be.at.least(2);
      const ids = new Set(receiver.received.map((c) => c.headers[BANK_CALLBACK_HEADERS.id]));
      expect([...ids]).to.deep.equal([settlements[0]?.eventId]);
      expect(settlements[0]?.transfer.bankRef).to.equal(deposit.bankRef);
    });

    it("keeps an undelivered callback across a restart and delivers it afterwards", async function () {
      const dir = await tempDir();
      // The receiver is down at first: its port is in the simulator's configuration before it listens.
      const port = await freePort();
      const options = { latencyMs: { min: 5, max: 5 }, callbackUrl: `http://127.0.0.1:${port}/cb`, callbackSecret: SECRET, callbackRetryMs: { min: 40, max: 80 } };
      let sim = await startSimulator(dir, options);
      let bank = adapterFor(sim.url);
      const deposit = await bank.requestDeposit({ reference: "topup-1", account: ACCOUNT, amount: 3n, currency: "CNY" });
      await settled(bank, deposit.bankRef);
      await sim.stop();

      sim = await startSimulator(dir, options);
      bank = adapterFor(sim.url);
      expect((await health(sim.url)).callbacks).to.equal(1);
      const settlements: BankSettlement[] = [];
      bank.onSettled((settlement) => {
        settlements.push(settlement);
      });
      await startReceiver(port, viaAdapter(bank));
      await waitFor("the callback after the restart", () => settlements.length === 1, 30_000, 20);
      expect(settlements[0]?.transfer.bankRef).to.equal(deposit.bankRef);
      await waitFor("the outbox to drain", async () => (await health(sim.url)).callbacks === 0, 30_000, 20);
    });

    it("reports settlements by polling the change feed, each once per change", async function () {
      const sim = await startSimulator(await tempDir(), { latencyMs: { min: 5, max: 30 } });
      const bank = adapterFor(sim.url, { pollPageSize: 2, pollIntervalMs: 30 });
      const settlements: BankSettlement[] = [];
      bank.onSettled((settlement) => {
        settlements.push(settlement);
      });
      const refs: string[] = [];
      for (let i = 0; i < 3; i += 1) refs.push((await bank.requestDeposit({ reference: `topup-${i}`, account: ACCOUNT, amount: 1n, currency: "CNY" })).bankRef);
      for (const bankRef of refs) await settled(bank, bankRef);

      expect(await bank.pollOnce()).to.equal(3);
      expect(settlements.map((s) => s.transfer.bankRef).sort()).to.deep.equal([...refs].sort());
      expect(settlements.every((s) => s.source === "poll" && s.transfer.status === "confirmed")).to.equal(true);
      expect(await bank.pollOnce()).to.equal(0);

      // A cursor saved from one adapter resumes in another.
      const resumed = adapterFor(sim.url, { pollCursor: bank.pollCursor });
      expect(await resumed.pollOnce()).to.equal(0);

      bank.startPolling();
      const next = await bank.requestDeposit({ reference: "topup-9", account: ACCOUNT, amount: 1n, currency: "CNY" });
      await waitFor("the polled settlement", () => settlements.some((s) => s.transfer.bankRef === next.bankRef), 30_000, 20);
      await bank.stopPolling();
      expect(settlements).to.have.length(4);

      expect((await bank.listTransfers({ limit: 10, since: Date.now() + 60_000 })).transfers).to.deep.equal([]);
    });
  });

  describe("as a separate process (settlenet bank start)", function () {
    let child: ChildProcess | undefined;
    let output = "";

    /** Starts the process and waits until it is healthy; resolves with the URL it logged listening at. */
    async function startProcess(configFile: string): Promise<string> {
      output = "";
      const started = spawn(process.execPath, cliArgs("bank", "start", "--config", configFile), { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] });
      child = started;
      const listening = loggedUrl(started, "bank simulator listening");
      started.stdout?.on("data", (chunk: Buffer) => (output += chunk.toString()));
      started.stderr?.on("data", (chunk: Buffer) => (output += chunk.toString()));
      let exited: string | undefined;
      started.once("exit", (code, signal) => (exited = `exited with ${code ?? signal}`));
      const url = await listening.catch((error: Error) => {
        throw new Error(`${error.message}: ${output}`);
      });
      await waitFor("the bank process to answer /health", async () => {
        if (exited) throw new Error(`bank process ${exited}: ${output}`);
        return (await health(url)).status === "ok";
      }, 30_000, 100);
      return url;
    }

    async function stopProcess(signal: NodeJS.Signals): Promise<number | null> {
      const running = child;
      child = undefined;
      if (!running || running.exitCode !== null || running.signalCode !== null) return running?.exitCode ?? null;
      const exited = new Promise<number | null>((r) => running.once("exit", (code) => r(code)));
      running.kill(signal);
      return exited;
    }

    afterEach(async function () {
      await stopProcess("SIGKILL");
    });

    it("serves the API from its own process and completes a transfer pending across kill -9", async function () {
      const dir = await tempDir();
      const config: BankConfigInput = { host: "127.0.0.1", port: 0, dataDir: "bank-data", latencyMs: { min: 800, max: 800 }, failureRate: 0, seed: "cli", clients: [CLIENT], logLevel: "info" };
      const configFile = join(dir, "bank.json");
      await writeFile(configFile, JSON.stringify(config));

      const url = await startProcess(configFile);
      // The restart below comes back on the port it bound now: the adapter keeps its URL.
      await writeFile(configFile, JSON.stringify({ ...config, port: Number(new URL(url).port) }));
      // The process always authenticates its callers.
      const unsigned = await fetch(`${url}/v1/deposits`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ reference: "x-1", account: ACCOUNT, amount: "1", currency: "CNY" }) });
      expect(unsigned.status).to.equal(401);
      const bank = adapterFor(url, { client: CLIENT });
      const first = await bank.requestDeposit({ reference: "topup-1", account: ACCOUNT, amount: 70n, currency: "CNY" });
      expect((await settled(bank, first.bankRef)).status).to.equal("confirmed");

      const pending = await bank.requestDeposit({ reference: "topup-2", account: ACCOUNT, amount: 30n, currency: "CNY" });
      await stopProcess("SIGKILL");
      const store = await openBankStore(join(dir, "bank-data"));
      expect((await store.get(pending.bankRef))?.status).to.equal("pending");
      await store.close();

      expect(await startProcess(configFile)).to.equal(url);
      expect((await settled(bank, pending.bankRef)).status).to.equal("confirmed");
      expect((await bank.getReserve("CNY")).balance).to.equal(100n);
      const metrics = await (await fetch(`${url}/metrics`, { headers: bankRequestHeaders(CLIENT, "GET", "/metrics", "") })).text();
      expect(metrics).to.match(/settlenet_bank_transfers_total\{kind="deposit",status="confirmed"\} 1/);
      expect(await stopProcess("SIGTERM")).to.equal(0);
    });

    it("refuses an invalid config file with CONFIG_INVALID and a non-zero exit", async function () {
      const dir = await tempDir();
      const configFile = join(dir, "bank.json");
      await writeFile(configFile, JSON.stringify({ port: 1, dataDir: "d", latencyMs: { min: 10, max: 5 }, failureRate: 2, callbackUrl: "http://127.0.0.1:1/cb" }));
      const run = spawn(process.execPath, cliArgs("bank", "start", "--config", configFile), { cwd: projectRoot, stdio: ["ignore", "pipe", "pipe"] });
      let stderr = "";
      run.stderr?.on("data", (chunk: Buffer) => (stderr += chunk.toString()));
      const code = await new Promise<number | null>((r) => run.once("exit", (c) => r(c)));
      expect(code).to.equal(1);
      expect(stderr).to.match(/settlenet: CONFIG_INVALID:/);
      for (const field of ["latencyMs.min", "failureRate"]) expect(stderr).to.include(field);
    });

    it("fills config defaults, resolves dataDir and requires a secret with a callback URL", function () {
      const config = parseBankConfig({ port: 7400, dataDir: "bank-data", latencyMs: { min: 0, max: 10 }, failureRate: 0, clients: [CLIENT] }, "/srv/bank");
      expect(config.requestToleranceSeconds).to.equal(300);
      // A bank process without callers to authenticate is refused.
      expect(() => parseBankConfig({ port: 7400, dataDir: "d", latencyMs: { min: 0, max: 10 }, failureRate: 0 }, "/srv/bank")).to.throw(SettlenetError);
      expect(config.dataDir).to.equal("/srv/bank/bank-data");
      expect(config.host).to.equal("127.0.0.1");
      expect(config.callbackRetryMs).to.deep.equal({ min: 500, max: 60_000 });
      let error: unknown;
      try {
        parseBankConfig({ port: 7400, dataDir: "d", latencyMs: { min: 0, max: 10 }, failureRate: 0, clients: [CLIENT], callbackUrl: "http://127.0.0.1:1/cb" }, "/srv/bank");
      } catch (caught) {
        error = caught;
      }
      expect(error).to.be.instanceOf(SettlenetError);
      expect((error as SettlenetError).code).to.equal("CONFIG_INVALID");
      expect((error as SettlenetError).meta["fields"]).to.deep.equal(["callbackSecret"]);
    });
  });
});
