/**
 * The node's one head poll, against a real chain: waiters hear of a new block and of nothing else; the
 * node's clock takes the chain's time from it;
 * an indexer given it catches up on a new block although its own polling timer is set to a minute
 * (so nothing but the head poll can have woken it), and a registry view on a new block but no more
 * often than its poll interval.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet, encodeBytes32String } from "ethers";
import { pino } from "pino";

import { ChainClock } from "../../../node/chain/clock.js";
import { ChainHeads } from "../../../node/chain/heads.js";
import { ChainRegistryView } from "../../../node/chain/registry-view.js";
import { Indexer } from "../../../node/indexer/indexer.js";
import { openStorage } from "../../../node/storage/db.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { waitFor } from "../../helpers/network.js";

describe("one head poll for the node's chain followers", function () {
  this.timeout(60_000);
  const logger = pino({ level: "silent" });
  let chain: LocalChain;
  let s: Scenario;
  const cleanups: (() => Promise<void> | void)[] = [];

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { institutions: 2, merchants: 1, payers: 1 });
  });

  afterEach(async function () {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  after(async function () {
    await chain.close();
  });

  /** Heads over the real provider, counting its reads of the latest block. */
  function countedHeads(pollIntervalMs: number): { heads: ChainHeads; reads: () => number } {
    let reads = 0;
    const provider = {
      getBlock: (tag: "latest") => {
        reads += 1;
        return chain.provider.getBlock(tag);
      },
    };
    const heads = new ChainHeads({ pollIntervalMs }, { provider, logger });
    cleanups.push(() => heads.stop());
    return { heads, reads: () => reads };
  }

  /** `provider`, with `count` told the name of each method called. */
  function counting<T extends object>(provider: T, count: (method: string | symbol) => void): T {
    return new Proxy(provider, {
      get(target, property) {
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== "function") return value;
        return (...args: unknown[]) => {
          count(property);
          return (value as (...a: unknown[]) => unknown).apply(target, args);
        };
      },
    });
  }

  it("tells waiters of a new block, and not of polls that found the same head", async function () {
    const { heads, reads } = countedHeads(20);
    heads.start();
    await waitFor("the first head", () => heads.seen > 0, 10_000, 5);
    const seen = heads.seen;
    let told = false;
    const changed = heads.changed(seen).then(() => (told = true));
    const readsBefore = reads();
    await waitFor("three more polls", () => reads() >= readsBefore + 3, 10_000, 5);
    expect(told, "no new block yet").to.equal(false);
    await chain.provider.send("evm_mine", []);
    await changed;
    expect(heads.seen).to.be.greaterThan(seen);
    // A waiter that read the head before the change is told at once.
    await heads.changed(seen);
  });

  it("tells waiters at once of a block the relayer saw mined, before any poll could, and nothing of one it knows", async function () {
    // Polls a minute apart: only `saw` can have told of the block.
    const { heads, reads } = countedHeads(60_000);
    heads.start();
    await waitFor("the first head", () => heads.seen > 0, 10_000, 5);
    const seen = heads.seen;
    const first = heads.latest as number;
    heads.saw(first);
    expect(heads.seen, "a known block").to.equal(seen);
    await chain.provider.send("evm_mine", []);
    const mined = await chain.provider.getBlockNumber();
    let told = false;
    const changed = heads.changed(seen).then(() => (told = true));
    heads.saw(mined);
    await changed;
    expect(told).to.equal(true);
    expect(heads.latest).to.equal(mined);
    expect(reads(), "no poll since the first").to.equal(1);
    heads.saw(mined - 1);
    expect(heads.latest, "an older block").to.equal(mined);
  });

  it("gives the node's clock the time of the latest block it polled: the clock reads nothing of its own after its first read", async function () {
    const { heads } = countedHeads(20);
    heads.start();
    let clockReads = 0;
    const clockProvider = counting(chain.provider, (method) => {
      if (method === "getBlock") clockReads += 1;
    });
    const clock = new ChainClock({ pollIntervalMs: 20 }, { provider: clockProvider, heads });
    clock.start();
    cleanups.push(() => clock.stop());
    await waitFor("the clock's first read", () => clock.cached() !== undefined, 10_000, 5);
    const readsAfterStart = clockReads;
    // A block an hour ahead of the chain's time: the clock knows of it once the head poll has read it.
    const before = (await chain.provider.getBlock("latest"))!.timestamp;
    const ahead = before + 3_600;
    await chain.provider.send("evm_mine", [ahead]);
    await waitFor("the head poll to read the new block", () => heads.latestTime?.timestamp === ahead, 10_000, 5);
    expect(clock.cached()).to.equal(ahead);
    expect(clock.now()).to.be.within(ahead, ahead + 60);
    expect(clockReads, "no read of the clock's own since its first").to.equal(readsAfterStart);
    expect(readsAfterStart).to.equal(1);
  });

  it("wakes an indexer on a new block although its own timer is a minute long, and a registry view at most once per poll interval", async function () {
    const { heads } = countedHeads(20);
    heads.start();
    const { heads: viewHeads, reads: headReads } = countedHeads(20);
    viewHeads.start();
    // The view's reads of the chain, counted: with no new block it must make none, however long it waits.
    let viewReads = 0;
    const viewProvider = counting(chain.provider, (method) => {
      if (method === "getLogs" || method === "getBlockNumber") viewReads += 1;
    });
    // At most one refresh per poll interval (blocks come faster under load than registry changes need reading).
    const view = new ChainRegistryView({ deployment: s.deployment, pollIntervalMs: 100 }, { provider: viewProvider, heads: viewHeads, logger });
    cleanups.push(() => view.stop());
    await view.start();
    const dir = await mkdtemp(join(tmpdir(), "settlenet-heads-"));
    const storage = await openStorage(dir);
    cleanups.push(async () => {
      await storage.close();
      await rm(dir, { recursive: true, force: true });
    });
    // Woken by the head poll, the indexer catches up to the head it saw: it does not ask the chain again.
    let indexerHeadReads = 0;
    const indexerProvider = counting(chain.provider, (method) => {
      if (method === "getBlockNumber") indexerHeadReads += 1;
    });
    const indexer = new Indexer(
      { deployment: s.deployment, pollIntervalMs: 60_000 },
      { provider: indexerProvider, heads, storage, institutionOf: (account) => view.account(account)?.institution, logger },
    );
    cleanups.push(() => indexer.stop());
    indexer.start();
    // Both have caught up with the chain as it is and wait: for the head poll, or for a minute.
    await indexer.syncOnce();
    await view.refresh();
    const viewReadsBefore = viewReads;
    const headReadsBefore = headReads();
    await waitFor("polls of the head longer than the view's poll interval", () => headReads() >= headReadsBefore + 15, 10_000, 5);
    expect(viewReads, "the view read nothing while no block came").to.equal(viewReadsBefore);
    const indexerHeadReadsBefore = indexerHeadReads;

    const merchant = Wallet.createRandom().address;
    const receipt = await (await s.contracts.registry.connect(s.institutions[0]!).registerMerchant(merchant, 3, 250, encodeBytes32String("new"))).wait();
    await waitFor("the view to show the new merchant", () => view.account(merchant)?.kind === "merchant", 10_000, 10);
    await waitFor("the indexer's cursor at the new block", async () => ((await storage.getCursor()) ?? -1) >= (receipt?.blockNumber ?? Infinity), 10_000, 10);
    expect(indexerHeadReads, "the indexer read no head of its own").to.equal(indexerHeadReadsBefore);
  });
});
