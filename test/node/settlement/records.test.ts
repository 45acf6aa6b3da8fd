/** Settlement records: determinism, kinds, totals, differences and the submitter order (pure functions). */
import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { expect } from "chai";
import { Wallet, ZeroAddress, hexlify, randomBytes } from "ethers";

import { buildCycle, diffRecords, totalsRecordId, type SettlementEvent } from "../../../node/settlement/records.js";
import { LEAF_ENCODING, RECORD_KINDS, leafHashOf, recordValues } from "../../../core/settlement/records.js";
import { statementCsv } from "../../../core/settlement/statement.js";
import { statementOf } from "../../../node/settlement/statement.js";
import type { CycleState } from "../../../node/storage/cycles.js";
import { recordToJson, summaryToJson } from "../../../core/settlement/records.js";

const addr = () => Wallet.createRandom().address;
const id = () => hexlify(randomBytes(32));

describe("settlement records", function () {
  const payer = addr();
  const merchant = addr();
  const merchant2 = addr();
  const institution = addr();
  const token = addr();
  const at = (blockNumber: number, logIndex = 0) => ({ blockNumber, logIndex, txHash: id() });
  const parties = (paymentId: string, m = merchant) => ({ paymentId, payer, merchant: m, token });
  const [p1, p2, p3, p4, p5] = [id(), id(), id(), id(), id()];
  const events: SettlementEvent[] = [
    { type: "released", ...parties(p1), direct: false, merchantAmount: 99_00n, fee: 1_00n, at: at(10) },
    { type: "released", ...parties(p2), direct: true, merchantAmount: 49_50n, fee: 50n, at: at(11) },
    { type: "refunded", ...parties(p3), amount: 5_00n, at: at(12) },
    { type: "refunded", ...parties(p3), amount: 5_00n, at: at(12, 1) },
    { type: "resolved", ...parties(p4, merchant2), payerAmount: 30_00n, merchantAmount: 69_30n, fee: 70n, at: at(13) },
    { type: "reclaimed", ...parties(p5, merchant2), amount: 12_00n, at: at(14) },
    { type: "minted", token, custodian: institution, account: payer, amount: 500_00n, bankRef: id(), at: at(15) },
  ];
  const institutionOf = () => institution;

  it("gives the same records and root whatever order the events come in", function () {
    const a = buildCycle(7n, events, institutionOf);
    const b = buildCycle(7n, [...events].reverse(), institutionOf);
    expect(a.summary.merkleRoot).to.equal(b.summary.merkleRoot);
    expect(a.records.map(leafHashOf)).to.deep.equal(b.records.map(leafHashOf));
    expect(StandardMerkleTree.of(a.records.map(recordValues), LEAF_ENCODING).root).to.equal(a.summary.merkleRoot);
    expect(buildCycle(8n, events, institutionOf).summary.merkleRoot).to.not.equal(a.summary.merkleRoot);
  });

  it("makes one record per movement and totals per merchant and institution", function () {
    const { records, summary } = buildCycle(7n, events, institutionOf);
    const of = (kind: number) => records.filter((r) => r.kind === kind);
    expect(of(RECORD_KINDS.released).map((r) => [r.recordId, r.amount, r.fee])).to.deep.equal([[p1, 100_00n, 1_00n]]);
    expect(of(RECORD_KINDS.directPayment).map((r) => [r.recordId, r.amount, r.fee])).to.deep.equal([[p2, 50_00n, 50n]]);
    // Two equal refunds of one payment in one cycle stay two records; a resolution's payer share is a refund.
    expect(of(RECORD_KINDS.refunded).map((r) => r.amount).sort((a, b) => (a < b ? -1 : 1))).to.deep.equal([5_00n, 5_00n, 30_00n]);
    expect(new Set(of(RECORD_KINDS.refunded).map((r) => r.recordId)).size).to.equal(3);
    expect(of(RECORD_KINDS.resolved).map((r) => [r.amount, r.fee])).to.deep.equal([[70_00n, 70n]]);
    expect(of(RECORD_KINDS.reclaimed).map((r) => r.amount)).to.deep.equal([12_00n]);
    expect(of(RECORD_KINDS.deposit).map((r) => [r.account, r.counterparty, r.amount])).to.deep.equal([[payer, institution, 500_00n]]);

    const totals = of(RECORD_KINDS.merchantTotals);
    const m1 = totals.find((r) => r.account === merchant);
    const m2 = totals.find((r) => r.account === merchant2);
    expect([m1?.amount, m1?.fee, m1?.counterparty, m1?.recordId]).to.deep.equal([150_00n, 1_50n, institution, totalsRecordId("merchant", merchant, token)]);
    expect([m2?.amount, m2?.fee]).to.deep.equal([70_00n, 70n]);
    const inst = of(RECORD_KINDS.institutionTotals);
    expect(inst.map((r) => [r.account, r.counterparty, r.amount, r.fee])).to.deep.equal([[institution, ZeroAddress, 220_00n, 2_20n]]);
    expect([summary.grossAmount, summary.feeAmount, summary.recordCount]).to.deep.equal([220_00n, 2_20n, BigInt(records.length)]);
  });

  it("builds nothing for a cycle without movements", function () {
    const empty = buildCycle(7n, [], institutionOf);
    expect(empty.records).to.deep.equal([]);
    expect(empty.summary.recordCount).to.equal(0n);
  });

  it("names exactly the records two views disagree on", function () {
    const local = buildCycle(7n, events, institutionOf).records;
    const changed = events.map((e) => (e.type === "released" && e.paymentId === p1 ? { ...e, merchantAmount: e.merchantAmount + 1n } : e));
    const reference = buildCycle(7n, changed.filter((e) => e.type !== "reclaimed"), institutionOf).records;
    const differences = diffRecords(local, reference);
    const named = differences.map((d) => `${d.kind}:${d.recordId === p1 || d.recordId === p5 ? "payment" : "totals"}`).sort();
    // p1's release and its merchant's and institution's totals; p5's reclaim (missing on the reference side).
    expect(named).to.deep.equal(["institutionTotals:totals", "merchantTotals:totals", "reclaimed:payment", "released:payment"]);
    const reclaim = differences.find((d) => d.kind === "reclaimed");
    expect(reclaim?.local?.amount).to.equal("1200");
    expect(reclaim?.reference).to.equal(undefined);
    expect(diffRecords(local, reference, ["reclaimed"]).map((d) => d.recordId)).to.deep.equal([p5]);
    expect(diffRecords(local, local)).to.deep.equal([]);
  });

  it("writes a merchant statement whose totals add up, also as CSV", function () {
    const built = buildCycle(7n, events, institutionOf);
    const state: CycleState = { cycleId: "7", start: 0, end: 1, fromBlock: 1, toBlock: 20, status: "finalized", summary: summaryToJson(built.summary), builtAtMs: 0 };
    const statement = statementOf(state, built.records.map(recordToJson), { type: "merchant", account: merchant });
    expect(statement.totals).to.deep.equal([{ token, gross: "15000", fee: "150", net: "14850", refunded: "1000", reclaimed: "0", payments: 2, deposits: "0", payouts: "0" }]);
    const lines = statementCsv(statement).trim().split("\n");
    expect(lines).to.have.length(1 + statement.records.length + 1);
    expect(lines.at(-1)).to.equal(`7,total,merchant,,${merchant},,${token},15000,150,14850,1000,0,2`);
  });
});
