/**
 * The bank simulator as the custodian's reserve attestor: statements of the reserve account's balance
 * from the bank's own books, recorded on the real token of a local chain, cap the custodian's mints.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";
import { Wallet, encodeBytes32String } from "ethers";
import { pino } from "pino";

import { ReserveAttestor, statementHashOf } from "../../bank-sim/attestor.js";
import { openBankStore, type BankStore } from "../../bank-sim/store.js";
import { deployScenario, startChain, type LocalChain, type Scenario } from "../helpers/chain.js";
import { refusalOf } from "../helpers/errors.js";

describe("bank simulator: reserve attestor (bank-sim/attestor.ts)", function () {
  this.timeout(120_000);

  let chain: LocalChain;
  let s: Scenario;
  let dir: string;
  let store: BankStore;
  const logger = pino({ level: "silent" });
  let deposits = 0;

  before(async function () {
    chain = await startChain();
    s = await deployScenario(chain, { payers: 1, payerFunds: 1_000n });
    dir = await mkdtemp(join(tmpdir(), "settlenet-attestor-"));
    store = await openBankStore(dir);
  });
  after(async function () {
    await store?.close();
    await chain?.close();
    if (dir) await rm(dir, { recursive: true, force: true });
  });

  const attestor = (wallet = s.reserveAttestor) =>
    new ReserveAttestor(
      { deployment: s.deployment, rpcUrl: chain.url, custodian: s.institutions[0]!.address, currency: "CNY", pollMs: 1_000, heartbeatMs: 3_600_000 },
      { store, wallet, logger },
    );
  /** A deposit into the custodian's reserve account, confirmed at once. */
  async function deposit(amount: bigint): Promise<void> {
    const now = Date.now();
    deposits += 1;
    const { transfer } = await store.create({ kind: "deposit", reference: `deposit-${deposits}`, account: "payer account", amount, currency: "CNY" }, now, () => ({ latencyMs: 0, declined: false }));
    expect((await store.settle(transfer.bankRef, now))?.transfer.status).to.equal("confirmed");
  }
  const custodian = () => s.institutions[0]!;

  it("states the reserve account's balance from its books, in numbered statements, and the token caps mints by it", async function () {
    const before = await s.token.reservesOf(custodian().address);
    const outstanding = await s.token.outstandingOf(custodian().address);
    await deposit(outstanding + 500n);
    const statement = await attestor().attestOnce();
    expect(statement).to.deep.include({ balance: (outstanding + 500n).toString(), sequence: (before.sequence + 1n).toString() });
    const latest = await s.token.reservesOf(custodian().address);
    expect([latest.amount, latest.sequence, latest.asOf, latest.statementHash]).to.deep.equal([outstanding + 500n, before.sequence + 1n, BigInt(statement!.asOf), statementHashOf(statement!)]);

    // The custodian mints up to the statement, not a unit more.
    const above = await s.token.connect(custodian()).mint.staticCall(s.payers[0]!.address, 501n, encodeBytes32String("above")).then(() => "minted", (error: { revert?: { name: string } }) => error.revert?.name);
    expect(above).to.equal("ReservesExceeded");
    await (await s.token.connect(custodian()).mint(s.payers[0]!.address, 500n, encodeBytes32String("covered"))).wait();
  });

  it("sends nothing while the books still match the latest statement, and a new one when they change", async function () {
    const a = attestor();
    expect(await a.attestOnce()).to.equal(undefined);
    const { sequence, amount } = await s.token.reservesOf(custodian().address);
    await deposit(250n);
    expect(await a.attestOnce()).to.deep.include({ balance: (amount + 250n).toString(), sequence: (sequence + 1n).toString() });
  });

  it("refuses to attest with a key the registry does not name as the custodian's attestor", async function () {
    const stranger = Wallet.createRandom();
    const error = await refusalOf(attestor(stranger as unknown as typeof s.reserveAttestor).attestOnce());
    expect(error.code).to.equal("NOT_RESERVE_ATTESTOR");
  });
});
