/**
 * The transaction sender of one key, against a real chain served over JSON-RPC: nonces assigned one
 * transaction at a time, the next transaction signed and recorded while the one before it is being
 * broadcast (and nothing signed behind a failed broadcast sent after it), no gas estimate for a fixed
 * gas limit, nothing broadcast when the record before the broadcast fails, a broadcast whose answer
 * was lost resolved from the chain, and the relayer's escrow batches interleaved with the settlement
 * service's cycle finalizations without the chain refusing any transaction for its nonce (a JSON-RPC
 * pass-through between the node's parts and the chain records what the chain refused).
 */
import { once } from "node:events";
import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { JsonRpcProvider, Network, Wallet } from "ethers";
import { Registry } from "prom-client";

import { escrowOperationSchema, operationIdOf, type EscrowContext } from "../../../core/operations/index.js";
import type { StoredOperation } from "../../../core/records.js";
import { ChainRegistryView } from "../../../node/chain/registry-view.js";
import { Indexer } from "../../../node/indexer/indexer.js";
import { BatchRelayer, type RelayProgress } from "../../../node/relay/relayer.js";
import { BROADCAST_UNCONFIRMED, TransactionSender } from "../../../node/relay/sender.js";
import type { SettlenetError } from "../../../core/errors.js";
import { CycleService } from "../../../node/settlement/service.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";
import type { LocalChain, Scenario } from "../../helpers/chain.js";
import { startJsonRpcProxy, type JsonRpcProxy } from "../../helpers/json-rpc-proxy.js";
import { signedPay, termsFor } from "../../helpers/operations.js";
import { FAILED_TOPIC, RelayFixture, Status, logger, waitFor } from "../../helpers/relay.js";

const CYCLE_SECONDS = 3_600;

// ---------------------------------------------------------------- TCP proxy between relayer and chain

/**
 * Forwards loopback TCP to the chain's RPC port; stop() cuts every connection and resets every new
 * one until start(), counting them in `refused` (each one a try to reach the chain while it is down;
 * the port stays the proxy's). With `cutOn` set, the first client request containing that text is
 * forwarded to the chain but its answer is lost and the proxy goes down (a broadcast whose result
 * the relayer never sees).
 */
class TcpProxy {
  port = 0;
  cuts = 0;
  refused = 0;
  cutOn: string | undefined;
  private up = false;
  private server: net.Server | undefined;
  private readonly sockets = new Set<net.Socket>();

  constructor(private readonly targetPort: number) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  async start(): Promise<void> {
    this.up = true;
    if (this.server) return;
    const server = net.createServer((client) => this.connect(client));
    server.listen(0, "127.0.0.1");
    await once(server, "listening");
    this.port = (server.address() as net.AddressInfo).port;
    this.server = server;
  }

  stop(): void {
    this.up = false;
    for (const socket of this.sockets) socket.destroy();
    this.sockets.clear();
  }

  async close(): Promise<void> {
    this.stop();
    const server = this.server;
    this.server = undefined;
    if (server) await new Promise<void>((resolve) => server.close(() => resolve()));
  }

  private connect(client: net.Socket): void {
    if (!this.up) {
      this.refused++;
      client.on("error", () => {});
      client.resetAndDestroy();
      return;
    }
    const upstream = net.connect(this.targetPort, "127.0.0.1");
    this.sockets.add(client);
    this.sockets.add(upstream);
    let cut = false;
    client.on("data", (chunk: Buffer) => {
      upstream.write(chunk);
      if (this.cutOn && chunk.includes(this.cutOn)) {
        this.cutOn = undefined;
        this.cuts++;
        cut = true;
        // Keep the upstream connection until the chain has answered, so the request really runs.
        this.sockets.delete(upstream);
        this.stop();
      }
    });
    upstream.on("data", (chunk: Buffer) => {
      if (cut) upstream.destroy();
      else client.write(chunk);
    });
    client.on("close", () => {
      this.sockets.delete(client);
      if (!cut) upstream.destroy();
    });
    upstream.on("close", () => {
      this.sockets.delete(upstream);
      client.destroy();
    });
    client.on("error", () => {});
    upstream.on("error", () => {});
  }
}

describe("transaction sender", function () {
  this.timeout(120_000);

  let f: RelayFixture;
  let chain: LocalChain;
  let s: Scenario;
  let ctx: EscrowContext;

  // One institution: its own attestation is a quorum, so it finalizes every cycle itself.
  RelayFixture.forSuite({ institutions: 1, payers: 4 }, (started) => {
    f = started;
    ({ chain, s, ctx } = f);
  });

  const storage = () => f.storage();
  const relayer = (...args: Parameters<RelayFixture["relayer"]>) => f.relayer(...args);
  const terms = (...args: Parameters<RelayFixture["terms"]>) => f.terms(...args);
  const pay = (...args: Parameters<RelayFixture["pay"]>) => f.pay(...args);
  const stored = (...args: Parameters<RelayFixture["stored"]>) => f.stored(...args);
  const payer = (i: number) => f.payer(i);
  const statuses = (...args: Parameters<RelayFixture["statuses"]>) => f.statuses(...args);
  const allFinal = (...args: Parameters<RelayFixture["allFinal"]>) => f.allFinal(...args);
  const logsSince = (...args: Parameters<RelayFixture["logsSince"]>) => f.logsSince(...args);
  const paidCount = (...args: Parameters<RelayFixture["paidCount"]>) => f.paidCount(...args);

  /** A sender of the institution's key through its own provider; the provider is destroyed after the test. */
  function sender(): TransactionSender {
    const provider = new JsonRpcProvider(chain.url, Network.from(ctx.chainId), { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50 });
    f.onCleanup(async () => provider.destroy());
    return new TransactionSender({ receiptPollMs: 50 }, { wallet: f.institution(0).connect(provider), logger });
  }

  it("gives concurrent sends consecutive nonces, and every transaction is mined", async function () {
    const txSender = sender();
    const address = await txSender.address();
    const first = await chain.provider.getTransactionCount(address);
    const to = Wallet.createRandom().address;
    const sent = await Promise.all(Array.from({ length: 8 }, () => txSender.send({ to, data: "0x", purpose: "test" })));
    expect(sent.map((tx) => tx.nonce).sort((a, b) => a - b)).to.deep.equal(Array.from({ length: 8 }, (_, i) => first + i));
    const receipts = await Promise.all(sent.map((tx) => txSender.waitForReceipt(tx.hash, new AbortController().signal)));
    for (const receipt of receipts) expect(receipt !== undefined && receipt !== "dropped" && receipt.status).to.equal(1);
    expect(await chain.provider.getTransactionCount(address)).to.equal(first + 8);
  });

  /** A sender of the institution's key through a JSON-RPC pass-through, one call per HTTP request. */
  async function proxiedSender(): Promise<{ txSender: TransactionSender; proxy: JsonRpcProxy }> {
    const proxy = await startJsonRpcProxy(chain.url);
    f.onCleanup(() => proxy.close());
    const provider = new JsonRpcProvider(proxy.url, Network.from(ctx.chainId), { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50, batchMaxCount: 1 });
    f.onCleanup(async () => provider.destroy());
    return { txSender: new TransactionSender({ receiptPollMs: 50 }, { wallet: f.institution(0).connect(provider), logger }), proxy };
  }

  it("signs and records the next transaction while the one before it is broadcast, and broadcasts them in nonce order without a gas estimate", async function () {
    const { txSender, proxy } = await proxiedSender();
    const to = Wallet.createRandom().address;
    const recorded: string[] = [];
    const beforeBroadcast = async (txHash: string) => {
      recorded.push(txHash);
    };
    const release = proxy.hold("eth_sendRawTransaction");
    const first = txSender.send({ to, data: "0x", gasLimit: 21_000n, purpose: "test" }, { beforeBroadcast });
    const second = txSender.send({ to, data: "0x", gasLimit: 21_000n, purpose: "test" }, { beforeBroadcast });
    // Signing is quick enough for both to be recorded before the first broadcast reaches the chain: wait for both.
    await waitFor("both transactions signed and recorded, the first broadcast", () => recorded.length === 2 && proxy.calls.get("eth_sendRawTransaction") === 1);
    // The first broadcast is still unanswered: the second waits behind it, already recorded.
    expect(proxy.calls.get("eth_sendRawTransaction")).to.equal(1);
    release();
    const [a, b] = await Promise.all([first, second]);
    expect(b.nonce).to.equal(a.nonce + 1);
    expect(recorded).to.deep.equal([a.hash, b.hash]);
    for (const sent of [a, b]) {
      const receipt = await txSender.waitForReceipt(sent.hash, new AbortController().signal);
      expect(receipt !== undefined && receipt !== "dropped" && receipt.status).to.equal(1);
    }
    expect(proxy.calls.get("eth_estimateGas") ?? 0, "gas estimates").to.equal(0);
  });

  it("after a failed broadcast, broadcasts nothing signed behind it and takes the nonce from the chain again", async function () {
    const { txSender, proxy } = await proxiedSender();
    const address = await txSender.address();
    const before = await chain.provider.getTransactionCount(address);
    const to = Wallet.createRandom().address;
    const recorded: string[] = [];
    const beforeBroadcast = async (txHash: string) => {
      recorded.push(txHash);
    };
    const release = proxy.hold("eth_sendRawTransaction");
    const first = txSender.send({ to, data: "0x", gasLimit: 21_000n, purpose: "test" }, { beforeBroadcast }).then(() => undefined, (error: unknown) => error);
    const second = txSender.send({ to, data: "0x", gasLimit: 21_000n, purpose: "test" }, { beforeBroadcast }).then(() => undefined, (error: unknown) => error);
    await waitFor("both transactions signed and recorded", () => recorded.length === 2);
    proxy.failNext("eth_sendRawTransaction");
    release();
    const [firstError, secondError] = (await Promise.all([first, second])) as (SettlenetError | undefined)[];
    expect(firstError?.code).to.equal(BROADCAST_UNCONFIRMED);
    expect(secondError?.code).to.equal(BROADCAST_UNCONFIRMED);
    expect(secondError?.meta["code"]).to.equal("TX_HELD_BACK");
    expect(proxy.calls.get("eth_sendRawTransaction"), "the second was never sent").to.equal(1);
    for (const hash of recorded) expect(await chain.provider.getTransaction(hash)).to.equal(null);
    const next = await txSender.send({ to, data: "0x", gasLimit: 21_000n, purpose: "test" });
    expect(next.nonce).to.equal(before);
    expect(await txSender.waitForReceipt(next.hash, new AbortController().signal)).to.have.property("status", 1);
  });

  it("broadcasts nothing when the record before the broadcast fails, and the next transaction takes the same nonce", async function () {
    const txSender = sender();
    const address = await txSender.address();
    const before = await chain.provider.getTransactionCount(address);
    const to = Wallet.createRandom().address;
    let recorded: string | undefined;
    const beforeBroadcast = async (txHash: string) => {
      recorded = txHash;
      throw new Error("disk full");
    };
    const refusal = await txSender.send({ to, data: "0x", extraGas: 0n, purpose: "test" }, { beforeBroadcast }).then(
      () => undefined,
      (error: unknown) => error,
    );
    expect((refusal as Error | undefined)?.message).to.equal("disk full");
    expect(recorded).to.match(/^0x[0-9a-f]{64}$/);
    expect(await chain.provider.getTransaction(recorded ?? "")).to.equal(null);
    expect(await chain.provider.getTransactionCount(address)).to.equal(before);
    const next = await txSender.send({ to, data: "0x", extraGas: 0n, purpose: "test" });
    expect(next.nonce).to.equal(before);
  });

  it("keeps operations through an unreachable RPC and executes them once it returns, even when a broadcast's answer was lost", async function () {
    const chainPort = Number(new URL(chain.url).port);
    const proxy = new TcpProxy(chainPort);
    await proxy.start();
    f.onCleanup(() => proxy.close());
    const provider = new JsonRpcProvider(proxy.url, Network.from(ctx.chainId), { staticNetwork: true, cacheTimeout: -1 });
    f.onCleanup(async () => provider.destroy());
    const st = await storage();
    const r = relayer(0, st, { batchSize: 10, batchIntervalMs: 50, maxRetryDelayMs: 400 }, provider);
    const fromBlock = (await chain.provider.getBlockNumber()) + 1;
    await r.start();

    const make = async (n: number) => {
      const out: StoredOperation[] = [];
      for (let i = 0; i < n; i++) out.push(stored(await pay(payer(i), await terms(payer(i), 1_000n)), "api"));
      await st.operations.putAccepted(out);
      return out;
    };

    const first = await make(10);
    r.enqueue(first);
    await waitFor("first batch", () => allFinal(st, first));

    const unfinished = new Set(["accepted", "submitted"]);
    /**
     * Until the relayer has failed to send at least once since `before` and has tried the chain `tries`
     * times since `refusedBefore` (or has given up on an operation of `ops`, which the caller then sees).
     */
    const triedWhileDown = (what: string, ops: StoredOperation[], before: RelayProgress, refusedBefore: number, tries: number) =>
      waitFor(what, async () => {
        if ((await statuses(st, ops)).some((status) => !unfinished.has(status ?? "accepted"))) return true;
        return r.progress().sendFailures > before.sendFailures && proxy.refused - refusedBefore >= tries;
      });

    // Down for a while: nothing executes, nothing is dropped.
    proxy.stop();
    const second = await make(20);
    const [downFrom, refusedFrom] = [r.progress(), proxy.refused];
    r.enqueue(second);
    await triedWhileDown("the relayer to fail to send and try the chain again while it is down", second, downFrom, refusedFrom, 3);
    for (const op of second) expect((await s.contracts.escrow.paymentOf(op.paymentId)).status).to.equal(Status.None);
    for (const status of await statuses(st, second)) expect(unfinished, "kept for a retry").to.include(status);
    await proxy.start();
    await waitFor("operations after the outage", () => allFinal(st, second));

    // The chain receives a batch but the relayer never hears back, then the RPC is gone for a while.
    proxy.cutOn = "eth_sendRawTransaction";
    const third = await make(10);
    const cutFrom = r.progress();
    r.enqueue(third);
    await waitFor("a cut broadcast", () => proxy.cuts === 1);
    // Back only once the relayer has tried the chain a few times without an answer about that broadcast.
    await triedWhileDown("the relayer to try the chain after the cut broadcast", third, cutFrom, proxy.refused, 3);
    for (const status of await statuses(st, third)) expect(unfinished, "kept until the chain answers").to.include(status);
    await proxy.start();
    await waitFor("operations after the lost answer", () => allFinal(st, third));

    const all = [...first, ...second, ...third];
    expect(new Set(await statuses(st, all))).to.deep.equal(new Set(["executed"]));
    for (const op of all) expect(await paidCount(fromBlock, op.paymentId)).to.equal(1);
    // The cut batch was executed by its first transaction, which the relayer found on the chain
    // instead of sending the operations again.
    const cutHashes = new Set(await Promise.all(third.map(async (op) => (await st.operations.get(op.id))?.execution?.txHash)));
    expect(cutHashes.size).to.equal(1);
    expect(await logsSince(fromBlock, FAILED_TOPIC), "nothing was sent twice").to.have.length(0);
  });

  it("relays escrow batches and finalizes cycles with the same key, and the chain refuses no transaction for its nonce", async function () {
    /** Direct payments (released at once): each one is a settlement record of the cycle it lands in. */
    const pays = async (count: number, offset: number): Promise<StoredOperation[]> => {
      const signed = [];
      for (let i = offset; i < offset + count; i++) signed.push(await signedPay(s, await termsFor(s, i % s.payers.length, i % s.merchants.length, { direct: true })));
      const now = Date.now();
      return signed.map(({ op, paymentId }) => ({
        id: operationIdOf(escrowOperationSchema.parse(op), ctx),
        kind: "pay",
        paymentId,
        op,
        signer: null,
        origin: "api",
        status: "accepted",
        receivedAtMs: now,
        updatedAtMs: now,
      }));
    };
    const chainTime = async () => (await chain.provider.getBlock("latest"))?.timestamp ?? 0;

    const proxy = await startJsonRpcProxy(chain.url);
    f.onCleanup(() => proxy.close());
    const provider = new JsonRpcProvider(proxy.url, Network.from(ctx.chainId), { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50 });
    f.onCleanup(async () => provider.destroy());
    const dir = await mkdtemp(join(tmpdir(), "settlenet-sender-"));
    const st: NodeStorage = await openStorage(dir);
    f.onCleanup(async () => {
      await st.close();
      await rm(dir, { recursive: true, force: true });
    });
    const registry = new ChainRegistryView({ deployment: s.deployment, pollIntervalMs: 200 }, { provider, logger });
    await registry.start();
    f.onCleanup(() => registry.stop());

    // Wired as an institution node wires them: the relayer and the settlement service send with the key's one sender.
    const institution = f.institution(0);
    const wallet = institution.connect(provider);
    const txSender = new TransactionSender({ receiptPollMs: 50 }, { wallet, logger });
    const r = new BatchRelayer(
      { deployment: s.deployment, institutionId: institution.address, batchIntervalMs: 20 },
      { sender: txSender, storage: st, logger, activeInstitutions: () => registry.activeInstitutions() },
    );
    const cycles = new CycleService(
      { deployment: s.deployment, cycleSeconds: CYCLE_SECONDS, tickMs: 60_000, finalizeFailoverMs: 60_000, rebroadcastMs: 60_000, confirmations: 0, institutionId: institution.address },
      { provider, storage: st, registry, wallet, sender: txSender, publish: async () => 0, logger, metrics: new Registry() },
    );
    const indexer = new Indexer(
      { deployment: s.deployment, pollIntervalMs: 60_000 },
      { provider, storage: st, institutionOf: (account) => registry.account(account)?.institution, logger, onSettled: (ids) => r.settled(ids) },
    );
    await r.start();
    f.onCleanup(() => r.stop());
    await cycles.start();
    f.onCleanup(() => cycles.stop());

    const relayed: StoredOperation[] = [];
    const relay = async (ops: StoredOperation[]) => {
      await st.operations.putAccepted(ops);
      relayed.push(...ops);
      r.enqueue(ops);
      await waitFor("the relayed payments executed", async () => (await statuses(st, ops)).every((status) => status === "executed"), 20_000);
    };
    /** Closes the current cycle (a block at the next one's start) and runs settlement until it is finalized on-chain. */
    const finalize = async () => {
      const cycle = BigInt(Math.floor((await chainTime()) / CYCLE_SECONDS));
      const end = Number((cycle + 1n) * BigInt(CYCLE_SECONDS));
      await chain.provider.send("evm_setNextBlockTimestamp", [Math.max(end, (await chainTime()) + 1)]);
      await chain.provider.send("evm_mine", []);
      await registry.refresh();
      // As a node's indexer and ticks do: a tick already running when the cycle closed does not see
      // it, and a batch mined meanwhile must be indexed before the cycle can be built.
      await waitFor(
        `cycle ${cycle} finalized`,
        async () => {
          await indexer.syncOnce();
          await cycles.tick();
          return s.contracts.ledger.isFinalized(cycle);
        },
        60_000,
      );
    };

    // A batch, then a finalization, then a batch: each component sends right after the other.
    await relay(await pays(5, 0));
    await finalize();
    await relay(await pays(5, 5));
    // Both at once, twice. Each cycle finalized holds the batch relayed before it (a cycle without
    // movements is never built), whichever of the two concurrent senders is first.
    await Promise.all([relay(await pays(5, 10)), finalize()]);
    await relay(await pays(5, 15));
    await Promise.all([relay(await pays(5, 20)), finalize()]);
    await relay(await pays(5, 25));

    const nonceRefusals = proxy.refused.filter((call) => call.method === "eth_sendRawTransaction" && /nonce/i.test(call.message));
    expect(nonceRefusals, "transactions refused for their nonce").to.deep.equal([]);
    for (const op of relayed) expect((await s.contracts.escrow.paymentOf(op.paymentId)).status).to.equal(Status.Released);
  });
});
