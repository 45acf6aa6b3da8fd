/**
 * The balance mirror and the funds check, on a real local chain and a real LevelDB: the mirror agrees
 * with the token's own balances and allowances (also when a new indexer resumes from the stored
 * cursor), pending pays count against the payer's balance until the mirror holds the block that paid
 * them (or they fail), pending redemptions and burns against the balance only, a group's pays add up, a
 * shortfall is read again from the chain before it refuses, and nothing is judged while the mirror lags.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { MaxUint256, ZeroHash, hexlify, parseEther, randomBytes } from "ethers";
import { pino } from "pino";

import type { ChangeDraft } from "../../../core/api/changes.js";
import type { StoredOperation } from "../../../core/records.js";
import type { Operation } from "../../../core/operations/index.js";
import { BalanceIndexer } from "../../../node/indexer/balances.js";
import { openStorage, type NodeStorage } from "../../../node/storage/db.js";
import { FundsGuard } from "../../../node/validation/funds.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../../helpers/chain.js";
import { refusal } from "../../helpers/errors.js";
import { wireTerms } from "../../helpers/operations.js";

const silent = pino({ level: "silent" });
const FUNDS = 1_000n;

describe("balance mirror and funds check", function () {
  this.timeout(120_000);
  let chain: LocalChain;
  let s: Scenario;
  let dir: string;
  let storage: NodeStorage;
  let token: string;
  let escrow: string;

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { payers: 2, payerFunds: FUNDS });
    token = await s.token.getAddress();
    escrow = s.deployment.contracts.escrow;
    dir = await mkdtemp(join(tmpdir(), "settlenet-funds-"));
    storage = await openStorage(dir);
  });
  after(async function () {
    await storage?.close();
    await rm(dir, { recursive: true, force: true });
    await chain?.close();
  });

  const payer = (i: number) => s.payers[i]?.address ?? "";
  const indexer = () => new BalanceIndexer({ deployment: s.deployment }, { provider: chain.provider, storage, logger: silent });
  const pay = (i: number, amount: bigint) => ({ kind: "pay", terms: { payer: payer(i), token, amount }, signature: "0x" }) as unknown as Operation;
  const head = () => chain.provider.getBlockNumber();

  function guard(mirror: BalanceIndexer, headNow: number) {
    return new FundsGuard({ escrow, maxLagBlocks: 4 }, { balances: storage.balances, provider: chain.provider, mirrored: () => mirror.cursor, head: () => headNow });
  }

  async function mirrorAgrees(...accounts: string[]) {
    const mirrored = await storage.balances.getMany(accounts.map((account) => ({ token, account })));
    const onChain = await Promise.all(accounts.map(async (account) => ({ balance: (await s.token.balanceOf(account)).toString(), escrowAllowance: (await s.token.allowance(account, escrow)).toString() })));
    expect(mirrored).to.deep.equal(onChain);
  }

  it("mirrors each payer's balance and allowance to the escrow, and a new indexer resumes from the stored cursor", async function () {
    const first = indexer();
    expect(await first.syncOnce()).to.equal(await head());
    await mirrorAgrees(payer(0), payer(1));
    expect((await storage.balances.getMany([{ token, account: payer(0) }]))[0]).to.deep.equal({ balance: FUNDS.toString(), escrowAllowance: MaxUint256.toString() });

    // Payer 0 sends 300 to payer 1 and lowers its allowance: a new indexer (a restart) picks both up.
    const wallet = s.payers[0];
    if (!wallet) throw new Error("no payer");
    await (await s.admin.sendTransaction({ to: wallet.address, value: parseEther("1") })).wait();
    const asPayer = s.token.connect(wallet.connect(chain.provider));
    await (await asPayer.transfer(payer(1), 300n)).wait();
    await (await asPayer.approve(escrow, 650n)).wait();
    const cursor = await storage.balances.getCursor();
    const second = indexer();
    expect(await second.syncOnce()).to.equal(await head());
    expect(await storage.balances.getCursor()).to.be.greaterThan(cursor ?? Infinity);
    await mirrorAgrees(payer(0), payer(1));
    expect((await storage.balances.getMany([{ token, account: payer(0) }]))[0]).to.deep.equal({ balance: "700", escrowAllowance: "650" });
  });

  it("counts pending pays against the balance and allowance until released, and a group's pays add up", async function () {
    const mirror = indexer();
    await mirror.syncOnce();
    const funds = guard(mirror, await head());
    // Payer 1: 1,300 and an unlimited allowance.
    const id = hexlify(randomBytes(32));
    funds.reserve(id, pay(1, 1_000n));
    let available = await funds.prepare([pay(1, 301n)]);
    expect(refusal(() => funds.check(pay(1, 301n), available)).code).to.equal("PAYER_INSUFFICIENT_BALANCE");
    expect(() => funds.check(pay(1, 300n), available)).not.to.throw();
    // Executed in a block the mirror has not reached: still pending until the mirror holds that block.
    const cursor = mirror.cursor ?? 0;
    funds.paid(id, cursor + 1);
    expect(funds.pendingPays).to.equal(1);
    funds.mirroredUpTo(cursor);
    expect(funds.pendingPays).to.equal(1);
    funds.mirroredUpTo(cursor + 1);
    expect(funds.pendingPays).to.equal(0);
    // Executed in a block the mirror holds: released at once; a failed pay is released too.
    funds.reserve(id, pay(1, 1_000n));
    funds.paid(id, cursor);
    expect(funds.pendingPays).to.equal(0);
    funds.reserve(id, pay(1, 1_000n));
    funds.release(id);
    expect(funds.pendingPays).to.equal(0);
    available = await funds.prepare([pay(1, 301n)]);
    expect(() => funds.check(pay(1, 301n), available)).not.to.throw();

    // Payer 0: 700, allowance 650. One group of two pays of 400: the second does not fit.
    const group = [pay(0, 400n), pay(0, 400n)];
    available = await funds.prepare(group);
    expect(() => funds.check(group[0] as Operation, available)).not.to.throw();
    funds.reserve(hexlify(randomBytes(32)), group[0] as Operation);
    expect(refusal(() => funds.check(group[1] as Operation, available)).code).to.equal("PAYER_INSUFFICIENT_BALANCE");
    // Within the balance, beyond the allowance (400 pending + 251 > 650).
    expect(refusal(() => funds.check(pay(0, 251n), available)).code).to.equal("PAYER_ALLOWANCE_MISSING");
    expect(funds.confirmations).to.be.greaterThan(0);
  });

  it("counts pending redemptions and burns against the account's balance, not its allowance to the escrow, until they fail or are executed and mirrored", async function () {
    // Payer 0 allows the escrow half its balance.
    const wallet = s.payers[0];
    if (!wallet) throw new Error("no payer");
    await (await s.admin.sendTransaction({ to: wallet.address, value: parseEther("1") })).wait();
    const balance = await s.token.balanceOf(payer(0));
    const quarter = balance / 4n;
    await (await s.token.connect(wallet.connect(chain.provider)).approve(escrow, 2n * quarter)).wait();
    const mirror = indexer();
    await mirror.syncOnce();
    expect((await storage.balances.getMany([{ token, account: payer(0) }]))[0]).to.deep.equal({ balance: balance.toString(), escrowAllowance: (2n * quarter).toString() });
    const funds = guard(mirror, mirror.cursor ?? 0);

    const [redeemId, burnId, otherId] = [hexlify(randomBytes(32)), hexlify(randomBytes(32)), hexlify(randomBytes(32))];
    funds.reserve(redeemId, { kind: "redeem", token, holder: payer(0), custodian: payer(1), amount: quarter } as unknown as Operation);
    funds.reserve(burnId, { kind: "burn", token, from: payer(0), amount: quarter } as unknown as Operation);
    // A redemption of another account takes nothing from this one.
    funds.reserve(otherId, { kind: "redeem", token, holder: payer(1), custodian: payer(1), amount: balance } as unknown as Operation);
    expect([funds.pendingDebits, funds.pendingPays]).to.deep.equal([3, 0]);
    let available = await funds.prepare([pay(0, 2n * quarter + 1n)]);
    // Half the balance is pending: the other half fits, in the balance and in the whole allowance.
    expect(() => funds.check(pay(0, 2n * quarter), available)).not.to.throw();
    expect(refusal(() => funds.check(pay(0, 2n * quarter + 1n), available)).code).to.equal("PAYER_INSUFFICIENT_BALANCE");

    // The burn failed; the redemption was executed in a block the mirror has not reached yet.
    const cursor = mirror.cursor ?? 0;
    const execution = { txHash: hexlify(randomBytes(32)), blockNumber: cursor + 1, relayer: payer(1), timestamp: 1 };
    funds.onChanges([
      { type: "operation", id: burnId, kind: "burn", paymentId: ZeroHash, status: "failed", error: { code: "ACCOUNT_FROZEN", message: "frozen" } },
      { type: "operation", id: redeemId, kind: "redeem", paymentId: ZeroHash, status: "executed", execution },
    ] as ChangeDraft[]);
    expect(funds.pendingDebits).to.equal(2);
    available = await funds.prepare([pay(0, 2n * quarter + 1n)]);
    // A quarter pending: now only the allowance stops the larger pay.
    expect(refusal(() => funds.check(pay(0, 2n * quarter + 1n), available)).code).to.equal("PAYER_ALLOWANCE_MISSING");
    funds.mirroredUpTo(cursor + 1);
    expect(funds.pendingDebits).to.equal(1);
  });

  it("reads the chain before refusing: a payer funded after the mirror's block is not refused", async function () {
    const mirror = indexer();
    await mirror.syncOnce();
    const [mirrored] = await storage.balances.getMany([{ token, account: payer(1) }]);
    // Payer 0 (gas funded above) sends payer 1 another 500, after the mirror's block.
    const wallet = s.payers[0];
    if (!wallet) throw new Error("no payer");
    await (await s.token.connect(wallet.connect(chain.provider)).transfer(payer(1), 500n)).wait();
    const funds = guard(mirror, mirror.cursor ?? 0);
    const amount = BigInt(mirrored?.balance ?? "0") + 1n;
    const available = await funds.prepare([pay(1, amount)]);
    expect(funds.confirmations).to.equal(1);
    expect(() => funds.check(pay(1, amount), available)).not.to.throw();
    expect(refusal(() => funds.check(pay(1, amount + 500n), available)).code).to.equal("PAYER_INSUFFICIENT_BALANCE");
    // The mirror itself was not touched: it moves only with its own steps.
    expect((await storage.balances.getMany([{ token, account: payer(1) }]))[0]).to.deep.equal(mirrored);
  });

  it("rebuilds the pending debits from the stored pays still waiting (a restart)", async function () {
    const mirror = indexer();
    await mirror.syncOnce();
    const stored = (i: number, amount: bigint, status: StoredOperation["status"]): StoredOperation => {
      const id = hexlify(randomBytes(32));
      const op = { kind: "pay", terms: { ...wireTerms({ payer: payer(i), token }), amount: amount.toString() }, signature: "0x" + "aa".repeat(65) } as StoredOperation["op"];
      return { id, kind: "pay", paymentId: id, op, signer: payer(i), origin: "gossip", status, receivedAtMs: Date.now(), updatedAtMs: Date.now() };
    };
    const [waiting, submitted, executed] = [stored(1, 400n, "accepted"), stored(1, 300n, "submitted"), stored(1, 5_000n, "accepted")];
    await storage.operations.putAccepted([waiting, submitted, executed]);
    await storage.operations.update(executed.id, { status: "executed", execution: { txHash: hexlify(randomBytes(32)), blockNumber: 1, relayer: payer(0), timestamp: 1 } });

    const funds = guard(mirror, mirror.cursor ?? 0);
    expect(await funds.restore(storage.operations)).to.equal(2);
    const [mirrored] = await storage.balances.getMany([{ token, account: payer(1) }]);
    const left = BigInt(mirrored?.balance ?? "0") - 700n;
    const available = await funds.prepare([pay(1, left + 1n)]);
    expect(refusal(() => funds.check(pay(1, left + 1n), available)).code).to.equal("PAYER_INSUFFICIENT_BALANCE");
    expect(() => funds.check(pay(1, left), available)).not.to.throw();
  });

  it("judges nothing while the mirror lags more than its bound behind the head", async function () {
    const mirror = indexer();
    await mirror.syncOnce();
    const lagging = guard(mirror, (mirror.cursor ?? 0) + 5);
    expect(await lagging.prepare([pay(0, 10n ** 30n)])).to.equal(undefined);
    expect(() => lagging.check(pay(0, 10n ** 30n), undefined)).not.to.throw();
    const current = guard(mirror, (mirror.cursor ?? 0) + 4);
    const available = await current.prepare([pay(0, 10n ** 30n)]);
    expect(refusal(() => current.check(pay(0, 10n ** 30n), available)).code).to.equal("PAYER_INSUFFICIENT_BALANCE");
  });
});
