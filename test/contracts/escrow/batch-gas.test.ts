/**
 * The relay's fixed gas per batch item (core/chain/batch-gas.ts): every escrow kind, in the most
 * expensive state it meets (a fresh nonce bitmap word, balances going from zero, the escrow's first
 * deposit), executes inside a batch sent with exactly the gas limit the relay computes, and uses no
 * more than its budget. A contract change that makes a kind dearer fails here, not in production.
 * `BATCH_GAS_REPORT=1` prints what each kind used, and with `BATCH_GAS_SEARCH=1` the least budget at which
 * it executes (how the table was derived).
 */
import { expect } from "chai";
import { randomBytes, type ContractTransactionReceipt } from "ethers";

import { BATCH_BASE_GAS, BATCH_ITEM_GAS, TX_BASE_GAS, TX_GAS_CAP, batchGasLimit, type BatchGasClass } from "../../../core/chain/batch-gas.js";
import { calldataGas, encodeBatchItem, executeBatchCalldata } from "../../../core/operations/calldata.js";
import { ESCROW_OPERATION_KINDS, type ContractOperation, type PaymentTerms } from "../../../core/operations/index.js";
import { deployWorld, makeTerms, networkHelpers, OperationKind, payHeld, type World } from "../helpers/fixture.js";
import { signedOperation, payDisputed, payFulfilled } from "../helpers/escrow2.js";
import { confirmAsPayer } from "../helpers/escrow-operations.js";

/** A nonce in a bitmap word nobody used yet: setting its bit writes a zero slot (the dearest case). */
/** What executeBatch uses around its items (measured: 1,297). */
const EXECUTE_BATCH_GAS = 2_000n;

const freshWordNonce = () => BigInt(`0x${Buffer.from(randomBytes(8)).toString("hex")}`) << 8n;

type Case = { name: string; gasClass: BatchGasClass; prepare: (world: World) => Promise<ContractOperation> };

const CASES: Case[] = [
  {
    name: "pay, the escrow's first deposit",
    gasClass: "pay",
    prepare: async (world) => signedOperation(world, OperationKind.Pay, await makeTerms(world), world.payer),
  },
  {
    name: "pay, direct: the merchant's and the fee receiver's first tokens",
    gasClass: "directPay",
    prepare: async (world) => signedOperation(world, OperationKind.Pay, await makeTerms(world, { direct: true }), world.payer),
  },
  {
    name: "markFulfilled, the merchant's nonce in a fresh word",
    gasClass: "markFulfilled",
    prepare: async (world) => {
      const terms = await makeTerms(world);
      await payHeld(world, terms);
      return signedOperation(world, OperationKind.MarkFulfilled, terms, world.merchant, { nonce: freshWordNonce() });
    },
  },
  {
    name: "confirm, the payer's nonce in a fresh word, the merchant's and the fee receiver's first tokens",
    gasClass: "confirm",
    prepare: async (world) => {
      const terms = await makeTerms(world);
      await payFulfilled(world, terms);
      return signedOperation(world, OperationKind.Confirm, terms, world.payer, { nonce: freshWordNonce() });
    },
  },
  {
    name: "release after the auto-release time, the merchant's and the fee receiver's first tokens",
    gasClass: "release",
    prepare: async (world) => {
      const terms = await makeTerms(world, { autoReleasePeriod: 60 });
      await payFulfilled(world, terms);
      await networkHelpers.time.increase(61);
      return signedOperation(world, OperationKind.Release, terms, world.payer);
    },
  },
  {
    name: "refund while held, the merchant's nonce in a fresh word",
    gasClass: "refund",
    prepare: async (world) => {
      const terms = await makeTerms(world);
      await payHeld(world, terms);
      return signedOperation(world, OperationKind.Refund, terms, world.merchant, { amount: terms.amount / 4n, nonce: freshWordNonce() });
    },
  },
  {
    name: "refund after release, from the merchant's balance",
    gasClass: "refund",
    prepare: async (world) => {
      const terms = await makeTerms(world);
      await payFulfilled(world, terms);
      await confirmAsPayer(world, terms);
      return signedOperation(world, OperationKind.Refund, terms, world.merchant, { amount: terms.amount / 4n, nonce: freshWordNonce() });
    },
  },
  {
    name: "dispute, the payer's nonce in a fresh word",
    gasClass: "dispute",
    prepare: async (world) => {
      const terms = await makeTerms(world);
      await payFulfilled(world, terms);
      return signedOperation(world, OperationKind.Dispute, terms, world.payer, { nonce: freshWordNonce() });
    },
  },
  {
    name: "resolve, three transfers, the merchant's and the fee receiver's first tokens",
    gasClass: "resolve",
    prepare: async (world) => {
      const terms = await makeTerms(world);
      await payDisputed(world, terms);
      return signedOperation(world, OperationKind.Resolve, terms, world.arbiter, { amount: terms.amount / 2n, nonce: freshWordNonce() });
    },
  },
  {
    name: "reclaim after the fulfilment deadline, the payer's nonce in a fresh word",
    gasClass: "reclaim",
    prepare: async (world) => {
      const terms: PaymentTerms = await makeTerms(world);
      await payHeld(world, terms);
      await networkHelpers.time.increase(terms.fulfilmentPeriod + 1);
      return signedOperation(world, OperationKind.Reclaim, terms, world.payer, { nonce: freshWordNonce() });
    },
  },
];

/**
 * Sends `ops` as one executeBatch, by default with the relay's gas limit; `strict` leaves out the
 * batch's reserve, so each item must fit its own budget (with 63/64 of the gas left, EIP-150).
 */
async function sendBatch(
  world: World,
  ops: { gasClass: BatchGasClass; op: ContractOperation }[],
  strict = false,
): Promise<{ receipt: ContractTransactionReceipt; gasLimit: bigint; data: Buffer }> {
  const data = executeBatchCalldata(ops.map(({ op }) => encodeBatchItem(op)));
  const gasLimit = batchGasLimit(ops, data) - (strict ? BATCH_BASE_GAS - EXECUTE_BATCH_GAS : 0n);
  const tx = await world.relayer.sendTransaction({ to: await world.escrow.getAddress(), data: `0x${data.toString("hex")}`, gasLimit });
  const receipt = (await tx.wait()) as ContractTransactionReceipt;
  return { receipt, gasLimit, data };
}

function failedItems(world: World, receipt: ContractTransactionReceipt): number {
  return receipt.logs.filter((log) => world.escrow.interface.parseLog(log)?.name === "OperationFailed").length;
}

describe("PaymentEscrow batch gas: the relay's fixed budget per kind", function () {
  const report: string[] = [];

  after(function () {
    if (process.env["BATCH_GAS_REPORT"]) console.log(report.join("\n"));
  });

  it("lists a budget for every escrow kind, and for direct pays", function () {
    expect(Object.keys(BATCH_ITEM_GAS).sort()).to.deep.equal([...ESCROW_OPERATION_KINDS, "directPay"].sort());
  });

  it("executeBatch around its items uses no more than the test allows it", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const { receipt, data } = await sendBatch(world, []);
    const base = receipt.gasUsed - TX_BASE_GAS - calldataGas(data);
    report.push(`executeBatch around the items: ${base} gas`);
    expect(base).to.be.at.most(EXECUTE_BATCH_GAS);
  });

  for (const c of CASES) {
    it(`${c.name}: executes at its budget and uses no more`, async function () {
      const world = await networkHelpers.loadFixture(deployWorld);
      const op = await c.prepare(world);
      const { receipt, data } = await sendBatch(world, [{ gasClass: c.gasClass, op }], true);
      expect(receipt.status).to.equal(1);
      expect(failedItems(world, receipt), "the item failed (out of gas at its budget?)").to.equal(0);
      const empty = await sendBatch(world, []);
      const used = receipt.gasUsed - empty.receipt.gasUsed - (calldataGas(data) - calldataGas(empty.data));
      report.push(`${c.name}: ${used} gas (budget ${BATCH_ITEM_GAS[c.gasClass]})`);
      expect(used).to.be.at.most(BATCH_ITEM_GAS[c.gasClass]);
    });
  }

  // BATCH_GAS_SEARCH=1: the least budget at which each case still executes in a strict batch, by bisection
  // (how the "needs" figures next to the budgets were found).
  if (process.env["BATCH_GAS_SEARCH"]) {
    for (const c of CASES) {
      it(`${c.name}: least budget`, async function () {
        let [fails, runs] = [1_000n, 400_000n];
        while (runs - fails > 1n) {
          const budget = (fails + runs) / 2n;
          const world = await networkHelpers.loadFixture(deployWorld);
          const op = await c.prepare(world);
          const data = executeBatchCalldata([encodeBatchItem(op)]);
          const budgets = { ...BATCH_ITEM_GAS, [c.gasClass]: budget };
          const gasLimit = batchGasLimit([{ gasClass: c.gasClass }], data, budgets) - (BATCH_BASE_GAS - EXECUTE_BATCH_GAS);
          // A limit below the transaction's own needs is refused before it runs: that is a failure too.
          const receipt = await world.relayer
            .sendTransaction({ to: await world.escrow.getAddress(), data: `0x${data.toString("hex")}`, gasLimit })
            .then((tx) => tx.wait())
            .catch(() => null);
          if (receipt?.status === 1 && failedItems(world, receipt as ContractTransactionReceipt) === 0) runs = budget;
          else fails = budget;
        }
        report.push(`${c.name}: needs a budget of ${runs}`);
      });
    }
  }

  it("executes one item of every case in one batch at the summed budget", async function () {
    const world = await networkHelpers.loadFixture(deployWorld);
    const ops: { gasClass: BatchGasClass; op: ContractOperation }[] = [];
    // Cases that move time forward first, so that no earlier operation's deadline passes.
    const movesTime = (c: Case) => (c.gasClass === "reclaim" ? 2 : c.gasClass === "release" ? 1 : 0);
    const ordered = [...CASES].sort((a, b) => movesTime(b) - movesTime(a));
    for (const c of ordered) ops.push({ gasClass: c.gasClass, op: await c.prepare(world) });
    const { receipt } = await sendBatch(world, ops);
    expect(receipt.status).to.equal(1);
    expect(failedItems(world, receipt)).to.equal(0);
  });

  it("fits more than a hundred pays under the transaction gas cap", function () {
    // A pay item is about 700 bytes of calldata, at most 16 gas each.
    const perPay = BATCH_ITEM_GAS.pay + 16n * 736n;
    expect((TX_GAS_CAP - TX_BASE_GAS - BATCH_BASE_GAS) / perPay).to.be.greaterThan(100n);
  });
});
