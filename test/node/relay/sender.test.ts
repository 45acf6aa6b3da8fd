/**
 * Transactions signed with one institution key, against a real chain served over JSON-RPC: the
 * relayer's escrow batches and the settlement service's cycle finalizations interleave without the
 * chain refusing any transaction for its nonce. A JSON-RPC pass-through between the node's parts
 * and the chain records what the chain refused.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { JsonRpcProvider, Network, type HDNodeWallet } from "ethers";
import { pino } from "pino";
import { Registry } from "prom-client";

import { escrowOperationSchema, operationIdOf, type EscrowContext } from "../../../core/protocol/operations.js";
import type { StoredOperation } from "../../../core/records.js";
import { ChainRegistryView } from "../../../node/chain/registry-view.js";
import { Indexer } from "../../../node/indexer/indexer.js";
import { BatchRelayer } from "../../../node/relay/relayer.js";
import { CycleService } from "../../../node/settlement/service.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { startJsonRpcProxy, type JsonRpcProxy } from "../../helpers/json-rpc-proxy.js";
import { signedPay, termsFor } from "../../helpers/operations.js";

const logger = pino({ level: process.env["RELAY_LOG_LEVEL"] ?? "silent" });
const CYCLE_SECONDS = 3_600;

async function waitFor(what: string, predicate: () => Promise<boolean> | boolean, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (Date.now() < until) {
    if (await predicate()) return;
    await new Promise((resolve) => setTimeout(resolve, 25));
  }
  throw new Error(`timed out waiting for ${what}`);
}

describe("transactions of one institution key", function () {
  this.timeout(120_000);

  let chain: LocalChain;
  let s: Scenario;
  let ctx: EscrowContext;
  const cleanups: (() => Promise<void>)[] = [];

  before(async function () {
    chain = await startChain();
    // One institution: its own attestation is a quorum, so it finalizes every cycle itself.
    s = await deployScenario(chain, { institutions: 1, payers: 4 });
    ctx = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow };
  });

  afterEach(async function () {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  after(async function () {
    await chain?.close();
  });

  function institution(): HDNodeWallet {
    const inst = s.institutions[0];
    if (!inst) throw new Error("no institution");
    return inst;
  }

  /** Direct payments (released at once): each one is a settlement record of the cycle it lands in. */
  async function pays(count: number, offset: number): Promise<StoredOperation[]> {
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
  }

  /** Mines a block at the start of the cycle after `cycle`, so that `cycle` can close. */
  async function closeCycle(cycle: bigint): Promise<void> {
    const latest = (await chain.provider.getBlock("latest"))?.timestamp ?? 0;
    await chain.provider.send("evm_setNextBlockTimestamp", [Math.max(Number((cycle + 1n) * BigInt(CYCLE_SECONDS)), latest + 1)]);
    await chain.provider.send("evm_mine", []);
  }

  async function currentCycle(): Promise<bigint> {
    return BigInt(Math.floor(((await chain.provider.getBlock("latest"))?.timestamp ?? 0) / CYCLE_SECONDS));
  }

  it("relays escrow batches and finalizes cycles with the same key, and the chain refuses no transaction for its nonce", async function () {
    const proxy: JsonRpcProxy = await startJsonRpcProxy(chain.url);
    cleanups.push(() => proxy.close());
    const provider = new JsonRpcProvider(proxy.url, Network.from(ctx.chainId), { staticNetwork: true, cacheTimeout: -1, pollingInterval: 50 });
    cleanups.push(async () => provider.destroy());
    const dir = await mkdtemp(join(tmpdir(), "settlenet-sender-"));
    const storage: NodeStorage = await openStorage(dir);
    cleanups.push(async () => {
      await storage.close();
      await rm(dir, { recursive: true, force: true });
    });
    const registry = new ChainRegistryView({ deployment: s.deployment, pollIntervalMs: 200 }, { provider, logger });
    await registry.start();
    cleanups.push(() => registry.stop());

    // Wired as an institution node wires them: the relayer and the settlement service sign with the same key.
    const wallet = institution().connect(provider);
    const relayer = new BatchRelayer(
      { deployment: s.deployment, institutionId: institution().address, batchIntervalMs: 20, receiptPollMs: 50 },
      { wallet, storage, logger, activeInstitutions: () => registry.activeInstitutions() },
    );
    const cycles = new CycleService(
      { deployment: s.deployment, cycleSeconds: CYCLE_SECONDS, tickMs: 60_000, finalizeFailoverMs: 60_000, rebroadcastMs: 60_000, confirmations: 0, institutionId: institution().address },
      { provider, storage, registry, wallet, publish: async () => 0, logger, metrics: new Registry() },
    );
    const indexer = new Indexer(
      { deployment: s.deployment, pollIntervalMs: 60_000 },
      { provider, storage, institutionOf: (account) => registry.account(account)?.institution, logger, onSettled: (ids) => relayer.settled(ids) },
    );
    await relayer.start();
    cleanups.push(() => relayer.stop());
    await cycles.start();
    cleanups.push(() => cycles.stop());

    const relayed: StoredOperation[] = [];
    const relay = async (ops: StoredOperation[]) => {
      await storage.operations.putAccepted(ops);
      relayed.push(...ops);
      relayer.enqueue(ops);
      await waitFor("the relayed payments executed", async () => (await Promise.all(ops.map((op) => storage.operations.get(op.id)))).every((op) => op?.status === "executed"));
    };
    /** Closes the current cycle and runs the settlement service until the cycle is finalized on-chain. */
    const finalize = async () => {
      const cycle = await currentCycle();
      await closeCycle(cycle);
      await registry.refresh();
      await indexer.syncOnce();
      // A tick already running when the cycle closed does not see it: tick until it is finalized.
      await waitFor(`cycle ${cycle} finalized`, async () => {
        await cycles.tick();
        return s.contracts.ledger.isFinalized(cycle);
      });
    };

    // A batch, then a finalization, then a batch: each component sends right after the other.
    await relay(await pays(5, 0));
    await finalize();
    await relay(await pays(5, 5));
    // Both at once, twice.
    await Promise.all([relay(await pays(5, 10)), finalize()]);
    await Promise.all([relay(await pays(5, 15)), finalize()]);
    await relay(await pays(5, 20));

    const nonceRefusals = proxy.refused.filter((call) => call.method === "eth_sendRawTransaction" && /nonce/i.test(call.message));
    expect(nonceRefusals, "transactions refused for their nonce").to.deep.equal([]);
    // Released: PaymentStatus.Released.
    for (const op of relayed) expect((await s.contracts.escrow.paymentOf(op.paymentId)).status).to.equal(4n);
  });
});
