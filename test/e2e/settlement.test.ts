/**
 * Settlement cycles, audit API and statements on a network of real node processes (4 institutions, 1
 * regulator) and a real chain. Cycle boundaries are chain time, so the test moves the chain's clock
 * to close cycles instead of waiting.
 */
import { execFile } from "node:child_process";
import { join } from "node:path";
import { promisify } from "node:util";

import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { expect } from "chai";
import { encodeBytes32String, getAddress, hexlify, randomBytes, type Signer } from "ethers";
import type { z } from "zod";

import { signEscrowOperation, termsToJson, type EscrowOperationInput, type PaymentTerms, type UnsignedEscrowOperation } from "../../core/operations/index.js";
import { signCycle } from "../../node/settlement/attestation.js";
import { LEAF_ENCODING, RECORD_KINDS, recordFromJson, summaryFromJson } from "../../core/settlement/records.js";
import { openStorage } from "../../node/storage/db.js";
import type { NodeApiError } from "../../core/api/client.js";
import type { auditListQuery } from "../../core/api/audit.js";
import type { PaymentRecord } from "../../core/records.js";
import { cliArgs } from "../helpers/cli.js";
import { refusalOf } from "../helpers/errors.js";
import { getJson, launchedCredentials, launchNetwork, nodeApi, nodeFetch, waitFor, waitForOperation, type NodeHandle, type TestNetwork } from "../helpers/network.js";
import { signedPay, termsFor } from "../helpers/operations.js";

const execFileAsync = promisify(execFile);
const CYCLE = 3_600;

/** The custom error a contract call reverts with (as ethers decodes it), or "none". */
async function revertOf(call: Promise<unknown>): Promise<string> {
  try {
    await call;
  } catch (error) {
    const revert = (error as { revert?: { name?: string } }).revert;
    if (revert?.name) return revert.name;
    throw error;
  }
  return "none";
}

describe("settlement cycles, audit API and statements (4 institutions + regulator, real processes)", function () {
  this.timeout(300_000);
  let net: TestNetwork;
  let node: (name: string) => NodeHandle;
  let firstCycle: bigint;
  let cycleN: bigint;
  const payments: Record<"released" | "direct" | "refunded" | "other", { terms: PaymentTerms; paymentId: string }> = {} as never;

  const chainTime = async () => (await net.chain.provider.getBlock("latest"))?.timestamp ?? 0;
  /** Closes every cycle up to `cycle` by mining a block at the start of the next one. */
  const closeCycle = async (cycle: bigint) => {
    const next = Number((cycle + 1n) * BigInt(CYCLE));
    const now = await chainTime();
    await net.chain.provider.send("evm_setNextBlockTimestamp", [Math.max(next, now + 1)]);
    await net.chain.provider.send("evm_mine", []);
  };
  const ledger = () => net.scenario.contracts.ledger;
  const cycleView = async (n: NodeHandle, id: bigint) => {
    const view = await nodeApi(n).cycle(id.toString());
    if (!view) throw new Error(`${n.name} has no cycle ${id}`);
    return view;
  };
  /** The coded refusal of a node API request, with its HTTP status. */
  const refusedWith = async (request: Promise<unknown>) => {
    const error = (await refusalOf(request)) as NodeApiError;
    return [error.status, error.code];
  };

  /** An escrow action signed by `signer`, deadline in chain time. */
  async function signedAction(
    kind: "confirm" | "refund",
    terms: PaymentTerms,
    signer: Signer,
    extra: Record<string, unknown> = {},
  ): Promise<EscrowOperationInput> {
    const s = net.scenario;
    const ctx = { chainId: BigInt(s.deployment.chainId), escrow: s.deployment.contracts.escrow };
    const nonce = BigInt(hexlify(randomBytes(16))).toString();
    const deadline = ((await chainTime()) + 3_600).toString();
    const wire = Object.fromEntries(Object.entries(extra).map(([k, v]) => [k, typeof v === "bigint" ? v.toString() : v]));
    return signEscrowOperation(signer, { kind, terms: termsToJson(terms), ...wire, nonce, deadline } as UnsignedEscrowOperation, ctx);
  }

  async function submit(op: EscrowOperationInput, via: NodeHandle = node("institution-0")): Promise<string> {
    const submitted = await nodeApi(via).submit(op);
    if (!submitted.accepted) expect.fail(`refused: ${JSON.stringify(submitted.problem)}`);
    return submitted.id;
  }

  before(async function () {
    net = await launchNetwork({
      institutions: 4,
      regulator: true,
      merchants: 2,
      payers: 4,
      config: { settlement: { cycleSeconds: CYCLE, tickMs: 300, finalizeFailoverMs: 2_000, rebroadcastMs: 1_000 } },
    });
    node = (name) => {
      const found = net.nodes.find((n) => n.name === name);
      if (!found) throw new Error(`no node ${name}`);
      return found;
    };
  });
  after(async function () {
    await net?.stop();
  });

  it("finalizes a cycle (the deployment's deposits) once, with a quorum of attestations, and every node agrees", async function () {
    const minted = await net.scenario.token.queryFilter(net.scenario.token.filters.Minted());
    const lastMint = minted.at(-1);
    if (!lastMint) throw new Error("no mints");
    firstCycle = BigInt(Math.floor(((await net.chain.provider.getBlock(lastMint.blockNumber))?.timestamp ?? 0) / CYCLE));
    await closeCycle(firstCycle);
    await waitFor("the first cycle finalized", async () => ledger().isFinalized(firstCycle), 60_000);

    const events = await ledger().queryFilter(ledger().filters.CycleFinalized(firstCycle));
    expect(events).to.have.length(1);
    const onChain = await ledger().cycleOf(firstCycle);
    expect(onChain.attestationCount).to.be.greaterThanOrEqual(3n);
    for (const n of net.nodes) {
      const view = await waitFor(`${n.name} to record the finalization`, async () => {
        const v = await cycleView(n, firstCycle);
        return v.status === "finalized" ? v : undefined;
      });
      expect(view.finalized?.matches, n.name).to.equal(true);
      expect(view.summary.merkleRoot).to.equal(onChain.merkleRoot);
    }
    // Its records are the scenario's deposits: one per payer (minted by custodian institution 0).
    const records = (await nodeApi(node("regulator")).cycleRecords(firstCycle.toString(), { limit: 500 })).items;
    const deposits = records.filter((r) => r.kind === RECORD_KINDS.deposit);
    expect(deposits.map((r) => r.account).sort()).to.deep.equal(net.scenario.payers.map((p) => p.address).sort());
    expect(deposits.every((r) => r.counterparty === net.scenario.institutions[0]?.address)).to.equal(true);
  });

  it("refuses to sign with a tampered store and names the record; too few attestations leave the cycle open and the ledger refuses forged, short and root-swapped finalizations", async function () {
    const s = net.scenario;
    const [payer0, payer1] = s.payers;
    const [merchant0] = s.merchants;
    if (!payer0 || !payer1 || !merchant0) throw new Error("scenario too small");
    cycleN = firstCycle + 1n;
    expect(BigInt(Math.floor((await chainTime()) / CYCLE))).to.equal(cycleN);

    // Cycle N: a confirmed payment, a direct payment, a partial refund of a held payment, and a
    // confirmed payment to the second merchant.
    const make = async (key: keyof typeof payments, payer: number, merchant: number, amount: bigint, direct = false) => {
      const terms = await termsFor(s, payer, merchant, { amount, direct });
      const { op, paymentId } = await signedPay(s, terms);
      payments[key] = { terms, paymentId };
      await submit(op);
      return paymentId;
    };
    const ids = [await make("released", 0, 0, 100_00n), await make("direct", 1, 0, 250_00n, true), await make("refunded", 0, 0, 80_00n), await make("other", 2, 1, 40_00n)];
    for (const id of ids) await waitForOperation(net.nodes, id);
    const followUps = [
      await submit(await signedAction("confirm", payments.released.terms, payer0)),
      await submit(await signedAction("refund", payments.refunded.terms, merchant0, { amount: 30_00n, reason: encodeBytes32String("partial") })),
      await submit(await signedAction("confirm", payments.other.terms, s.payers[2] as Signer)),
    ];
    for (const id of followUps) await waitForOperation(net.nodes, id);

    // Institution 3 goes down; institution 2's store gets a tampered release amount.
    await node("institution-3").stop();
    const tampered = node("institution-2");
    await tampered.stop();
    const storage = await openStorage(join(tampered.dataDir, "db"));
    try {
      const record = (await storage.payments.get(payments.released.paymentId)) as PaymentRecord;
      const released = record.events.find((e) => e.event === "PaymentReleased");
      if (!released) throw new Error("release not indexed");
      released.args["merchantAmount"] = (BigInt(String(released.args["merchantAmount"])) + 1n).toString();
      await storage.applyIndexBatch({ payments: [record], operations: [], cursor: (await storage.getCursor()) ?? 0 });
    } finally {
      await storage.close();
    }
    await tampered.start();

    await closeCycle(cycleN);
    const alert = await waitFor("institution 2 to raise a records alert", async () => {
      const { items } = await nodeApi(tampered).settlementAlerts({ cycle: cycleN.toString() });
      return items.find((a) => a.type === "RECORDS_DIFFER");
    }, 60_000);
    expect(alert.records.map((r) => [r.kind, r.recordId])).to.deep.include(["released", payments.released.paymentId]);
    const named = alert.records.find((r) => r.kind === "released");
    expect(BigInt(named?.local?.amount ?? 0) - BigInt(named?.reference?.amount ?? 0)).to.equal(1n);
    expect((await cycleView(tampered, cycleN)).status).to.equal("diverged");
    const metrics = await nodeApi(tampered).metrics();
    expect(metrics).to.match(/settlenet_settlement_alerts_total\{type="RECORDS_DIFFER"\} 1/);

    // Institutions 0 and 1 attest; 2 refused and 3 is down: 2 of 4 is no quorum.
    const honest = await waitFor("institutions 0 and 1 to hold both attestations", async () => {
      const v = await cycleView(node("institution-0"), cycleN);
      const mine = v.attestations.filter((a) => a.summary.merkleRoot === v.summary.merkleRoot);
      return mine.length === 2 ? { v, mine } : undefined;
    }, 60_000);
    const attesters = honest.mine.map((a) => a.institution).sort();
    expect(attesters).to.deep.equal([s.institutions[0]?.address, s.institutions[1]?.address].map((a) => getAddress(a as string)).sort());
    expect(honest.v.attestations.map((a) => a.institution)).to.not.include(s.institutions[2]?.address);
    expect(await ledger().isFinalized(cycleN)).to.equal(false);

    const summary = summaryFromJson(honest.v.summary);
    const ordered = [...honest.mine].sort((a, b) => (BigInt(a.institution) < BigInt(b.institution) ? -1 : 1)).map((a) => a.signature);
    const ctx = { chainId: BigInt(s.deployment.chainId), ledger: s.deployment.contracts.ledger };
    const inst3 = s.institutions[3];
    if (!inst3) throw new Error("no institution 3");
    const third = await signCycle(ctx, inst3, summary);
    const sortedWith = (sig: string, institution: string) =>
      [...honest.mine.map((a) => ({ institution: a.institution, signature: a.signature })), { institution, signature: sig }]
        .sort((a, b) => (BigInt(a.institution) < BigInt(b.institution) ? -1 : 1))
        .map((a) => a.signature);
    const finalize = ledger().finalize;
    expect(await revertOf(finalize.staticCall(summary, ordered))).to.equal("QuorumNotReached");
    const forged = await signCycle(ctx, payer1, summary);
    expect(await revertOf(finalize.staticCall(summary, sortedWith(forged, inst3.address)))).to.equal("InvalidAttestation");
    const swapped = { ...summary, merkleRoot: hexlify(randomBytes(32)) };
    expect(await revertOf(finalize.staticCall(swapped, sortedWith(third, inst3.address)))).to.equal("InvalidAttestation");
    // Control: the same three attestations of the attested root would do.
    expect(await revertOf(finalize.staticCall(summary, sortedWith(third, inst3.address)))).to.equal("none");
    expect(await ledger().isFinalized(cycleN)).to.equal(false);
  });

  it("finalizes once institution 3 is back and attests; the tampered node sees the finalized root differ", async function () {
    await node("institution-3").start();
    await waitFor("cycle N finalized", async () => ledger().isFinalized(cycleN), 90_000);
    const events = await ledger().queryFilter(ledger().filters.CycleFinalized(cycleN));
    expect(events).to.have.length(1);
    const s = net.scenario;
    const attesters = [...(events[0]?.args.attesters ?? [])].map(String);
    expect(attesters).to.have.length(3);
    expect(attesters).to.include.members([0, 1, 3].map((i) => s.institutions[i]?.address));
    expect(attesters).to.not.include(s.institutions[2]?.address);

    const honestRoot = (await ledger().cycleOf(cycleN)).merkleRoot;
    for (const n of net.nodes.filter((x) => x.name !== "institution-2")) {
      await waitFor(`${n.name} finalized and matching`, async () => {
        const v = await cycleView(n, cycleN);
        return v.status === "finalized" && v.finalized?.matches === true && v.summary.merkleRoot === honestRoot;
      });
    }
    const tampered = node("institution-2");
    const alert = await waitFor("the finalized-root alert", async () => {
      const { items } = await nodeApi(tampered).settlementAlerts({ cycle: cycleN.toString() });
      return items.find((a) => a.type === "FINALIZED_ROOT_DIFFERS");
    });
    expect(alert.records.map((r) => r.recordId)).to.include(payments.released.paymentId);
    const proofOf = nodeApi(tampered).recordProof(cycleN.toString(), { kind: "released", recordId: payments.released.paymentId });
    expect(await refusedWith(proofOf)).to.deep.equal([409, "CYCLE_DIVERGED"]);
  });

  it("exports a proof that verifies with @openzeppelin/merkle-tree and on-chain; a tampered record fails both", async function () {
    const regulator = node("regulator");
    const body = await nodeApi(regulator).recordProof(cycleN.toString(), { kind: "released", recordId: payments.released.paymentId });
    expect(body.cycleId).to.equal(cycleN.toString());
    expect(body.root).to.equal((await ledger().cycleOf(cycleN)).merkleRoot);
    expect(body.record.amount).to.equal("10000");
    expect(body.record.fee).to.equal("100");
    expect(StandardMerkleTree.verify(body.root, LEAF_ENCODING, body.leaf, body.proof)).to.equal(true);
    const r = body.record;
    // The ledger hashes the struct itself, so it checks the served JSON independently of the node's tree.
    const onChainRecord = recordFromJson(r);
    expect(await ledger().verifyRecord(onChainRecord, body.proof)).to.equal(true);
    expect(await ledger().verifyLeaf(cycleN, body.leafHash, body.proof)).to.equal(true);
    expect(await ledger().leafOf(onChainRecord)).to.equal(body.leafHash);

    const forgedLeaf = [...body.leaf];
    forgedLeaf[6] = (BigInt(r.amount) + 1n).toString();
    expect(StandardMerkleTree.verify(body.root, LEAF_ENCODING, forgedLeaf, body.proof)).to.equal(false);
    expect(await ledger().verifyRecord({ ...onChainRecord, amount: onChainRecord.amount + 1n }, body.proof)).to.equal(false);
    // The same record claimed for another cycle: a proof is bound to its cycle.
    expect(await ledger().verifyRecord({ ...onChainRecord, cycleId: firstCycle }, body.proof)).to.equal(false);

    const unknown = nodeApi(regulator).recordProof(cycleN.toString(), { kind: "refunded", recordId: payments.released.paymentId });
    expect(await refusedWith(unknown)).to.deep.equal([404, "RECORD_NOT_FOUND"]);
    const open = nodeApi(regulator).recordProof((cycleN + 1n).toString(), { kind: "released", recordId: payments.released.paymentId });
    expect(await refusedWith(open)).to.deep.equal([404, "CYCLE_NOT_FOUND"]);
  });

  it("serves exact statements per merchant and institution in JSON and CSV, through the API and the CLI", async function () {
    const s = net.scenario;
    const [merchant0, merchant1] = s.merchants.map((m) => m.address);
    const institution0 = s.institutions[0]?.address as string;
    const api = node("institution-1").apiUrl;
    const statement = async (party: { merchant: string } | { institution: string }) => {
      const found = await nodeApi(node("institution-1")).cycleStatement(cycleN.toString(), party);
      if (!found) throw new Error(`no statement of cycle ${cycleN}`);
      return found;
    };

    const m0 = await statement({ merchant: merchant0 as string });
    expect(m0.totals).to.have.length(1);
    expect(m0.totals[0]).to.include({ gross: "35000", fee: "350", net: "34650", refunded: "3000", reclaimed: "0", payments: 2 });
    const m0Totals = m0.records.find((r) => r.kind === RECORD_KINDS.merchantTotals);
    expect([m0Totals?.amount, m0Totals?.fee, m0Totals?.counterparty]).to.deep.equal(["35000", "350", institution0]);
    expect(m0.records.filter((r) => r.kind === RECORD_KINDS.directPayment).map((r) => r.recordId)).to.deep.equal([payments.direct.paymentId]);

    const m1 = await statement({ merchant: merchant1 as string });
    expect(m1.totals[0]).to.include({ gross: "4000", fee: "40", net: "3960", refunded: "0", payments: 1 });

    const i0 = await statement({ institution: institution0 });
    expect(i0.totals[0]).to.include({ gross: "39000", fee: "390", net: "38610", refunded: "3000", payments: 3 });
    const i0Totals = i0.records.find((r) => r.kind === RECORD_KINDS.institutionTotals);
    expect([i0Totals?.amount, i0Totals?.fee]).to.deep.equal(["39000", "390"]);
    const i1 = await statement({ institution: s.institutions[1]?.address as string });
    expect(i1.totals).to.deep.equal([]);

    const csv = await nodeFetch(`${api}/v1/cycles/${cycleN}/statement?merchant=${merchant0}&format=csv`);
    expect(csv.headers.get("content-type")).to.match(/^text\/csv/);
    const text = await csv.text();
    const rows = text.trim().split("\n").map((line) => line.split(","));
    expect(rows[0]?.slice(0, 3)).to.deep.equal(["cycle_id", "section", "kind"]);
    const total = rows.filter((r) => r[1] === "total");
    expect(total).to.have.length(1);
    expect(total[0]?.slice(7, 13)).to.deep.equal(["35000", "350", "34650", "3000", "0", "2"]);
    expect(rows.filter((r) => r[1] === "record")).to.have.length(m0.records.length);

    const root = join(import.meta.dirname, "..", "..");
    const cli = await execFileAsync(process.execPath, cliArgs("report", "statement", "--cycle", cycleN.toString(), "--merchant", merchant0 as string, "--format", "csv", "--api", api), {
      cwd: root,
      env: { ...process.env, SETTLENET_NODE_TOKEN: launchedCredentials(api)?.regulator },
    });
    expect(cli.stdout).to.equal(text);
    const bad = await execFileAsync(process.execPath, cliArgs("report", "statement", "--cycle", "x", "--merchant", merchant0 as string, "--api", api), { cwd: root }).catch(
      (error: { code: number; stderr: string }) => error,
    );
    expect((bad as { code: number }).code).to.equal(1);
    expect((bad as { stderr: string }).stderr).to.match(/^settlenet: USAGE:/);

    const both = await getJson<{ code: string }>(`${api}/v1/cycles/${cycleN}/statement?merchant=${merchant0}&institution=${institution0}`);
    expect([both.status, both.body.code]).to.deep.equal([400, "MALFORMED"]);
  });

  it("gives a payment's full history and paginates audit queries by account, merchant, institution and time", async function () {
    const s = net.scenario;
    const regulator = node("regulator");
    const history = await nodeApi(regulator).paymentHistory(payments.released.paymentId);
    if (!history) throw new Error("no history of the released payment");
    expect(history.operations.map((o) => o.kind)).to.deep.equal(["pay", "confirm"]);
    const institutions = new Set(s.institutions.map((i) => i.address));
    for (const step of history.operations) {
      expect(step.signer).to.equal(s.payers[0]?.address);
      expect(step.signature).to.match(/^0x[0-9a-f]{130}$/i);
      expect(institutions.has(step.relayer as string), `relayer ${step.relayer}`).to.equal(true);
      expect(step.txHash).to.match(/^0x[0-9a-f]{64}$/);
      expect(step.blockNumber).to.be.a("number");
      expect(step.timestamp).to.be.greaterThan(0);
      expect(step.outcome).to.equal("executed");
      const receipt = await net.chain.provider.getTransactionReceipt(step.txHash as string);
      expect([receipt?.blockNumber, receipt?.from]).to.deep.equal([step.blockNumber, step.relayer]);
    }
    expect(history.events.map((e) => e.event)).to.deep.equal(["PaymentPaid", "PaymentReleased"]);

    const all = async (query: z.input<typeof auditListQuery>, limit: number) => {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const body = await nodeApi(regulator).auditPayments({ ...query, limit, ...(cursor ? { cursor } : {}) });
        expect(body.items.length).to.be.at.most(limit);
        seen.push(...body.items.map((p) => p.paymentId));
        cursor = body.next;
        pages += 1;
      } while (cursor);
      return { seen, pages };
    };
    const byPayer0 = await all({ account: s.payers[0]?.address }, 1);
    expect(byPayer0.seen.sort()).to.deep.equal([payments.released.paymentId, payments.refunded.paymentId].sort());
    expect(byPayer0.pages).to.equal(2);
    const byMerchant0 = await all({ merchant: s.merchants[0]?.address }, 2);
    expect(byMerchant0.seen.sort()).to.deep.equal([payments.released.paymentId, payments.direct.paymentId, payments.refunded.paymentId].sort());
    expect(byMerchant0.pages).to.equal(2);
    // Every payment's merchant is acquired by institution 0.
    const byInstitution0 = await all({ institution: s.institutions[0]?.address }, 3);
    expect(byInstitution0.seen).to.have.length(4);
    expect(new Set(byInstitution0.seen).size).to.equal(4);

    const direct = (await nodeApi(regulator).paymentHistory(payments.direct.paymentId))?.payment;
    if (!direct) throw new Error("the direct payment is not indexed");
    const inRange = await all({ from: direct.paidAt, to: direct.paidAt }, 10);
    expect(inRange.seen).to.include(payments.direct.paymentId);
    const every = (await nodeApi(regulator).auditPayments({ limit: 500 })).items;
    expect(inRange.seen.sort()).to.deep.equal(every.filter((p) => p.paidAt === direct.paidAt).map((p) => p.paymentId).sort());

    expect(await refusedWith(nodeApi(regulator).auditPayments({ merchant: s.merchants[0]?.address, cursor: "bm90LWEtY3Vyc29y" }))).to.deep.equal([400, "INVALID_CURSOR"]);
    expect(await refusedWith(nodeApi(regulator).auditPayments({ account: s.payers[0]?.address, merchant: s.merchants[0]?.address }))).to.deep.equal([400, "MALFORMED"]);
    const missing = await getJson<{ code: string }>(`${regulator.apiUrl}/v1/audit/payments/${hexlify(randomBytes(32))}`);
    expect([missing.status, missing.body.code]).to.deep.equal([404, "PAYMENT_NOT_FOUND"]);
  });
});
