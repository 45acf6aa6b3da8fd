/**
 * Bad input, end to end: two institution nodes as real processes on a real chain. Each kind of bad
 * operation submitted to POST /v1/operations is refused with its coded reason as problem+json and
 * leaves no trace (no stored operation on any node, nothing on-chain); an oversized gossip message is
 * rejected on the gossip path; a mixed batch is answered per item; and the read endpoints (payment
 * lists with cursor pagination, the merged payment view, /metrics, /health) behave.
 */
import { expect } from "chai";
import { Wallet, encodeBytes32String } from "ethers";

import { encodeGossipMessage } from "../../node/p2p/message.js";
import type { EscrowOperationInput } from "../../core/operations/index.js";
import type { PaymentRecord } from "../../core/records.js";
import {
  getJson,
  launchNetwork,
  nodeApi,
  peersOf,
  postJson,
  postRaw,
  presence,
  refusedAgain,
  waitFor,
  waitForOperation,
  type JsonResponse,
  type NodeHandle,
  type TestNetwork,
  nodeFetch,
} from "../helpers/network.js";
import { forgedPay, operationIdOfInput, signedConfirm, signedPay, termsFor } from "../helpers/operations.js";
import { freshPeerKey, startTestPeer, type TestPeer } from "../helpers/peer.js";

const PROBLEM = "application/problem+json";
/** The single-payment limit the nodes are configured with (minor units). */
const MAX_PAYMENT = 1_000_000n;
/** The API's default body limit. */
const BODY_LIMIT = 1024 * 1024;
/** The nodes' default gossip message limit. */
const MAX_GOSSIP_BYTES = 1024 * 1024;
/** The nodes' default `maxRejects`. */
const MAX_REJECTS = 5;

interface ProblemBody {
  type: string;
  title: string;
  status: number;
  code: string;
}

interface BatchAnswer {
  accepted: number;
  refused: number;
  results: { id?: string; status: "accepted" | "refused"; code?: string }[];
}

/** The answer is an RFC 9457 problem document with `status` and `code`. */
function expectProblem(response: JsonResponse<unknown>, status: number, code: string): void {
  const body = response.body as ProblemBody;
  expect({ status: response.status, code: body.code }, JSON.stringify(body)).to.deep.equal({ status, code });
  expect(response.contentType).to.equal(PROBLEM);
  expect(body.status).to.equal(status);
  expect(body.type).to.be.a("string");
  expect(body.title).to.be.a("string");
}

describe("bad input is refused with its coded reason and changes nothing (real processes)", function () {
  this.timeout(120_000);
  let net: TestNetwork;
  let entry: NodeHandle;
  const peers: TestPeer[] = [];
  /** Ids of refused operations: no node may ever store them. */
  const refusedIds: string[] = [];
  /** Payment ids of refused pays: the escrow must never know them. */
  const refusedPayments: string[] = [];

  before(async function () {
    net = await launchNetwork({
      institutions: 2,
      regulator: false,
      payers: 6,
      merchants: 3,
      config: { risk: { maxPaymentAmount: MAX_PAYMENT.toString() } },
    });
    const first = net.nodes[0];
    if (!first) throw new Error("no node");
    entry = first;
    for (const node of net.nodes) await waitFor(`${node.name} to see its peer`, async () => (await peersOf(node)).length === 1);
  });
  after(async function () {
    await Promise.all(peers.map((peer) => peer.stop()));
    await net?.stop();
  });

  const submit = <T = unknown>(op: unknown, node = entry) => postJson<T>(`${node.apiUrl}/v1/operations`, op);

  /**
   * Submits `op`, expects the refusal, and records its ids for the no-trace checks. `id` is the id the
   * operation would have (computed from `op` unless given, e.g. for an op the schema cannot parse).
   */
  async function expectRefused(op: EscrowOperationInput, status: number, code: string, node = entry, id = operationIdOfInput(net.scenario, op)): Promise<void> {
    expectProblem(await submit(op, node), status, code);
    await expectNotStored(id);
    refusedIds.push(id);
    if (op.kind === "pay") refusedPayments.push(id);
  }

  async function expectNotStored(id: string): Promise<void> {
    for (const node of net.nodes) expectProblem(await getJson(`${node.apiUrl}/v1/operations/${id}`), 404, "OPERATION_NOT_FOUND");
  }

  /** A pay accepted by the entry node and executed (held) on-chain, as seen by every node. */
  async function heldPayment(payer: number, merchant = 0) {
    const terms = await termsFor(net.scenario, payer, merchant);
    const { op, paymentId } = await signedPay(net.scenario, terms);
    expect((await nodeApi(entry).submit(op)).accepted).to.equal(true);
    await waitForOperation(net.nodes, paymentId);
    return { terms, paymentId };
  }

  describe("over HTTP", function () {
    it("refuses a pay signed by someone other than the payer (BAD_SIGNATURE)", async function () {
      const s = net.scenario;
      const merchant = s.merchants[0];
      if (!merchant) throw new Error("no merchant");
      const { op } = await forgedPay(s, await termsFor(s, 0, 0), merchant);
      await expectRefused(op, 422, "BAD_SIGNATURE");
    });

    it("refuses a pay signed by its payer for another chain id (BAD_SIGNATURE)", async function () {
      const s = net.scenario;
      const terms = await termsFor(s, 0, 0);
      const payer = s.payers[0];
      if (!payer) throw new Error("no payer");
      const { op } = await forgedPay(s, terms, payer, BigInt(s.deployment.chainId) + 1n);
      await expectRefused(op, 422, "BAD_SIGNATURE");
    });

    it("refuses a pay whose pay deadline has passed (EXPIRED)", async function () {
      const s = net.scenario;
      const now = BigInt((await s.chain.provider.getBlock("latest"))!.timestamp);
      const { op } = await signedPay(s, await termsFor(s, 0, 0, { payDeadline: now - 60n }));
      await expectRefused(op, 422, "EXPIRED");
    });

    it("refuses an expired confirm, then a confirm reusing the nonce of an accepted one (EXPIRED, NONCE_USED) on every node", async function () {
      const s = net.scenario;
      const payer = s.payers[0];
      if (!payer) throw new Error("no payer");
      const { terms, paymentId } = await heldPayment(0);

      await expectRefused(await signedConfirm(s, terms, payer, 41n, -60n), 422, "EXPIRED");
      expect((await s.contracts.escrow.paymentOf(paymentId)).status).to.equal(1n);

      const first = await signedConfirm(s, terms, payer, 42n, 3_600n);
      expect((await nodeApi(entry).submit(first)).accepted).to.equal(true);
      await waitForOperation(net.nodes, operationIdOfInput(s, first));
      const released = await s.contracts.escrow.paymentOf(paymentId);
      expect(released.status).to.equal(4n);

      // Same payer, same nonce, another deadline: another operation id, refused by both nodes.
      const reused = await signedConfirm(s, terms, payer, 42n, 7_200n);
      for (const node of net.nodes) await expectRefused(reused, 409, "NONCE_USED", node);
      expect((await s.contracts.escrow.paymentOf(paymentId)).status).to.equal(released.status);
    });

    it("refuses malformed JSON (MALFORMED)", async function () {
      const s = net.scenario;
      const { op, paymentId } = await signedPay(s, await termsFor(s, 0, 0));
      const truncated = JSON.stringify(op).slice(0, -10);
      expectProblem(await postRaw(`${entry.apiUrl}/v1/operations`, truncated), 400, "MALFORMED");
      expectProblem(await postRaw(`${entry.apiUrl}/v1/operations`, "not json at all"), 400, "MALFORMED");
      await expectNotStored(paymentId);
      refusedPayments.push(paymentId);
    });

    it("refuses unknown fields on the operation and inside its terms (MALFORMED)", async function () {
      const s = net.scenario;
      const { op, paymentId } = await signedPay(s, await termsFor(s, 0, 0));
      await expectRefused({ ...op, memo: "pay me" } as unknown as EscrowOperationInput, 400, "MALFORMED", entry, paymentId);
      const { op: other, paymentId: otherId } = await signedPay(s, await termsFor(s, 0, 0));
      await expectRefused({ ...other, terms: { ...other.terms, tip: "100" } } as unknown as EscrowOperationInput, 400, "MALFORMED", entry, otherId);
    });

    it("refuses a body over the API's limit (413 BODY_TOO_LARGE)", async function () {
      const s = net.scenario;
      const { op, paymentId } = await signedPay(s, await termsFor(s, 0, 0));
      // A valid operation padded with whitespace past the limit: only its size is wrong.
      const body = JSON.stringify(op) + " ".repeat(BODY_LIMIT);
      expectProblem(await postRaw(`${entry.apiUrl}/v1/operations`, body), 413, "BODY_TOO_LARGE");
      await expectNotStored(paymentId);
      refusedPayments.push(paymentId);
    });

    it("refuses a pay to an unregistered merchant (UNKNOWN_MERCHANT)", async function () {
      const s = net.scenario;
      const { op } = await signedPay(s, await termsFor(s, 0, 0, { merchant: Wallet.createRandom().address }));
      await expectRefused(op, 422, "UNKNOWN_MERCHANT");
    });

    it("refuses a pay from an account the regulator froze once the registry view has seen it (ACCOUNT_FROZEN)", async function () {
      const s = net.scenario;
      const payer = s.payers[3];
      if (!payer) throw new Error("no payer");
      const token = s.token.connect(s.regulator);
      const receipt = await (await token.setFrozen(payer.address, true, encodeBytes32String("e2e-freeze"))).wait();
      if (!receipt) throw new Error("no receipt");
      for (const node of net.nodes) {
        await waitFor(`${node.name}'s registry view to reach block ${receipt.blockNumber}`, async () => (await nodeApi(node).health()).chain.registry >= receipt.blockNumber);
      }
      for (const node of net.nodes) {
        const { op } = await signedPay(s, await termsFor(s, 3, 0));
        await expectRefused(op, 403, "ACCOUNT_FROZEN", node);
      }
    });

    it("refuses a pay above the configured single-payment limit (AMOUNT_OVER_LIMIT)", async function () {
      const s = net.scenario;
      const { op } = await signedPay(s, await termsFor(s, 0, 0, { amount: MAX_PAYMENT + 1n }));
      await expectRefused(op, 422, "AMOUNT_OVER_LIMIT");
      // The limit itself is allowed.
      const { op: atLimit, paymentId } = await signedPay(s, await termsFor(s, 0, 0, { amount: MAX_PAYMENT }));
      expect((await nodeApi(entry).submit(atLimit)).accepted).to.equal(true);
      await waitForOperation(net.nodes, paymentId);
    });

    it("answers a mixed batch per item and stores and executes only its valid operations", async function () {
      const s = net.scenario;
      const merchant = s.merchants[0];
      if (!merchant) throw new Error("no merchant");
      const valid1 = await signedPay(s, await termsFor(s, 1, 0));
      const badSignature = await forgedPay(s, await termsFor(s, 1, 0), merchant);
      const valid2 = await signedPay(s, await termsFor(s, 4, 1));
      const unknownMerchant = await signedPay(s, await termsFor(s, 4, 0, { merchant: Wallet.createRandom().address }));
      const overLimit = await signedPay(s, await termsFor(s, 5, 0, { amount: MAX_PAYMENT * 2n }));
      const operations = [valid1.op, badSignature.op, { kind: "pay", terms: "nonsense" }, valid2.op, unknownMerchant.op, overLimit.op, valid1.op];

      const answer = await submit<BatchAnswer>({ operations });
      expect(answer.status).to.equal(202);
      expect(answer.body.accepted).to.equal(2);
      expect(answer.body.refused).to.equal(5);
      // One answer per item, in order; accepted items carry their id.
      expect(answer.body.results.map((r) => [r.status, r.code])).to.deep.equal([
        ["accepted", undefined],
        ["refused", "BAD_SIGNATURE"],
        ["refused", "MALFORMED"],
        ["accepted", undefined],
        ["refused", "UNKNOWN_MERCHANT"],
        ["refused", "AMOUNT_OVER_LIMIT"],
        ["refused", "DUPLICATE"],
      ]);
      expect([answer.body.results[0]?.id, answer.body.results[3]?.id]).to.deep.equal([valid1.paymentId, valid2.paymentId]);

      await waitForOperation(net.nodes, valid1.paymentId);
      await waitForOperation(net.nodes, valid2.paymentId);
      for (const refused of [badSignature, unknownMerchant, overLimit]) {
        await expectNotStored(refused.paymentId);
        refusedIds.push(refused.paymentId);
        refusedPayments.push(refused.paymentId);
      }

      // A batch with nothing valid in it is refused as a whole.
      const none = await submit<BatchAnswer>({ operations: [badSignature.op, { kind: "pay" }] });
      expect(none.status).to.equal(422);
      expect(none.body.results.map((r) => r.code)).to.deep.equal(["BAD_SIGNATURE", "MALFORMED"]);
    });
  });

  describe("over gossip", function () {
    it("rejects an oversized gossip message without storing its operations, and bans a peer that keeps sending them", async function () {
      const s = net.scenario;
      const { privateKey, peerId } = await freshPeerKey();
      await (await s.contracts.registry.registerInstitution(Wallet.createRandom().address, peerId, "Oversized Bank")).wait();
      // This peer lets itself publish up to 3 MiB; the nodes take at most 1 MiB.
      const sender = await startTestPeer(net.nodes, { privateKey, maxMessageBytes: 3 * MAX_GOSSIP_BYTES });
      peers.push(sender);
      await waitFor("both nodes to admit the registered sender", async () => {
        const lists = await Promise.all(net.nodes.map(peersOf));
        return lists.every((list) => list.includes(peerId)) && net.nodes.every((n) => sender.net.topicPeers().includes(n.peerId));
      });

      /** A gossip message carrying `op`, padded to over `bytes` (refused for its size before it is decoded). */
      const oversized = (op: EscrowOperationInput, bytes: number) => Buffer.concat([encodeGossipMessage([op]), Buffer.alloc(bytes)]);

      // Knowing a node's subscription comes before having a stream to send it on: a well-sized message that
      // reaches both nodes says the sender can now reach each of them.
      await waitFor("the sender's messages to reach both nodes", async () => (await sender.net.publish(encodeGossipMessage([(await signedPay(s, await termsFor(s, 5, 1))).op]))) === net.nodes.length);

      const big = await signedPay(s, await termsFor(s, 5, 1));
      expect(await sender.net.publish(oversized(big.op, 2 * MAX_GOSSIP_BYTES))).to.equal(net.nodes.length);
      // The same peer's well-sized message gets through: the oversized one was refused for its size.
      const small = await signedPay(s, await termsFor(s, 5, 1));
      expect(await sender.net.publish(encodeGossipMessage([small.op]))).to.equal(net.nodes.length);
      for (const node of net.nodes) {
        await waitFor(`${node.name} to store the well-sized message's pay`, async () => (await nodeApi(node).operation(small.paymentId)) !== undefined);
      }
      await expectNotStored(big.paymentId);

      // Each oversized message is an offence: MAX_REJECTS of them get the sender banned.
      for (let i = 1; i < MAX_REJECTS; i++) await sender.net.publish(oversized(big.op, 2 * MAX_GOSSIP_BYTES + i));
      await waitFor("both nodes to drop the sender", async () => (await Promise.all(net.nodes.map(peersOf))).every((list) => !list.includes(peerId)), 10_000);
      // Watched until every node has refused the re-dialling sender three more times.
      const seen = await presence(async () => (await Promise.all(net.nodes.map(peersOf))).flat(), await refusedAgain(net.nodes, 3), 100);
      expect(seen.has(peerId), "a node let the banned sender back in").to.equal(false);
      await expectNotStored(big.paymentId);
      refusedIds.push(big.paymentId);
      refusedPayments.push(big.paymentId);
    });
  });

  describe("read endpoints", function () {
    let listed: string[];

    before(async function () {
      // Five payments to merchant 2 (which nothing else pays) from payer 2, in one batch.
      const s = net.scenario;
      const pays = await Promise.all(Array.from({ length: 5 }, async () => signedPay(s, await termsFor(s, 2, 2))));
      const answer = await nodeApi(entry).submitBatch(pays.map((p) => p.op));
      expect(answer.accepted).to.equal(5);
      listed = pays.map((p) => p.paymentId);
      for (const id of listed) await waitForOperation(net.nodes, id);
      for (const node of net.nodes) {
        for (const id of listed) {
          await waitFor(`${node.name} to index ${id}`, async () => Boolean((await nodeApi(node).payment(id))?.payment));
        }
      }
    });

    it("lists a merchant's payments newest first, page by page with a cursor", async function () {
      const s = net.scenario;
      const merchant = s.merchants[2];
      const payer = s.payers[2];
      if (!merchant || !payer) throw new Error("no merchant or payer");
      for (const node of net.nodes) {
        const pages: PaymentRecord[][] = [];
        let cursor: string | undefined;
        do {
          const page = await nodeApi(node).payments({ merchant: merchant.address, limit: 2, ...(cursor ? { cursor } : {}) });
          pages.push(page.items);
          cursor = page.next;
        } while (cursor && pages.length < 10);
        const items = pages.flat();
        expect(pages.map((p) => p.length)).to.deep.equal([2, 2, 1]);
        expect(items.map((p) => p.paymentId)).to.have.members(listed);
        expect(items.every((p) => p.merchant === merchant.address)).to.equal(true);
        const order = items.map((p) => [p.paidAt, p.paymentId.toLowerCase()] as const);
        const sorted = [...order].sort((a, b) => b[0] - a[0] || (a[1] < b[1] ? 1 : a[1] > b[1] ? -1 : 0));
        expect(order).to.deep.equal(sorted);

        // The address in any case; another list's cursor or a garbled one is refused.
        const lower = await nodeApi(node).payments({ merchant: merchant.address.toLowerCase(), limit: 2 });
        expect(lower.items.map((p) => p.paymentId)).to.deep.equal(pages[0]?.map((p) => p.paymentId));
        const first = await nodeApi(node).payments({ merchant: merchant.address, limit: 2 });
        expectProblem(await getJson(`${node.apiUrl}/v1/payments?payer=${payer.address}&limit=2&cursor=${first.next ?? ""}`), 400, "INVALID_CURSOR");
        expectProblem(await getJson(`${node.apiUrl}/v1/payments?merchant=${merchant.address}&cursor=bm90LWEta2V5`), 400, "INVALID_CURSOR");
        expectProblem(await getJson(`${node.apiUrl}/v1/payments?merchant=${merchant.address}&limit=0`), 400, "MALFORMED");
        expectProblem(await getJson(`${node.apiUrl}/v1/payments?merchant=${merchant.address}&payer=${payer.address}`), 400, "MALFORMED");
      }
    });

    it("shows a payment merged from the chain's state, the index and its operation history", async function () {
      const [id] = listed;
      if (!id) throw new Error("nothing listed");
      for (const node of net.nodes) {
        const body = await nodeApi(node).payment(id);
        if (!body) throw new Error(`${node.name} does not know ${id}`);
        expect(body.paymentId).to.equal(id);
        expect(body.onChain?.status).to.equal("held");
        expect(body.onChain?.amount).to.equal("10000");
        expect(body.payment?.status).to.equal("held");
        expect(body.payment?.events.map((e) => e.event)).to.include("PaymentPaid");
        expect(body.operations.map((op) => [op.id, op.kind, op.status])).to.deep.equal([[id, "pay", "executed"]]);
        expect(body.operations[0]?.origin).to.equal(node === entry ? "api" : "gossip");
      }
      expectProblem(await getJson(`${entry.apiUrl}/v1/payments/0x${"ab".repeat(32)}`), 404, "PAYMENT_NOT_FOUND");
      expectProblem(await getJson(`${entry.apiUrl}/v1/payments/not-an-id`), 400, "MALFORMED");
    });

    it("counts validations by path, result and code in /metrics, and reports health", async function () {
      const counts = async () => {
        const response = await nodeFetch(`${entry.apiUrl}/metrics`);
        expect(response.status).to.equal(200);
        expect(response.headers.get("content-type")).to.match(/^text\/plain/);
        const text = await response.text();
        return (labels: string) => Number(new RegExp(`^settlenet_operations_validated_total\\{${labels}\\} (\\d+)$`, "m").exec(text)?.[1] ?? 0);
      };
      const before = await counts();
      // One of each, here: a forged pay, a pay over the limit, a confirm reusing a nonce (after a pay
      // and a confirm accepted on the entry's API), and a pay accepted by the other node and gossiped.
      const s = net.scenario;
      const merchant = s.merchants[0];
      const payer = s.payers[0];
      const other = net.nodes[1];
      if (!merchant || !payer || !other) throw new Error("scenario incomplete");
      await expectRefused((await forgedPay(s, await termsFor(s, 0, 0), merchant)).op, 422, "BAD_SIGNATURE");
      await expectRefused((await signedPay(s, await termsFor(s, 0, 0, { amount: MAX_PAYMENT + 1n }))).op, 422, "AMOUNT_OVER_LIMIT");
      const { terms } = await heldPayment(0);
      const confirm = await signedConfirm(s, terms, payer, 7n, 3_600n);
      expect((await nodeApi(entry).submit(confirm)).accepted).to.equal(true);
      await expectRefused(await signedConfirm(s, terms, payer, 7n, 7_200n), 409, "NONCE_USED");
      const gossiped = await signedPay(s, await termsFor(s, 1, 0));
      expect((await nodeApi(other).submit(gossiped.op)).accepted).to.equal(true);
      await waitForOperation(net.nodes, gossiped.paymentId);

      const after = await counts();
      const grew = (labels: string) => after(labels) - before(labels);
      expect(grew('path="api",result="reject",code="BAD_SIGNATURE"')).to.equal(1);
      expect(grew('path="api",result="reject",code="AMOUNT_OVER_LIMIT"')).to.equal(1);
      expect(grew('path="api",result="ignore",code="NONCE_USED"')).to.equal(1);
      expect(grew('path="api",result="accept",code="ACCEPTED"')).to.equal(2);
      expect(grew('path="gossip",result="accept",code="ACCEPTED"')).to.equal(1);

      // Health counts the connected peers: the other node, and test peers of earlier tests while they are
      // still connected (read together until the two reads agree).
      const { health, connected } = await waitFor("health and the peer list to agree", async () => {
        const [h, c] = await Promise.all([nodeApi(entry).health(), peersOf(entry)]);
        return h.peers === c.length ? { health: h, connected: c } : undefined;
      });
      expect(health).to.include({ ready: true, role: "institution", peerId: entry.peerId });
      expect(connected).to.include(other.peerId);
      expect(health.chain.indexed).to.be.at.most(health.chain.head ?? 0);
    });
  });

  // Last (mocha runs a suite's own tests before its nested suites): everything above has had time to
  // be gossiped and relayed had any node let it through.
  describe("afterwards", function () {
    it("left no trace of any refused input: no node stores it, the escrow never saw it", async function () {
      const s = net.scenario;
      // Refusals of its own, so that this test stands alone (run after the others, it checks theirs too).
      const merchant = s.merchants[0];
      if (!merchant) throw new Error("no merchant");
      for (const node of net.nodes) await expectRefused((await forgedPay(s, await termsFor(s, 0, 0), merchant)).op, 422, "BAD_SIGNATURE", node);
      await expectRefused((await signedPay(s, await termsFor(s, 0, 0, { amount: MAX_PAYMENT + 1n }))).op, 422, "AMOUNT_OVER_LIMIT");
      // Accepted after them and executed everywhere: whatever a node had let through would be gossiped and relayed by now.
      const barrier = await signedPay(s, await termsFor(s, 0, 0));
      expect((await nodeApi(entry).submit(barrier.op)).accepted).to.equal(true);
      await waitForOperation(net.nodes, barrier.paymentId);
      expect(refusedIds.length).to.be.at.least(net.nodes.length + 1);
      for (const id of refusedIds) await expectNotStored(id);
      for (const id of refusedPayments) expect((await s.contracts.escrow.paymentOf(id)).status, id).to.equal(0n);
    });
  });
});
