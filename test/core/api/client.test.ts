/**
 * The node API contract, round trip: NodeApiClient against a real institution node (real chain,
 * LevelDB, indexer, relayer, settlement and compliance). Every answer is parsed by the contract's
 * strict schemas, so a field the node serves and the contract lacks (or the reverse) fails here.
 */
import { createServer, type Server } from "node:http";

import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { expect } from "chai";
import { hexlify, randomBytes } from "ethers";

import { parseToken } from "../../../core/api/auth.js";
import { NodeApiClient, NodeApiError, backlogRetryAfter, isRetryLater } from "../../../core/api/client.js";
import type { OperationInput } from "../../../core/operations/index.js";
import { RECORD_KINDS } from "../../../core/settlement/records.js";
import { refusalOf } from "../../helpers/errors.js";
import { freePort, nodeFetch, waitFor } from "../../helpers/network.js";
import { signedPay, termsFor } from "../../helpers/operations.js";
import { CYCLE_SECONDS, LARGE_VALUE, startApiNode, type ApiNode } from "./fixture.js";

const randomId = () => hexlify(randomBytes(32));

describe("node API client against a real node (one institution, real chain and LevelDB)", function () {
  this.timeout(120_000);
  let api: ApiNode;
  let paymentId: string;

  before(async function () {
    api = await startApiNode();
  });
  after(async function () {
    await api?.stop();
  });

  const executed = (id: string) => waitFor(`operation ${id} executed`, async () => ((await api.client.operation(id))?.status === "executed" ? true : undefined));

  it("submits an operation, then reads it, its payment, its history and the payment lists", async function () {
    const s = api.scenario;
    const pay = await signedPay(s, await termsFor(s, 0, 0));
    paymentId = pay.paymentId;
    expect(await api.client.submit(pay.op)).to.deep.equal({ accepted: true, id: paymentId });
    await executed(paymentId);

    const stored = await api.client.operation(paymentId);
    expect(stored).to.include({ id: paymentId, kind: "pay", paymentId, origin: "api", status: "executed", signer: s.payers[0]?.address });
    expect(stored?.op).to.deep.equal(pay.op);
    expect(stored?.execution?.relayer).to.equal(s.institutions[0]?.address);

    const view = await waitFor("the payment indexed", async () => {
      const v = await api.client.payment(paymentId);
      return v?.payment ? v : undefined;
    });
    expect(view.payment).to.include({ paymentId, status: "held", amount: "10000", merchant: s.merchants[0]?.address });
    expect(view.onChain).to.include({ status: "held", amount: "10000", refunded: "0" });
    expect(view.operations.map((op) => op.id)).to.deep.equal([paymentId]);

    const byMerchant = await api.client.payments({ merchant: s.merchants[0]!.address });
    expect(byMerchant.items.map((p) => p.paymentId)).to.include(paymentId);
    const byPayer = await api.client.payments({ payer: s.payers[0]!.address, limit: 1 });
    expect(byPayer.items).to.have.length(1);

    const history = await api.client.paymentHistory(paymentId);
    expect(history?.operations).to.have.length(1);
    expect(history?.operations[0]).to.include({ id: paymentId, outcome: "executed", relayer: s.institutions[0]?.address, signature: (pay.op as { signature: string }).signature });
    expect(history?.events.map((e) => e.event)).to.include("PaymentPaid");
    const audited = await api.client.auditPayments({ account: s.payers[0]!.address });
    expect(audited.items.map((p) => p.paymentId)).to.include(paymentId);

    const again = await api.client.submit(pay.op);
    expect(again.accepted).to.equal(false);
    if (!again.accepted) expect([again.problem.status, again.problem.code]).to.deep.equal([409, "DUPLICATE"]);
  });

  it("submits a batch and answers one result per operation, in order", async function () {
    const s = api.scenario;
    const pay = await signedPay(s, await termsFor(s, 1, 0));
    const mixed = await api.client.submitBatch([pay.op, { kind: "pay" } as OperationInput]);
    expect([mixed.accepted, mixed.refused]).to.deep.equal([1, 1]);
    expect(mixed.results[0]).to.deep.equal({ id: pay.paymentId, status: "accepted" });
    expect(mixed.results[1]).to.include({ status: "refused", code: "MALFORMED" });

    const refused = await api.client.submitBatch([pay.op]);
    expect([refused.accepted, refused.refused, refused.results[0]?.status]).to.deep.equal([0, 1, "refused"]);
    await executed(pay.paymentId);
  });

  it("follows the change feed: every status and payment change in order, long polling for the next, refusing a foreign cursor", async function () {
    const s = api.scenario;
    // A pay is executed once its relay's receipt is in; its payment change follows when the indexer
    // reads the block. The feed is caught up once every executed pay's payment change is in it too.
    const all = await waitFor("every executed pay's payment change in the feed", async () => {
      const page = await api.client.changes({ limit: 1_000 });
      const paid = new Set(page.changes.filter((c) => c.type === "payment").map((c) => c.paymentId.toLowerCase()));
      return page.changes.every((c) => c.type !== "operation" || c.kind !== "pay" || c.status !== "executed" || paid.has(c.paymentId.toLowerCase())) ? page : undefined;
    });
    const ofFirst = all.changes.filter((c) => c.paymentId.toLowerCase() === paymentId.toLowerCase());
    expect(ofFirst.map((c) => (c.type === "operation" ? c.status : `payment ${c.status}`))).to.include.ordered.members(["accepted", "submitted"]);
    expect(ofFirst.map((c) => (c.type === "operation" ? c.status : `payment ${c.status}`))).to.include.members(["executed", "payment held"]);
    expect(all.changes.map((c) => c.seq)).to.deep.equal([...all.changes.map((c) => c.seq)].sort((a, b) => a - b));
    expect(all.next).to.equal(all.latest);

    // Caught up: a short wait answers an empty page at the same cursor.
    const idle = await api.client.changes({ after: all.next, waitMs: 100 });
    expect([idle.changes, idle.next]).to.deep.equal([[], all.next]);
    // A long wait is answered by the next change (here, a new operation's acceptance), not by the time limit.
    const waiting = api.client.changes({ after: all.next, waitMs: 30_000 });
    const next = await signedPay(s, await termsFor(s, 0, 0));
    expect((await api.client.submit(next.op)).accepted).to.equal(true);
    const woken = await waiting;
    expect(woken.changes[0]).to.include({ type: "operation", id: next.paymentId, kind: "pay", status: "accepted" });
    await executed(next.paymentId);

    const foreign = (await refusalOf(api.client.changes({ after: `${"0".repeat(16)}-1` }))) as NodeApiError;
    expect([foreign.status, foreign.code]).to.deep.equal([410, "FEED_CURSOR_EXPIRED"]);
    expect(foreign.problem["latest"]).to.match(/^[0-9a-f]{16}-[1-9][0-9]*$/);
    const [epoch] = all.next.split("-");
    const ahead = (await refusalOf(api.client.changes({ after: `${epoch}-999999999` }))) as NodeApiError;
    expect([ahead.status, ahead.code]).to.deep.equal([410, "FEED_CURSOR_EXPIRED"]);
  });

  it("answers undefined for unknown resources and a coded NodeApiError for refused requests", async function () {
    const s = api.scenario;
    expect(await api.client.operation(randomId())).to.equal(undefined);
    expect(await api.client.payment(randomId())).to.equal(undefined);
    expect(await api.client.paymentHistory(randomId())).to.equal(undefined);
    expect(await api.client.cycle("99999999")).to.equal(undefined);
    expect(await api.client.alert(randomId())).to.equal(undefined);

    const twoFilters = await refusalOf(api.client.payments({ merchant: s.merchants[0]!.address, payer: s.payers[0]!.address }));
    expect(twoFilters).to.be.instanceOf(NodeApiError);
    expect([(twoFilters as NodeApiError).status, twoFilters.code]).to.deep.equal([400, "MALFORMED"]);
    const badCursor = (await refusalOf(api.client.payments({ merchant: s.merchants[0]!.address, cursor: "bm90LWEtY3Vyc29y" }))) as NodeApiError;
    expect([badCursor.status, badCursor.code]).to.deep.equal([400, "INVALID_CURSOR"]);
    const unknownToken = (await refusalOf(api.client.token(s.merchants[0]!.address))) as NodeApiError;
    expect([unknownToken.status, unknownToken.code, unknownToken.problem.code]).to.deep.equal([404, "TOKEN_NOT_FOUND", "TOKEN_NOT_FOUND"]);
  });

  it("closes, attests and finalizes a cycle, and serves its records, a proof, statements and settlement alerts", async function () {
    const s = api.scenario;
    const minted = await s.token.queryFilter(s.token.filters.Minted());
    const lastMint = minted.at(-1);
    if (!lastMint) throw new Error("no mints");
    const cycleId = BigInt(Math.floor(((await s.chain.provider.getBlock(lastMint.blockNumber))?.timestamp ?? 0) / CYCLE_SECONDS));
    await api.closeCycle(cycleId);
    const id = cycleId.toString();
    const cycle = await waitFor("the cycle finalized", async () => {
      const c = await api.client.cycle(id);
      return c?.status === "finalized" ? c : undefined;
    }, 60_000);
    expect(cycle.finalized?.matches).to.equal(true);
    expect(cycle.attestations.map((a) => a.institution)).to.deep.equal([s.institutions[0]?.address]);
    expect((await api.client.cycles()).items.map((c) => c.cycleId)).to.include(id);

    const first = await api.client.cycleRecords(id, { limit: 1 });
    expect(first.items).to.have.length(1);
    expect(first.next).to.be.a("string");
    const all = await api.client.cycleRecords(id, { limit: 500 });
    const deposit = all.items.find((r) => r.kind === RECORD_KINDS.deposit);
    if (!deposit) throw new Error("no deposit record");

    const proof = await api.client.recordProof(id, { kind: "deposit", recordId: deposit.recordId });
    expect(proof.record).to.deep.equal(deposit);
    expect(proof.root).to.equal(cycle.finalized?.merkleRoot);
    expect(StandardMerkleTree.verify(proof.root, proof.leafEncoding, proof.leaf, proof.proof)).to.equal(true);
    const missing = (await refusalOf(api.client.recordProof(id, { kind: "released", recordId: randomId() }))) as NodeApiError;
    expect([missing.status, missing.code]).to.deep.equal([404, "RECORD_NOT_FOUND"]);

    const institution = s.institutions[0]!.address;
    const statement = await api.client.cycleStatement(id, { institution });
    expect(statement?.party).to.deep.equal({ type: "institution", account: institution });
    expect(statement?.totals[0]?.deposits).to.equal(all.items.filter((r) => r.kind === RECORD_KINDS.deposit).reduce((sum, r) => sum + BigInt(r.amount), 0n).toString());
    const csv = await api.client.cycleStatementText(id, { institution }, "csv");
    expect(csv.split("\n")[0]).to.match(/^cycle_id,section,kind,/);
    expect(JSON.parse(await api.client.cycleStatementText(id, { institution }, "json"))).to.deep.equal(statement);
    expect((await api.client.statement(id, s.merchants[0]!.address))?.party.type).to.equal("merchant");
    expect(await api.client.statement("99999999", s.merchants[0]!.address)).to.equal(undefined);

    expect((await api.client.settlementAlerts({ cycle: id })).items).to.deep.equal([]);
  });

  it("raises an AML alert, acknowledges it once, and serves reserves and the reports", async function () {
    const s = api.scenario;
    const large = await signedPay(s, await termsFor(s, 1, 0, { amount: LARGE_VALUE }));
    expect((await api.client.submit(large.op)).accepted).to.equal(true);
    const alert = await waitFor("the LARGE_VALUE alert", async () => (await api.client.alerts({ rule: "LARGE_VALUE" })).items.find((a) => a.paymentIds.includes(large.paymentId.toLowerCase())), 60_000);
    expect(alert).to.include({ rule: "LARGE_VALUE", category: "aml", amount: LARGE_VALUE.toString(), origin: "local" });
    expect(await api.client.alert(alert.id)).to.deep.equal(alert);

    const acknowledged = await api.client.acknowledgeAlert(alert.id, { by: "inspector-7", note: "reviewed" });
    // Recorded under the operator credential that acknowledged it; the body's `by` is only what the caller says.
    expect(acknowledged.ack).to.include({ by: `credential:${parseToken(api.credentials.regulator)!.id}:launcher-regulator`, statedBy: "inspector-7", note: "reviewed" });
    const twice = (await refusalOf(api.client.acknowledgeAlert(alert.id, { by: "inspector-8" }))) as NodeApiError;
    expect([twice.status, twice.code]).to.deep.equal([409, "ALERT_ALREADY_ACKNOWLEDGED"]);
    expect((await api.client.alerts({ status: "acknowledged" })).items.map((a) => a.id)).to.deep.equal([alert.id]);

    const reserves = await api.client.reserves();
    expect(reserves.tokens[0]?.custodians.map((c) => c.custodian)).to.deep.equal([s.institutions[0]?.address]);
    const aml = await api.client.amlReport({ rule: "LARGE_VALUE" });
    expect(aml.alerts.map((a) => a.id)).to.deep.equal([alert.id]);
    expect((await api.client.amlReportText({ format: "csv" })).split("\r\n")[0]).to.match(/^id,rule,category,/);
    expect(JSON.parse(await api.client.amlReportText({ format: "json", rule: "LARGE_VALUE" }))).to.deep.equal(aml);
    expect((await api.client.reservesReportText("csv")).split("\r\n")[0]).to.match(/^asOfBlock,asOfTime,symbol,/);
    expect(JSON.parse(await api.client.reservesReportText("json"))).to.have.property("tokens");
  });

  it("serves the settlement tokens, their events and an account's balance and freeze", async function () {
    const s = api.scenario;
    const token = await s.token.getAddress();
    expect(await api.client.tokens()).to.deep.equal([{ token, symbol: "CNY", name: "Settlenet CNY", decimals: 2 }]);
    const view = await api.client.token(token);
    expect(view.onChain.totalSupply).to.equal((await s.token.totalSupply()).toString());
    expect(view.custodians.map((c) => c.institution)).to.deep.equal([s.institutions[0]?.address]);
    const events = await api.client.tokenEvents(token, 500);
    expect(events.filter((e) => e.event === "Minted")).to.have.length(2);
    const account = await api.client.tokenAccount(token, s.payers[0]!.address);
    expect(account).to.deep.equal({ token, account: s.payers[0]!.address, balance: (await s.token.balanceOf(s.payers[0]!.address)).toString(), frozen: false, freeze: null });
  });

  it("reports peers, health and metrics, and streams a backup", async function () {
    expect(await api.client.peers()).to.deep.equal([]);
    const health = await api.client.health();
    expect(health).to.include({ ready: true, role: "institution", peerId: api.node.peerId, operator: api.node.operator, peers: 0 });
    expect(await api.client.metrics()).to.match(/settlenet_operations_validated_total\{path="api",result="accept",code="ACCEPTED"\} [1-9]/);
    const lines = (await new Response(await api.client.backup()).text()).trim().split("\n");
    expect(lines.length).to.be.greaterThan(2);
    expect(JSON.parse(lines.at(-1) ?? "{}")).to.have.property("contentSha256");
  });
});

describe("node API client: a node whose relay lags behind (admission control)", function () {
  this.timeout(120_000);
  let api: ApiNode;

  before(async function () {
    // Its batches wait a minute to fill: the first accepted payment is soon older than maxLagMs.
    api = await startApiNode({ relay: { batchIntervalMs: 60_000, batchSize: 500, maxLagMs: 200 } });
  });
  after(async function () {
    await api?.stop();
  });

  it("refuses new work with 503 RELAY_BACKLOG and Retry-After before storing any of it, and keeps what it accepted", async function () {
    const s = api.scenario;
    const first = await signedPay(s, await termsFor(s, 0));
    expect(await api.client.submit(first.op)).to.deep.equal({ accepted: true, id: first.paymentId });
    await waitFor("the relay lag past maxLagMs", async () => /settlenet_relay_lag_seconds 0\.[3-9]|settlenet_relay_lag_seconds [1-9]/.test(await api.client.metrics()));

    const refused = [await signedPay(s, await termsFor(s, 1)), await signedPay(s, await termsFor(s, 0))];
    const error = await refusalOf(api.client.submitBatch(refused.map((p) => p.op)));
    expect(error).to.be.instanceOf(NodeApiError);
    expect([error.code, (error as NodeApiError).status, isRetryLater(error)]).to.deep.equal(["RELAY_BACKLOG", 503, true]);
    const retryAfter = backlogRetryAfter(error);
    expect(retryAfter).to.be.within(1, 30);
    expect(backlogRetryAfter(new NodeApiError(409, { type: "about:blank", title: "dup", status: 409, code: "DUPLICATE" }))).to.equal(undefined);

    const response = await nodeFetch(`${api.node.apiUrl}/v1/operations`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(refused[0]?.op) });
    expect(response.status).to.equal(503);
    expect(response.headers.get("retry-after")).to.match(/^[1-9][0-9]*$/);
    expect(response.headers.get("content-type")).to.match(/^application\/problem\+json/);
    expect(await response.json()).to.include({ status: 503, code: "RELAY_BACKLOG" });

    // Nothing of the refused requests was stored; the accepted payment waits to be relayed, not dropped.
    for (const pay of refused) expect(await api.client.operation(pay.paymentId)).to.equal(undefined);
    expect((await api.client.operation(first.paymentId))?.status).to.equal("accepted");
  });
});

describe("node API client: a node it cannot use", function () {
  let server: Server | undefined;
  afterEach(async function () {
    await new Promise<void>((resolve) => (server ? server.close(() => resolve()) : resolve()));
    server = undefined;
  });

  /** An HTTP server answering every request with `status` and `body` (a node that breaks the contract). */
  async function answering(status: number, body: unknown): Promise<NodeApiClient> {
    const listening = createServer((_request, response) => {
      response.writeHead(status, { "content-type": "application/json" }).end(JSON.stringify(body));
    });
    server = listening;
    await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
    const address = listening.address();
    return new NodeApiClient({ baseUrl: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}` });
  }

  it("is NODE_UNAVAILABLE when nothing listens", async function () {
    // A port nothing listens on.
    const client = new NodeApiClient({ baseUrl: `http://127.0.0.1:${await freePort()}`, timeoutMs: 5_000 });
    expect((await refusalOf(client.payment(randomId()))).code).to.equal("NODE_UNAVAILABLE");
    expect((await refusalOf(client.submit({ kind: "release" } as OperationInput))).code).to.equal("NODE_UNAVAILABLE");
  });

  it("is NODE_UNAVAILABLE, naming the fields, when an answer leaves the contract", async function () {
    const client = await answering(200, { id: randomId(), kind: "pay", status: "executed" });
    const error = await refusalOf(client.operation(randomId()));
    expect(error.code).to.equal("NODE_UNAVAILABLE");
    expect(error.meta["issues"]).to.include.members(["paymentId: Invalid input: expected string, received undefined"]);
  });

  it("is NODE_TIMEOUT (the outcome is unknown) when the node takes the request and never answers", async function () {
    const listening = createServer(() => undefined);
    server = listening;
    await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
    const address = listening.address();
    const client = new NodeApiClient({ baseUrl: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`, timeoutMs: 200 });
    const error = await refusalOf(client.submit({ kind: "release" } as OperationInput));
    expect([error.code, error.meta["outcome"]]).to.deep.equal(["NODE_TIMEOUT", "unknown"]);
    listening.closeAllConnections();
  });

  it("is NODE_TIMEOUT (the outcome is unknown) when the connection breaks after the request went out", async function () {
    const listening = createServer((request) => request.socket.destroy());
    server = listening;
    await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
    const address = listening.address();
    const client = new NodeApiClient({ baseUrl: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}`, timeoutMs: 30_000 });
    const error = await refusalOf(client.submit({ kind: "release" } as OperationInput));
    expect([error.code, error.meta["outcome"]]).to.deep.equal(["NODE_TIMEOUT", "unknown"]);
  });

  it("is a NodeApiError to retry after Retry-After when the node answers 503 with it (admission control)", async function () {
    const listening = createServer((_request, response) => {
      const problem = { type: "https://settlenet.dev/problems/relay_backlog", title: "relay lag too high", status: 503, code: "RELAY_BACKLOG" };
      response.writeHead(503, { "content-type": "application/problem+json", "retry-after": "3" }).end(JSON.stringify(problem));
    });
    server = listening;
    await new Promise<void>((resolve) => listening.listen(0, "127.0.0.1", resolve));
    const address = listening.address();
    const client = new NodeApiClient({ baseUrl: `http://127.0.0.1:${typeof address === "object" && address ? address.port : 0}` });
    for (const attempt of [client.submit({ kind: "release" } as OperationInput), client.submitBatch([{ kind: "release" } as OperationInput])]) {
      const error = await refusalOf(attempt);
      expect(isRetryLater(error)).to.equal(true);
      expect([(error as NodeApiError).status, error.code, (error as NodeApiError).retryAfterSeconds]).to.deep.equal([503, "RELAY_BACKLOG", 3]);
    }
  });

  it("is NODE_UNAVAILABLE with the node's code when the node fails", async function () {
    const client = await answering(503, { type: "https://settlenet.dev/problems/not_ready", title: "catching up", status: 503, code: "NOT_READY" });
    const error = await refusalOf(client.payments({ limit: 1 }));
    expect([error.code, error.meta["nodeCode"]]).to.deep.equal(["NODE_UNAVAILABLE", "NOT_READY"]);
  });
});
