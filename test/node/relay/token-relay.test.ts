/**
 * Token operations through the node's real parts on a real chain: the shared validation core (coded
 * refusals that change nothing), the pipeline's durable store, the relayer's per-token submission
 * (executed once, already-executed as success, chain refusals decoded without spending a transaction),
 * the token indexer's state, and OperationRepository.updateMany.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Contract, JsonRpcProvider, Network, Wallet, ZeroHash, type HDNodeWallet } from "ethers";
import { pino } from "pino";
import { Registry } from "prom-client";

import { ChainRegistryView } from "../../../node/chain/registry-view.js";
import { SettlenetError } from "../../../core/errors.js";
import { TokenIndexer } from "../../../node/indexer/tokens.js";
import { OperationPipeline } from "../../../node/pipeline.js";
import { loadArtifact } from "../../../core/protocol/artifacts.js";
import { descriptorOf, tokenNamesOf, type TokenOperationInput } from "../../../core/operations/index.js";
import { BatchRelayer } from "../../../node/relay/relayer.js";
import { TransactionSender } from "../../../node/relay/sender.js";
import type { ValidationContext } from "../../../node/services.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";
import type { StoredOperation } from "../../../core/records.js";
import { OutcomeMapper } from "../../../node/validation/outcome.js";
import { RiskEngine } from "../../../node/validation/risk.js";
import { validateOperation } from "../../../node/validation/validate.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { chainNow, freshNonce, randomRef, signedTokenOp, tokenOperationIdOf } from "../../helpers/tokens.js";
import { waitFor } from "../../helpers/wait.js";

const logger = pino({ level: process.env["TOKEN_LOG_LEVEL"] ?? "silent" });

/** Polls `check` (test/helpers/wait.ts) for up to 20 s. */
const waitUntil = (what: string, check: () => Promise<boolean>, timeoutMs = 20_000) => waitFor(what, check, timeoutMs, 50);

describe("token operations in the node (validation, relay, token indexer)", function () {
  this.timeout(90_000);
  let chain: LocalChain;
  let s: Scenario;
  let view: ChainRegistryView;
  let storage: NodeStorage;
  let dir: string;
  let ctx: ValidationContext;
  let token: Contract;
  let tokenAddress: string;
  let nowSeconds = 0;
  const risk = new RiskEngine({});
  const stops: (() => Promise<void>)[] = [];

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { institutions: 2, payers: 3 });
    view = new ChainRegistryView({ deployment: s.deployment, pollIntervalMs: 200 }, { provider: chain.provider, logger });
    await view.start();
    dir = await mkdtemp(join(tmpdir(), "settlenet-tokens-"));
    storage = await openStorage(dir);
    tokenAddress = s.deployment.tokens["CNY"]?.address ?? "";
    token = new Contract(tokenAddress, loadArtifact("SettlementToken").abi, chain.provider);
    nowSeconds = Number(await chainNow(s));
    ctx = {
      chainId: BigInt(s.deployment.chainId),
      escrow: s.deployment.contracts.escrow,
      registry: view,
      storage,
      rules: {},
      nowSeconds: () => nowSeconds,
      tokenNames: tokenNamesOf(s.deployment),
    };
  });

  afterEach(async function () {
    for (const stop of stops.splice(0).reverse()) await stop();
  });

  after(async function () {
    await view?.stop();
    await storage?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
    await chain?.close();
  });

  const custodian = () => s.institutions[0] as HDNodeWallet;
  const other = () => s.institutions[1] as HDNodeWallet;
  const payer = (i = 0) => s.payers[i]?.address ?? "";
  /** A statement of the custodian's reserves (sequence and as-of time far enough ahead to be taken as new). */
  const statement = (amount: string) => ({ kind: "attestReserves" as const, custodian: custodian().address, amount, asOf: "1", sequence: String(freshNonce() % 2n ** 63n), statementHash: randomRef() });
  const balanceOf = async (account: string) => (await token.getFunction("balanceOf")(account)) as bigint;

  async function refusalCode(input: unknown): Promise<string> {
    try {
      await validateOperation(input, ctx, "api", risk);
    } catch (error) {
      if (error instanceof SettlenetError) return error.code;
      throw error;
    }
    return "ACCEPTED";
  }

  /** A relayer (and the token indexer feeding it) for institution `wallet`, started; stopped after the test. */
  async function startRelayer(wallet: HDNodeWallet, store: NodeStorage = storage) {
    const provider = new JsonRpcProvider(chain.url, Network.from(BigInt(s.deployment.chainId)), { staticNetwork: true, cacheTimeout: -1, pollingInterval: 100 });
    const sender = new TransactionSender({ receiptPollMs: 50 }, { wallet: wallet.connect(provider), logger });
    const relayer = new BatchRelayer(
      { deployment: s.deployment, institutionId: wallet.address, batchIntervalMs: 50, failoverTimeoutMs: 60_000 },
      { sender, storage: store, logger, activeInstitutions: () => view.activeInstitutions() },
    );
    const indexer = new TokenIndexer({ deployment: s.deployment, pollIntervalMs: 100 }, { provider, storage: store, logger, onSettled: (ids) => relayer.settled(ids) });
    await relayer.start();
    indexer.start();
    stops.push(async () => {
      await indexer.stop();
      await relayer.stop();
      provider.destroy();
    });
    return { relayer, indexer };
  }

  function pipelineWith(relayer: BatchRelayer) {
    return new OperationPipeline({ readOnly: false }, ctx, { logger, outcomes: new OutcomeMapper({ logger, metrics: new Registry() }), risk, relayer });
  }

  async function statusOf(id: string): Promise<StoredOperation | undefined> {
    return storage.operations.get(id);
  }

  describe("validation", function () {
    it("accepts a custodian's mint and a regulator's freeze, with id = digest and the recovered signer", async function () {
      const mint = await signedTokenOp(s, custodian(), { kind: "mint", to: payer(), amount: "100", bankRef: randomRef() });
      const validated = await validateOperation(mint, ctx, "api", risk);
      expect(validated.id).to.equal(tokenOperationIdOf(s, mint));
      expect(validated.signer).to.equal(custodian().address);
      expect(validated.paymentId).to.equal(ZeroHash);
      const freeze = await signedTokenOp(s, s.regulator, { kind: "freeze", account: payer(), frozen: true, reason: randomRef() });
      expect((await validateOperation(freeze, ctx, "gossip", risk)).signer).to.equal(s.regulator.address);
    });

    it("refuses each bad token operation with its code and stores nothing", async function () {
      const deadlinePast = (BigInt(nowSeconds) - 1n).toString();
      const good = await signedTokenOp(s, custodian(), { kind: "mint", to: payer(), amount: "100", bankRef: randomRef() });
      const stranger = Wallet.createRandom();
      const cases: [string, unknown][] = [
        // Signed by an institution that is no custodian of CNY, and by a payer.
        ["NOT_CUSTODIAN", await signedTokenOp(s, other(), { kind: "mint", to: payer(), amount: "100", bankRef: randomRef() })],
        ["NOT_CUSTODIAN", await signedTokenOp(s, s.payers[1] as HDNodeWallet, { kind: "mint", to: payer(), amount: "1", bankRef: randomRef() })],
        // Reserves stated by anyone but the custodian's attestor: the custodian itself, or a payer.
        ["NOT_RESERVE_ATTESTOR", await signedTokenOp(s, custodian(), statement("1000000000000"))],
        ["NOT_RESERVE_ATTESTOR", await signedTokenOp(s, s.payers[1] as HDNodeWallet, statement("1"))],
        // A freeze by a custodian (regulators only).
        ["NOT_REGULATOR", await signedTokenOp(s, custodian(), { kind: "freeze", account: payer(), frozen: true, reason: randomRef() })],
        // Not a settlement token (the escrow's address).
        ["UNSUPPORTED_TOKEN", await signedTokenOp(s, custodian(), { kind: "mint", token: s.deployment.contracts.escrow, to: payer(), amount: "1", bankRef: randomRef() })],
        ["EXPIRED", await signedTokenOp(s, custodian(), { kind: "mint", to: payer(), amount: "100", bankRef: randomRef(), deadline: deadlinePast })],
        // A signature by nobody the registry knows (tampered, or for another chain).
        ["BAD_SIGNATURE", await signedTokenOp(s, stranger, { kind: "mint", to: payer(), amount: "100", bankRef: randomRef() })],
        ["BAD_SIGNATURE", { ...good, signature: good.signature.slice(0, -2) + "1f" }],
        // The signed amount changed after signing: recovers to someone else.
        ["BAD_SIGNATURE", { ...good, amount: "101" }],
        ["ACCOUNT_NOT_PERMITTED", await signedTokenOp(s, custodian(), { kind: "mint", to: stranger.address, amount: "100", bankRef: randomRef() })],
        ["MALFORMED", { ...good, amount: 100 }],
        ["MALFORMED", { ...good, memo: "x" }],
      ];
      const supply = (await token.getFunction("totalSupply")()) as bigint;
      for (const [code, input] of cases) {
        expect(await refusalCode(input), JSON.stringify(input).slice(0, 80)).to.equal(code);
        // Each refusal is one its kind's descriptor lists.
        expect(descriptorOf((input as TokenOperationInput).kind).refusals).to.include(code);
      }
      expect(await storage.operations.listByStatus("accepted", 100)).to.have.length(0);
      expect((await token.getFunction("totalSupply")()) as bigint).to.equal(supply);
    });

    it("refuses a nonce the custodian already used on this token, but not the same nonce on another token's space or the escrow's", async function () {
      const nonce = freshNonce().toString();
      const first = await signedTokenOp(s, custodian(), { kind: "mint", to: payer(), amount: "1", bankRef: randomRef(), nonce });
      const validated = await validateOperation(first, ctx, "api", risk);
      const now = Date.now();
      await storage.operations.putAccepted([
        { id: validated.id, kind: "mint", paymentId: ZeroHash, op: first, signer: validated.signer, origin: "gossip", status: "accepted", receivedAtMs: now, updatedAtMs: now },
      ]);
      const again = await signedTokenOp(s, custodian(), { kind: "mint", to: payer(), amount: "2", bankRef: randomRef(), nonce });
      expect(await refusalCode(again)).to.equal("NONCE_USED");
      expect(await refusalCode(first)).to.equal("DUPLICATE");
      expect(await storage.operations.nonceSeen(custodian().address, BigInt(nonce), tokenAddress)).to.equal(true);
      expect(await storage.operations.nonceSeen(custodian().address, BigInt(nonce))).to.equal(false);
      // Token operations belong to no payment.
      expect(await storage.operations.listByPayment(ZeroHash)).to.have.length(0);
    });
  });

  describe("relay and token indexer", function () {
    it("executes an API mint once through mintWithSig; the indexer records supply per custodian and marks it executed", async function () {
      const { relayer } = await startRelayer(custodian());
      const pipeline = pipelineWith(relayer);
      const to = payer(1);
      const before = await balanceOf(to);
      const mint = await signedTokenOp(s, custodian(), { kind: "mint", to, amount: "12345", bankRef: randomRef() });
      const [outcome] = await pipeline.submit([mint]);
      expect(outcome?.accepted).to.equal(true);
      const id = tokenOperationIdOf(s, mint);
      await waitUntil("the mint to be executed", async () => (await statusOf(id))?.status === "executed");
      const stored = await statusOf(id);
      expect(stored?.kind).to.equal("mint");
      expect(stored?.execution?.relayer).to.equal(custodian().address);
      expect(await balanceOf(to)).to.equal(before + 12345n);
      const minted = await token.queryFilter(token.filters["Minted"]?.(null, to) ?? "Minted");
      expect(minted.filter((log) => log.transactionHash === stored?.execution?.txHash)).to.have.length(1);
      await waitUntil("the token index to include the mint", async () => {
        const record = await storage.tokens.get(tokenAddress);
        return record?.custodians[custodian().address]?.outstanding === String(await token.getFunction("outstandingOf")(custodian().address));
      });
      const record = await storage.tokens.get(tokenAddress);
      expect(record?.totalSupply).to.equal(String(await token.getFunction("totalSupply")()));
      expect(record?.custodians[custodian().address]?.custodian).to.equal(true);
      expect(record?.latestAttestationAt).to.be.greaterThan(0);
    });

    it("counts a token operation someone else already executed as executed, without executing it again", async function () {
      const to = payer(2);
      const mint = await signedTokenOp(s, custodian(), { kind: "mint", to, amount: "77", bankRef: randomRef() });
      const validated = await validateOperation(mint, ctx, "api", risk);
      const now = Date.now();
      await storage.operations.putAccepted([
        { id: validated.id, kind: "mint", paymentId: ZeroHash, op: mint, signer: validated.signer, origin: "api", status: "accepted", receivedAtMs: now, updatedAtMs: now },
      ]);
      // Another relayer executes it first, straight on the token.
      const m = JSON.parse(JSON.stringify(mint)) as Extract<TokenOperationInput, { kind: "mint" }>;
      await (await (token.connect(other().connect(chain.provider)) as Contract).getFunction("mintWithSig")(m.to, m.amount, m.bankRef, m.nonce, m.deadline, m.signature)).wait();
      const after = await balanceOf(to);
      const { relayer } = await startRelayer(custodian());
      relayer.enqueue([(await statusOf(validated.id)) as StoredOperation]);
      await waitUntil("the mint to be reported executed", async () => (await statusOf(validated.id))?.status === "executed");
      expect(await balanceOf(to)).to.equal(after);
    });

    it("marks a mint over the custodian's reserves failed with the decoded ReservesExceeded, sending no transaction", async function () {
      const { relayer } = await startRelayer(custodian());
      const pipeline = pipelineWith(relayer);
      const reserves = (await token.getFunction("reservesOf")(custodian().address)) as { amount: bigint };
      const to = payer(0);
      const before = await balanceOf(to);
      const txCount = await chain.provider.getTransactionCount(custodian().address);
      const mint = await signedTokenOp(s, custodian(), { kind: "mint", to, amount: (reserves.amount + 1n).toString(), bankRef: randomRef() });
      const [outcome] = await pipeline.submit([mint]);
      expect(outcome?.accepted).to.equal(true);
      const id = tokenOperationIdOf(s, mint);
      await waitUntil("the mint to fail", async () => (await statusOf(id))?.status === "failed");
      const stored = await statusOf(id);
      expect(stored?.error?.code).to.equal("ReservesExceeded");
      expect(stored?.error?.args?.[0]).to.equal(custodian().address);
      expect(await balanceOf(to)).to.equal(before);
      expect(await chain.provider.getTransactionCount(custodian().address)).to.equal(txCount);
    });

    it("relays a regulator's freeze and unfreeze; the registry mirror and the token index follow", async function () {
      const { relayer } = await startRelayer(other());
      const pipeline = pipelineWith(relayer);
      const account = payer(2);
      const freeze = await signedTokenOp(s, s.regulator, { kind: "freeze", account, frozen: true, reason: randomRef() });
      expect((await pipeline.submit([freeze]))[0]?.accepted).to.equal(true);
      const freezeId = tokenOperationIdOf(s, freeze);
      await waitUntil("the freeze to execute", async () => (await statusOf(freezeId))?.status === "executed");
      expect(await token.getFunction("isFrozen")(account)).to.equal(true);
      await waitUntil("the registry mirror to see the freeze", async () => view.isFrozen(tokenAddress, account));
      await waitUntil("the token index to list the frozen account", async () => (await storage.tokens.frozenAccount(tokenAddress, account)) !== undefined);
      expect((await storage.tokens.listFrozen(tokenAddress, 10)).map((f) => f.account)).to.include(account);
      expect((await storage.tokens.frozenAccount(tokenAddress, account))?.regulator).to.equal(s.regulator.address);

      // A mint to the frozen account is refused before it reaches the chain.
      const mint = await signedTokenOp(s, custodian(), { kind: "mint", to: account, amount: "1", bankRef: randomRef() });
      expect(await refusalCode(mint)).to.equal("ACCOUNT_FROZEN");

      // Freezing again is refused by the chain (FreezeStateUnchanged), decoded.
      const twice = await signedTokenOp(s, s.regulator, { kind: "freeze", account, frozen: true, reason: randomRef() });
      expect((await pipeline.submit([twice]))[0]?.accepted).to.equal(true);
      const twiceId = tokenOperationIdOf(s, twice);
      await waitUntil("the second freeze to fail", async () => (await statusOf(twiceId))?.status === "failed");
      expect((await statusOf(twiceId))?.error?.code).to.equal("FreezeStateUnchanged");

      const unfreeze = await signedTokenOp(s, s.regulator, { kind: "freeze", account, frozen: false, reason: randomRef() });
      expect((await pipeline.submit([unfreeze]))[0]?.accepted).to.equal(true);
      await waitUntil("the unfreeze to execute", async () => (await statusOf(tokenOperationIdOf(s, unfreeze)))?.status === "executed");
      await waitUntil("the token index to drop the account", async () => (await storage.tokens.frozenAccount(tokenAddress, account)) === undefined);
      await waitUntil("the registry mirror to see the unfreeze", async () => !view.isFrozen(tokenAddress, account));
      expect((await storage.tokens.get(tokenAddress))?.frozenAccounts).to.equal(0);
      const events = await storage.tokens.listEvents(tokenAddress, 2);
      expect(events.map((e) => [e.event, e.args["frozen"]])).to.deep.equal([["FreezeChanged", false], ["FreezeChanged", true]]);
    });
  });

  describe("OperationRepository.updateMany", function () {
    async function stored(n: number): Promise<StoredOperation[]> {
      const ops: StoredOperation[] = [];
      for (let i = 0; i < n; i++) {
        const op = await signedTokenOp(s, s.reserveAttestor, statement(String(i)));
        const now = Date.now();
        ops.push({ id: tokenOperationIdOf(s, op), kind: "attestReserves", paymentId: ZeroHash, op, signer: s.reserveAttestor.address, origin: "api", status: "accepted", receivedAtMs: now + i, updatedAtMs: now });
      }
      await storage.operations.putAccepted(ops);
      return ops;
    }

    it("applies many status changes in one batch and moves the status index", async function () {
      const [a, b, c] = await stored(3);
      if (!a || !b || !c) throw new Error("no ops");
      const before = (await storage.operations.listByStatus("submitted", 1000)).length;
      const results = await storage.operations.updateMany([
        { id: a.id, patch: { status: "submitted", txHash: "0x" + "aa".repeat(32) } },
        { id: b.id, patch: { status: "submitted", txHash: "0x" + "aa".repeat(32) } },
        { id: c.id, patch: { status: "submitted" } },
        // A second change of the same id applies after the first.
        { id: c.id, patch: { status: "failed", error: { code: "ReservesExceeded", message: "x", args: [] } } },
      ]);
      expect(results.map((r) => r.status)).to.deep.equal(["submitted", "submitted", "submitted", "failed"]);
      expect((await storage.operations.get(a.id))?.txHash).to.equal("0x" + "aa".repeat(32));
      expect((await storage.operations.get(c.id))?.status).to.equal("failed");
      const submitted = await storage.operations.listByStatus("submitted", 1000);
      expect(submitted.length).to.equal(before + 2);
      const failedIds = (await storage.operations.listByStatus("failed", 1000)).map((op) => op.id);
      expect(failedIds).to.include(c.id);
      expect((await storage.operations.listByStatus("accepted", 1000)).map((op) => op.id)).to.not.include.members([a.id, b.id, c.id]);
      // A final status stays final.
      await storage.operations.updateMany([{ id: c.id, patch: { status: "accepted" } }]);
      expect((await storage.operations.get(c.id))?.status).to.equal("failed");
    });

    it("writes nothing when one id is unknown (NOT_FOUND)", async function () {
      const [a] = await stored(1);
      if (!a) throw new Error("no op");
      try {
        await storage.operations.updateMany([
          { id: a.id, patch: { status: "submitted" } },
          { id: "0x" + "ee".repeat(32), patch: { status: "submitted" } },
        ]);
        expect.fail("expected NOT_FOUND");
      } catch (error) {
        expect((error as SettlenetError).code).to.equal("NOT_FOUND");
      }
      expect((await storage.operations.get(a.id))?.status).to.equal("accepted");
    });
  });
});
