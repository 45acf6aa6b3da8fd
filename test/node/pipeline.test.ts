import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { hexlify, randomBytes, type HDNodeWallet, type Wallet } from "ethers";
import { pino } from "pino";
import { Registry } from "prom-client";

import { encodedLengthOf, signEscrowOperation, termsToJson, type EscrowOperationInput, type PaymentTerms } from "../../core/operations/index.js";
import type { PaymentRecord, StoredOperation } from "../../core/records.js";
import { ChainRegistryView } from "../../node/chain/registry-view.js";
import { decodeGossipMessage, encodeGossipMessage } from "../../node/p2p/message.js";
import { createGossipNetwork, type GossipNetwork } from "../../node/p2p/network.js";
import { OperationPipeline } from "../../node/pipeline.js";
import type { Relayer, ValidationContext } from "../../node/services.js";
import { openStorage, type NodeStorage } from "../../node/storage/db.js";
import { OutcomeMapper } from "../../node/validation/outcome.js";
import { RiskEngine } from "../../node/validation/risk.js";
import { SignatureWorkerPool } from "../../node/validation/signature.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../helpers/chain.js";
import { waitFor } from "../helpers/network.js";
import { freshPeerKey } from "../helpers/peer.js";

const now = () => Math.floor(Date.now() / 1000);

describe("operation pipeline: a group at every hop", function () {
  this.timeout(60_000);
  let chain: LocalChain;
  let s: Scenario;
  let view: ChainRegistryView;
  let storage: NodeStorage;
  let dir: string;
  let ctx: ValidationContext;
  let pool: SignatureWorkerPool;
  let metrics: Registry;
  let pipeline: OperationPipeline;
  let published: Uint8Array[];
  /** Each call of putAccepted (one synced batch): the ids it stored. */
  let batches: string[][];
  /** Runs inside the next store, before its batch is written (what another writer does meanwhile). */
  let beforeStore: ((ops: StoredOperation[]) => Promise<void>) | undefined;
  let nextNonce = 1n;

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { institutions: 2, merchants: 2, payers: 4 });
    view = new ChainRegistryView({ deployment: s.deployment, pollIntervalMs: 60_000 }, { provider: chain.provider, logger: pino({ level: "silent" }) });
    await view.start();
    dir = await mkdtemp(join(tmpdir(), "settlenet-pipeline-"));
    storage = await openStorage(dir);
    const putAccepted = storage.operations.putAccepted.bind(storage.operations);
    storage.operations.putAccepted = async (ops: StoredOperation[], options?: { gossip?: boolean }) => {
      batches.push(ops.map((op) => op.id));
      const hook = beforeStore;
      beforeStore = undefined;
      await hook?.(ops);
      return putAccepted(ops, options);
    };
    ctx = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow, registry: view, storage, rules: {}, nowSeconds: now };
    pool = new SignatureWorkerPool({ workers: 2, minChunk: 4 }, { logger: pino({ level: "silent" }) });
  });

  beforeEach(function () {
    published = [];
    batches = [];
    metrics = new Registry();
    const logger = pino({ level: "silent" });
    pipeline = new OperationPipeline({ readOnly: false }, ctx, { logger, outcomes: new OutcomeMapper({ logger, metrics }), risk: new RiskEngine({}), signatures: pool });
    pipeline.setPublisher(async (data) => {
      published.push(data);
      return 3;
    });
  });

  after(async function () {
    await pool?.close();
    await view?.stop();
    await storage?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    await chain?.close();
  });

  function terms(payer: number): PaymentTerms {
    return {
      payer: s.payers[payer]!.address,
      merchant: s.merchants[0]!.address,
      token: s.deployment.tokens["CNY"]!.address,
      amount: 1_000n,
      orderId: hexlify(randomBytes(32)),
      feeBps: 100,
      direct: false,
      payDeadline: BigInt(now() + 3600),
      fulfilmentPeriod: 3600,
      autoReleasePeriod: 3600,
      refundPeriod: 3600,
      nonce: nextNonce++,
    };
  }

  /** `count` pays signed by their payers (cycling through the scenario's), or all by `signer` (forged). */
  async function pays(count: number, signer?: Wallet | HDNodeWallet): Promise<EscrowOperationInput[]> {
    const escrow = { chainId: ctx.chainId, escrow: ctx.escrow };
    return Promise.all(
      Array.from({ length: count }, (_, i) => signEscrowOperation(signer ?? s.payers[i % 4]!, { kind: "pay" as const, terms: termsToJson(terms(i % 4)) }, escrow)),
    );
  }

  const acceptedIds = (outcomes: Awaited<ReturnType<OperationPipeline["submit"]>>) =>
    outcomes.map((o) => {
      expect(o.accepted, JSON.stringify(o)).to.equal(true);
      return (o as { id: string }).id;
    });

  const validated = async (code: string) =>
    (await metrics.getSingleMetric("settlenet_operations_validated_total")?.get())?.values.filter((v) => v.labels["code"] === code).reduce((sum, v) => sum + v.value, 0) ?? 0;

  it("validates an API group together, stores its accepted operations in one synced batch and publishes them as one message", async function () {
    const good = await pays(20);
    const [forged] = await pays(1, s.payers[3]);
    const group = [...good, { ...forged!, terms: { ...forged!.terms, payer: s.payers[0]!.address } }, good[4]!];
    const outcomes = await pipeline.submit(group);
    expect(outcomes.map((o) => (o.accepted ? "accepted" : o.error.code))).to.deep.equal([...good.map(() => "accepted"), "BAD_SIGNATURE", "DUPLICATE"]);
    expect(batches).to.have.length(1);
    expect(batches[0]).to.have.length(20);
    expect(published).to.have.length(1);
    const message = decodeGossipMessage(published[0]!);
    expect(message.map((d) => ("op" in d ? d.op.kind : "malformed"))).to.deep.equal(good.map(() => "pay"));
    for (const outcome of outcomes.slice(0, 20)) expect(await storage.operations.has((outcome as { id: string }).id)).to.equal(true);
  });

  it("gathers API groups accepted within the window into one gossip message, answering each call only once it is published", async function () {
    const logger = pino({ level: "silent" });
    const [a, b, c] = [await pays(3), await pays(2), await pays(1)];
    // Room for the first two groups (not full: a byte to spare), not the third: its arrival sends them; a window far longer than the test.
    const bytes = (ops: EscrowOperationInput[]) => ops.reduce((sum, op) => sum + encodedLengthOf(op)!, 0);
    const p = new OperationPipeline({ readOnly: false, gossipWindowMs: 600_000, gossipMaxBytes: 3 + bytes([...a, ...b]) + 1 }, ctx, {
      logger,
      outcomes: new OutcomeMapper({ logger, metrics }),
      risk: new RiskEngine({}),
      signatures: pool,
      metrics,
    });
    p.setPublisher(async (data) => {
      published.push(data);
      return 3;
    });
    const answered: string[] = [];
    const first = p.submit(a).then((outcomes) => (answered.push("a"), outcomes));
    const second = p.submit(b).then((outcomes) => (answered.push("b"), outcomes));
    await waitFor("both groups stored and gathering", () => p.gatheringOperations() === 5);
    expect(published).to.deep.equal([]);
    expect(answered).to.deep.equal([]);
    const third = p.submit(c);
    const ids = [...acceptedIds(await first), ...acceptedIds(await second)];
    expect(published).to.have.length(1);
    expect(decodeGossipMessage(published[0]!).map((d) => ("op" in d ? (d.op as { terms: { orderId: string } }).terms.orderId : "malformed"))).to.have.members(
      [...a, ...b].map((op) => op.terms.orderId),
    );
    expect(ids).to.have.length(5);
    expect(batches).to.have.length(3);
    // The third waits for its own message: sent when the pipeline stops.
    await waitFor("the third group gathering", () => p.gatheringOperations() === 1);
    await p.stop();
    expect(acceptedIds(await third)).to.have.length(1);
    expect(published).to.have.length(2);
    const count = async (name: string, labels: Record<string, string> = {}) =>
      (await metrics.getSingleMetric(name)?.get())?.values.filter((v) => Object.entries(labels).every(([k, x]) => v.labels[k] === x)).reduce((sum, v) => sum + v.value, 0);
    expect(await count("settlenet_pipeline_groups_total", { path: "api" })).to.equal(3);
    expect(await count("settlenet_pipeline_stored_operations_total", { path: "api" })).to.equal(6);
    expect(await count("settlenet_gossip_published_messages_total")).to.equal(2);
    expect(await count("settlenet_gossip_published_operations_total")).to.equal(6);
  });

  it("publishes a gathering message at once when it is full, without waiting for its window", async function () {
    const logger = pino({ level: "silent" });
    const group = await pays(3);
    const full = 3 + group.reduce((sum, op) => sum + encodedLengthOf(op)!, 0);
    const p = new OperationPipeline({ readOnly: false, gossipWindowMs: 600_000, gossipMaxBytes: full }, ctx, {
      logger,
      outcomes: new OutcomeMapper({ logger, metrics }),
      risk: new RiskEngine({}),
      signatures: pool,
    });
    p.setPublisher(async (data) => {
      published.push(data);
      return 3;
    });
    expect(acceptedIds(await p.submit(group))).to.have.length(3);
    expect(published).to.have.length(1);
    expect(p.gatheringOperations()).to.equal(0);
    await p.stop();
  });

  it("validates a gossip group the same way, stores its valid operations and rejects the message for one forged operation", async function () {
    const good = await pays(12);
    const [forged] = await pays(1, s.payers[2]);
    const tampered = { ...forged!, terms: { ...forged!.terms, payer: s.payers[1]!.address } };
    const message = encodeGossipMessage([...good.slice(0, 6), tampered, ...good.slice(6)]);
    expect(await pipeline.onGossip("peer-x", message)).to.equal("reject");
    expect(batches).to.have.length(1);
    expect(batches[0]).to.have.length(12);
    expect(await validated("BAD_SIGNATURE")).to.equal(1);
    // The same message again holds nothing new: ignored, nothing written, the peer not penalised twice over its good part.
    batches = [];
    const again = encodeGossipMessage(good);
    expect(await pipeline.onGossip("peer-y", again)).to.equal("ignore");
    expect(batches).to.deep.equal([]);
    expect(published).to.deep.equal([]);
  });

  it("settles a gossiped pay whose execution was indexed between its validation and its store, and hands it to no relayer", async function () {
    const relayed: string[] = [];
    const logger = pino({ level: "silent" });
    const relayer = { enqueue: (records: StoredOperation[]) => relayed.push(...records.map((r) => r.id)) } as unknown as Relayer;
    const p = new OperationPipeline({ readOnly: false }, ctx, { logger, outcomes: new OutcomeMapper({ logger, metrics }), risk: new RiskEngine({}), signatures: pool, relayer });
    const [late, fresh] = await pays(2);
    const execution = { txHash: hexlify(randomBytes(32)), blockNumber: 42, relayer: s.institutions[1]!.address, timestamp: now() };
    // The indexer stores the block that executed `late` after the pay was validated, before it is stored.
    beforeStore = async (ops) => {
      const op = ops.find((o) => o.kind === "pay" && (o.op as { terms: { orderId: string } }).terms.orderId === late!.terms.orderId)!;
      const t = late!.terms;
      const record: PaymentRecord = {
        paymentId: op.paymentId,
        payer: t.payer,
        merchant: t.merchant,
        token: t.token,
        amount: t.amount,
        orderId: t.orderId,
        feeBps: t.feeBps,
        direct: false,
        status: "held",
        refunded: "0",
        deadline: now() + 3600,
        payerInstitution: "",
        merchantInstitution: "",
        paidAt: execution.timestamp,
        paidBlock: execution.blockNumber,
        updatedAt: execution.timestamp,
        events: [{ event: "PaymentPaid", blockNumber: execution.blockNumber, txHash: execution.txHash, logIndex: 0, timestamp: execution.timestamp, args: {}, relayer: execution.relayer }],
      };
      await storage.applyIndexBatch({ payments: [record], operations: [], cursor: (await storage.getCursor()) ?? 0 });
    };
    expect(await p.onGossip("peer-x", encodeGossipMessage([late!, fresh!]))).to.equal("accept");
    const [lateId, freshId] = batches[0]!;
    expect(await storage.operations.get(lateId!)).to.deep.include({ status: "executed", execution });
    expect((await storage.operations.get(freshId!))?.status).to.equal("accepted");
    expect(relayed).to.deep.equal([freshId]);
  });

  it("rejects a gossip message that is not a compact group as MALFORMED, and one malformed operation inside a group", async function () {
    expect(await pipeline.onGossip("peer-x", new TextEncoder().encode('{"v":1,"ops":[]}'))).to.equal("reject");
    const [good] = await pays(2);
    const message = Buffer.from(encodeGossipMessage([good!]));
    // The pay's amount (after the version, the count, the kind byte and three addresses) set to zero.
    message.fill(0, 3 + 1 + 60, 3 + 1 + 72);
    expect(await pipeline.onGossip("peer-x", message)).to.equal("reject");
    expect(await validated("MALFORMED")).to.equal(2);
    expect(batches).to.deep.equal([]);
  });

  describe("gossip outbox: what was stored is published, even after a failed publish or a crash", function () {
    let dirs: string[];
    let nets: GossipNetwork[];
    let pipelines: OperationPipeline[];
    let closing: (() => Promise<void>)[];

    beforeEach(function () {
      dirs = [];
      nets = [];
      pipelines = [];
      closing = [];
    });

    afterEach(async function () {
      await Promise.all(pipelines.map((p) => p.stop()));
      await Promise.all(nets.map((net) => net.stop()));
      for (const close of closing) await close();
      for (const d of dirs) await rm(d, { recursive: true, force: true });
    });

    /**
     * Two real gossip networks on loopback, meshed: `origin` publishes; the peer runs its own pipeline
     * on its own storage, and `received(id)` says whether the peer stored that operation.
     */
    async function gossipPair(): Promise<{ origin: GossipNetwork; received: (id: string) => Promise<boolean> }> {
      const [a, b] = await Promise.all([freshPeerKey(), freshPeerKey()]);
      const allowed = new Set([a.peerId, b.peerId]);
      const peerDir = await mkdtemp(join(tmpdir(), "settlenet-pipeline-peer-"));
      dirs.push(peerDir);
      const peerStorage = await openStorage(peerDir);
      closing.push(() => peerStorage.close());
      const peerPipeline = pipelineOn(peerStorage);
      const logger = pino({ level: "silent" });
      const origin = await createGossipNetwork({ privateKey: a.privateKey, listen: ["/ip4/127.0.0.1/tcp/0"], redialIntervalMs: 200 }, { logger, allowlist: () => allowed, validate: async () => "ignore" });
      nets.push(origin);
      const peer = await createGossipNetwork(
        { privateKey: b.privateKey, listen: ["/ip4/127.0.0.1/tcp/0"], bootstrap: [origin.multiaddrs()[0]!], redialIntervalMs: 200 },
        {
          logger,
          allowlist: () => allowed,
          validate: (from, data) => peerPipeline.onGossip(from, data),
        },
      );
      nets.push(peer);
      await waitFor("the two networks meshed", () => origin.topicPeers().includes(peer.peerId) && peer.topicPeers().includes(origin.peerId));
      return { origin, received: (id) => peerStorage.operations.has(id) };
    }

    const receivedAll = async (received: (id: string) => Promise<boolean>, ids: string[]) => (await Promise.all(ids.map(received))).every(Boolean);

    function pipelineOn(storageOf: NodeStorage, publish?: (data: Uint8Array) => Promise<number>): OperationPipeline {
      const logger = pino({ level: "silent" });
      const p = new OperationPipeline(
        { readOnly: false, republishBackoff: { firstMs: 50, maxMs: 400 } },
        { ...ctx, storage: storageOf },
        { logger, outcomes: new OutcomeMapper({ logger, metrics: new Registry() }), risk: new RiskEngine({}), signatures: pool },
      );
      if (publish) p.setPublisher(publish);
      pipelines.push(p);
      return p;
    }


    it("publishes a group again after its publish fails, and the peer receives every operation", async function () {
      const { origin, received } = await gossipPair();
      let failures = 0;
      const p = pipelineOn(storage, async (data) => {
        if (failures++ === 0) throw new Error("publish failed once");
        return origin.publish(data);
      });
      const ids = acceptedIds(await p.submit(await pays(5)));
      expect(failures).to.equal(1);
      await waitFor("the peer received the operations", () => receivedAll(received, ids));
      await waitFor("the outbox emptied", async () => (await storage.operations.listUnpublished(1_000)).every((op) => !ids.includes(op.id)));
    });

    it("clears a published group's outbox entries with the next stored group's batch, and what is left at stop", async function () {
      const own = await mkdtemp(join(tmpdir(), "settlenet-pipeline-outbox-"));
      dirs.push(own);
      const ownStorage = await openStorage(own);
      closing.push(() => ownStorage.close());
      const p = pipelineOn(ownStorage, async () => 1);
      const outbox = async () => (await ownStorage.operations.listUnpublished(100)).map((op) => op.id).sort();
      const first = acceptedIds(await p.submit(await pays(2)));
      // Published, its entries not yet cleared: no write of their own.
      expect(await outbox()).to.deep.equal([...first].sort());
      const second = acceptedIds(await p.submit(await pays(2)));
      expect(await outbox()).to.deep.equal([...second].sort());
      await p.stop();
      expect(await outbox()).to.deep.equal([]);
    });

    it("publishes at start what was stored but never gossiped when the node died between the synced store and the publish", async function () {
      const crashDir = await mkdtemp(join(tmpdir(), "settlenet-pipeline-crash-"));
      dirs.push(crashDir);
      const before = await openStorage(crashDir);
      // The process dies inside the publish: stored and synced, never handed to a peer.
      let publishing: () => void = () => undefined;
      const reachedPublish = new Promise<void>((resolve) => (publishing = resolve));
      const dying = pipelineOn(before, () => {
        publishing();
        return new Promise<number>(() => undefined);
      });
      const group = await pays(3);
      void dying.submit(group);
      await reachedPublish;
      pipelines.splice(pipelines.indexOf(dying), 1);
      await before.close();

      const { origin, received } = await gossipPair();
      const after = await openStorage(crashDir);
      try {
        const stored = await after.operations.listUnpublished(10);
        expect(stored).to.have.length(3);
        const restarted = pipelineOn(after, (data) => origin.publish(data));
        await restarted.start();
        const ids = stored.map((op) => op.id);
        await waitFor("the peer received the operations stored before the crash", () => receivedAll(received, ids));
        expect(await after.operations.listUnpublished(10)).to.deep.equal([]);
        await restarted.stop();
      } finally {
        await after.close();
      }
    });
  });
});
