/**
 * Gas report: gas used per escrow operation, read from real transaction receipts on the in-process
 * EDR chain, with opcode-trace breakdowns for the targets it misses.
 *   npm run gas                 prints the report (markdown) to stdout
 *   GAS_WRITE=1 npm run gas     also writes docs/gas.md
 *   GAS_JSON=<file> npm run gas  also writes the measured numbers as JSON (read by `npm run bench`)
 * `hardhat run` takes no script arguments (`npm run gas -- --write` fails with HHE504), hence the
 * environment variable.
 */
import { mkdir, writeFile } from "node:fs/promises";

import { StandardMerkleTree } from "@openzeppelin/merkle-tree";
import { encodeBytes32String, id, type ContractTransactionResponse, type Signer } from "ethers";
import hre from "hardhat";

import { CYCLE_TYPES, SETTLEMENT_RECORD_LEAF_ENCODING, ledgerDomain, tokenDomain } from "../core/protocol/eip712.js";
import { TOKEN_TYPES, type PaymentTerms } from "../core/operations/index.js";
import { OperationKind, PaymentStatus, deployWorld, operation } from "./lib/contract-world.js";
import {
  NonceBook,
  PAYMENT_AMOUNT,
  createMerchants,
  createPayers,
  ethers,
  networkHelpers,
  paymentTerms,
  signedAction,
  signedPay,
  type RelayedOperation,
} from "./lib/gas-world.js";
import { byContract, callTree, traceTransaction, type Naming, type TxGas } from "./lib/gas-trace.js";
import { renderReport, type Measurements } from "./lib/gas-report.js";

const BATCH_MERCHANTS = 10;
const RECORDS_PER_CYCLE = 1_000;
const REASON = encodeBytes32String("gas-report");

const world = await deployWorld();
const escrowAddress = await world.escrow.getAddress();
const relayerEscrow = world.as(world.escrow, world.relayer);
const nonces = new NonceBook();

const naming: Naming = {
  contracts: new Map([
    [escrowAddress.toLowerCase(), { name: "PaymentEscrow", iface: world.escrow.interface }],
    [(await world.registry.getAddress()).toLowerCase(), { name: "ParticipantRegistry", iface: world.registry.interface }],
    [(await world.token.getAddress()).toLowerCase(), { name: "SettlementToken", iface: world.token.interface }],
    [(await world.ledger.getAddress()).toLowerCase(), { name: "SettlementLedger", iface: world.ledger.interface }],
    ["0x0000000000000000000000000000000000000001", { name: "ecrecover" }],
  ]),
};

interface Measured {
  gas: number;
  hash: string;
  to: string;
}

/** Mines `tx` and returns its receipt's gasUsed; refuses failed transactions and failed batch items. */
async function measure(tx: Promise<ContractTransactionResponse>): Promise<Measured> {
  const receipt = await (await tx).wait();
  if (!receipt || receipt.status !== 1 || !receipt.to) throw new Error("measured transaction failed");
  for (const log of receipt.logs) {
    if (log.address !== escrowAddress) continue;
    const event = world.escrow.interface.parseLog(log);
    if (event?.name === "OperationFailed") throw new Error(`batch item ${event.args.getValue("index")} failed: ${event.args.getValue("reason")}`);
  }
  return { gas: Number(receipt.gasUsed), hash: receipt.hash, to: receipt.to };
}

/** The transaction's gas attributed from its opcode trace; checks the derived base + calldata against the data sent. */
async function trace(measured: Measured): Promise<TxGas> {
  const structLogs = await traceTransaction((method, params) => ethers.provider.send(method, params), measured.hash);
  const tx = callTree(structLogs, measured.to, measured.gas);
  const sent = await ethers.provider.getTransaction(measured.hash);
  if (!sent) throw new Error(`transaction ${measured.hash} not found`);
  const data = ethers.getBytes(sent.data);
  const zeros = data.filter((b) => b === 0).length;
  const intrinsic = 21_000 + 4 * zeros + 16 * (data.length - zeros);
  if (intrinsic !== tx.intrinsic) throw new Error(`trace leaves ${tx.intrinsic} gas for base + calldata, expected ${intrinsic}`);
  return tx;
}

async function expectStatus(terms: PaymentTerms, status: number): Promise<void> {
  const actual = (await world.escrow.paymentOf(await world.escrow.paymentIdOf(terms))).status;
  if (Number(actual) !== status) throw new Error(`payment status ${actual}, expected ${status}`);
}

const escrowAs = (signer: Signer) => world.as(world.escrow, signer);
const relay = (op: RelayedOperation) => relayerEscrow.execute(op);
const nonceOf = async (signer: Signer) => nonces.take(await signer.getAddress());

// ------------------------------------------------------------------ payments in a given state (not measured)

async function payDirect(terms: PaymentTerms): Promise<PaymentTerms> {
  await (await escrowAs(world.payer).pay(terms, "0x")).wait();
  return terms;
}
const held = async () => payDirect(await paymentTerms(world));
async function fulfilled(): Promise<PaymentTerms> {
  const terms = await held();
  await (await escrowAs(world.merchant).markFulfilled(terms)).wait();
  return terms;
}
async function released(): Promise<PaymentTerms> {
  const terms = await held();
  await (await escrowAs(world.payer).confirm(terms)).wait();
  return terms;
}
async function disputed(): Promise<PaymentTerms> {
  const terms = await fulfilled();
  await (await escrowAs(world.payer).dispute(terms, REASON)).wait();
  return terms;
}
async function dueForRelease(): Promise<PaymentTerms> {
  const terms = await fulfilled();
  await networkHelpers.time.increase(terms.autoReleasePeriod);
  return terms;
}
async function dueForReclaim(): Promise<PaymentTerms> {
  const terms = await held();
  await networkHelpers.time.increase(terms.fulfilmentPeriod + 1);
  return terms;
}

// ------------------------------------------------------------------ warm-up: the steady state of a running escrow

// A payment that stays held, so the escrow's token balance is never zero; one released payment, so the
// merchant and the fee receiver hold tokens; each relayed signer has used nonce 0, so the nonces below
// land in a bitmap word already in use.
await held();
await released();
for (const signer of [world.payer, world.merchant, world.arbiter]) {
  await (await escrowAs(signer).cancelNonce(0n)).wait();
  nonces.startAt(await signer.getAddress(), 1n);
}

// ------------------------------------------------------------------ single operations

interface SingleOperation {
  operation: string;
  notes: string;
  prepare: () => Promise<PaymentTerms>;
  direct?: (terms: PaymentTerms) => Promise<ContractTransactionResponse>;
  relayed: (terms: PaymentTerms) => Promise<RelayedOperation>;
  after: number;
}

const REFUND = PAYMENT_AMOUNT / 4n;
const PAYER_SHARE = PAYMENT_AMOUNT / 2n;
const singles: SingleOperation[] = [
  {
    operation: "pay",
    notes: "payer → escrow; creates the payment record (`Held`)",
    prepare: () => paymentTerms(world),
    direct: (t) => escrowAs(world.payer).pay(t, "0x"),
    relayed: (t) => signedPay(world, world.payer, t),
    after: PaymentStatus.Held,
  },
  {
    operation: "pay, direct payment (`terms.direct`)",
    notes: "straight to `Released`: pays the merchant and the fee in the same transaction",
    prepare: () => paymentTerms(world, { direct: true }),
    direct: (t) => escrowAs(world.payer).pay(t, "0x"),
    relayed: (t) => signedPay(world, world.payer, t),
    after: PaymentStatus.Released,
  },
  {
    operation: "markFulfilled",
    notes: "merchant; starts the auto-release clock",
    prepare: held,
    direct: (t) => escrowAs(world.merchant).markFulfilled(t),
    relayed: async (t) => signedAction(world, OperationKind.MarkFulfilled, t, world.merchant, await nonceOf(world.merchant)),
    after: PaymentStatus.Fulfilled,
  },
  {
    operation: "confirm",
    notes: "payer, after fulfilment; two transfers (merchant share, fee)",
    prepare: fulfilled,
    direct: (t) => escrowAs(world.payer).confirm(t),
    relayed: async (t) => signedAction(world, OperationKind.Confirm, t, world.payer, await nonceOf(world.payer)),
    after: PaymentStatus.Released,
  },
  {
    operation: "confirm, signer's first nonce in a fresh bitmap word",
    notes: "relayed only: the nonce bitmap word goes from zero to non-zero",
    prepare: fulfilled,
    relayed: (t) => signedAction(world, OperationKind.Confirm, t, world.payer, 256n * 7n),
    after: PaymentStatus.Released,
  },
  {
    operation: "release",
    notes: "anyone, after the auto-release time; the relayed form carries no signature",
    prepare: dueForRelease,
    direct: (t) => escrowAs(world.outsider).release(t),
    relayed: async (t) => operation(OperationKind.Release, t),
    after: PaymentStatus.Released,
  },
  {
    operation: "refund (partial, while held)",
    notes: "merchant; a quarter of the payment back to the payer from escrow",
    prepare: held,
    direct: (t) => escrowAs(world.merchant).refund(t, REFUND, REASON),
    relayed: async (t) =>
      signedAction(world, OperationKind.Refund, t, world.merchant, await nonceOf(world.merchant), { amount: REFUND, reason: REASON }),
    after: PaymentStatus.Held,
  },
  {
    operation: "refund after release",
    notes: "merchant; a quarter back from the merchant's own balance (allowance to the escrow)",
    prepare: released,
    direct: (t) => escrowAs(world.merchant).refund(t, REFUND, REASON),
    relayed: async (t) =>
      signedAction(world, OperationKind.Refund, t, world.merchant, await nonceOf(world.merchant), { amount: REFUND, reason: REASON }),
    after: PaymentStatus.Released,
  },
  {
    operation: "dispute",
    notes: "payer, after fulfilment; no transfer",
    prepare: fulfilled,
    direct: (t) => escrowAs(world.payer).dispute(t, REASON),
    relayed: async (t) => signedAction(world, OperationKind.Dispute, t, world.payer, await nonceOf(world.payer), { reason: REASON }),
    after: PaymentStatus.Disputed,
  },
  {
    operation: "resolve",
    notes: "arbiter; half to the payer, half to the merchant less the fee: three transfers",
    prepare: disputed,
    direct: (t) => world.as(world.escrow, world.arbiter).resolve(t, PAYER_SHARE, REASON),
    relayed: async (t) =>
      signedAction(world, OperationKind.Resolve, t, world.arbiter, await nonceOf(world.arbiter), { amount: PAYER_SHARE, reason: REASON }),
    after: PaymentStatus.Resolved,
  },
  {
    operation: "reclaim",
    notes: "payer, after the fulfilment deadline of an unfulfilled order",
    prepare: dueForReclaim,
    direct: (t) => escrowAs(world.payer).reclaim(t),
    relayed: async (t) => signedAction(world, OperationKind.Reclaim, t, world.payer, await nonceOf(world.payer)),
    after: PaymentStatus.Reclaimed,
  },
];

const singleRows: Measurements["singles"] = [];
for (const single of singles) {
  let direct: number | undefined;
  if (single.direct) {
    const terms = await single.prepare();
    direct = (await measure(single.direct(terms))).gas;
    await expectStatus(terms, single.after);
  }
  const terms = await single.prepare();
  const relayed = (await measure(relay(await single.relayed(terms)))).gas;
  await expectStatus(terms, single.after);
  singleRows.push({ operation: single.operation, direct, relayed, notes: single.notes });
}

// ------------------------------------------------------------------ pay + confirm, as two single transactions

const directPair = await paymentTerms(world);
const directPay = await measure(escrowAs(world.payer).pay(directPair, "0x"));
const directConfirm = await measure(escrowAs(world.payer).confirm(directPair));
await expectStatus(directPair, PaymentStatus.Released);

const relayedPair = await paymentTerms(world);
const relayedPay = await measure(relay(await signedPay(world, world.payer, relayedPair)));
const relayedConfirm = await measure(
  relay(await signedAction(world, OperationKind.Confirm, relayedPair, world.payer, await nonceOf(world.payer))),
);
await expectStatus(relayedPair, PaymentStatus.Released);

// ------------------------------------------------------------------ batches: distinct payers, ten merchants

const merchants = await createMerchants(world, "batch", BATCH_MERCHANTS);

async function batchTerms(payers: Signer[], payees: Signer[] = merchants): Promise<PaymentTerms[]> {
  const terms: PaymentTerms[] = [];
  for (const [i, payer] of payers.entries()) {
    const merchant = payees[i % payees.length] as Signer;
    terms.push(await paymentTerms(world, { payer: await payer.getAddress(), merchant: await merchant.getAddress() }));
  }
  return terms;
}

async function payBatch(payers: Signer[], payees: Signer[] = merchants): Promise<{ measured: Measured; terms: PaymentTerms[] }> {
  const terms = await batchTerms(payers, payees);
  const ops = await Promise.all(terms.map((t, i) => signedPay(world, payers[i] as Signer, t)));
  const measured = await measure(relayerEscrow.executeBatch(ops));
  for (const t of terms) await expectStatus(t, PaymentStatus.Held);
  return { measured, terms };
}

async function confirmBatch(payers: Signer[], terms: PaymentTerms[], nonce: bigint): Promise<Measured> {
  const ops: RelayedOperation[] = [];
  for (const [i, t] of terms.entries()) ops.push(await signedAction(world, OperationKind.Confirm, t, payers[i] as Signer, nonce));
  const measured = await measure(relayerEscrow.executeBatch(ops));
  for (const t of terms) await expectStatus(t, PaymentStatus.Released);
  return measured;
}

const payers10 = await createPayers(world, "batch-10", 10);
const payers100 = await createPayers(world, "batch-100", 100);
const pay10 = await payBatch(payers10);
const pay100 = await payBatch(payers100);
// Each payer's first relayed operation: its nonce word is fresh. Then the same payers pay and confirm
// again, now with a nonce word already in use.
const confirm100Fresh = await confirmBatch(payers100, pay100.terms, 0n);
const pay100Again = await payBatch(payers100);
const confirm100Used = await confirmBatch(payers100, pay100Again.terms, 1n);
// Every item to a merchant of its own: the escrow asks the registry on every item (no answer kept for the batch).
const merchants100 = await createMerchants(world, "batch-100-merchants", 100);
const pay100Merchants = await payBatch(payers100, merchants100);

// ------------------------------------------------------------------ settlement anchoring

const cycleId = 1n;
const tokenAddress = await world.token.getAddress();
const fee = PAYMENT_AMOUNT / 100n;
const recordPayers = await Promise.all([...payers10, ...payers100].map((p) => p.getAddress()));
const recordMerchants = await Promise.all(merchants.map((m) => m.getAddress()));
// Settlement records in the ledger's leaf field order (SETTLEMENT_RECORD_LEAF_ENCODING).
const records = Array.from({ length: RECORDS_PER_CYCLE }, (_, i) => ({
  cycleId,
  recordId: id(`settlenet-gas/record/${i}`),
  kind: 0,
  account: recordPayers[i % recordPayers.length] as string,
  counterparty: recordMerchants[i % recordMerchants.length] as string,
  token: tokenAddress,
  amount: PAYMENT_AMOUNT,
  fee,
}));
const recordTree = StandardMerkleTree.of(
  records.map((r) => Object.values(r)),
  [...SETTLEMENT_RECORD_LEAF_ENCODING],
);
const summary = {
  cycleId,
  merkleRoot: recordTree.root,
  recordCount: BigInt(RECORDS_PER_CYCLE),
  grossAmount: PAYMENT_AMOUNT * BigInt(RECORDS_PER_CYCLE),
  feeAmount: fee * BigInt(RECORDS_PER_CYCLE),
  totalsHash: id("settlenet-gas/totals"),
};
const domain = ledgerDomain(world.chainId, await world.ledger.getAddress());
const attesters = [...world.institutions].sort((a, b) => (BigInt(a.address) < BigInt(b.address) ? -1 : 1));
const attestations = await Promise.all(attesters.map((inst) => inst.signTypedData(domain, CYCLE_TYPES, summary)));
const finalize = await measure(world.as(world.ledger, world.relayer).finalize(summary, attestations));
const [firstRecord] = records;
if (!firstRecord || !(await world.ledger.verifyRecord(firstRecord, recordTree.getProof(0)))) {
  throw new Error("the finalized cycle does not prove its first record");
}

// ------------------------------------------------------------------ token operations

// Each token signer has used nonce 0 on the token, so relayed operations land in a bitmap word already in
// use, as on the escrow. The custodian's burn is measured through an unlimited allowance from the merchant
// (given here for the measurement only: Settlenet's merchants allow no person anything, and pay out by redeem).
const tokenAs = (signer: Signer) => world.as(world.token, signer);
const relayerToken = tokenAs(world.relayer);
const tokenTypedDomain = tokenDomain(world.chainId, tokenAddress, await world.token.name());
const tokenNonces = new NonceBook();
for (const signer of [world.inst1, world.regulator, world.merchant]) {
  await (await tokenAs(signer).cancelNonce(0n)).wait();
  tokenNonces.startAt(await signer.getAddress(), 1n);
}
const custodian = await world.inst1.getAddress();
await (await tokenAs(world.merchant).approve(custodian, ethers.MaxUint256)).wait();

/** The token operation `message` signed by `signer` with its next nonce, and the deadline it carries. */
async function signedTokenOperation(signer: Signer, kind: keyof typeof TOKEN_TYPES, message: Record<string, unknown>) {
  const nonce = tokenNonces.take(await signer.getAddress());
  const deadline = BigInt(await networkHelpers.time.latest()) + 3_600n;
  const signature = await signer.signTypedData(tokenTypedDomain, TOKEN_TYPES[kind], { ...message, nonce, deadline });
  return { nonce, deadline, signature };
}

const payerAddress = await world.payer.getAddress();
const merchantAddress = await world.merchant.getAddress();
const DEPOSIT = encodeBytes32String("deposit");
const PAYOUT = encodeBytes32String("payout");
const STATEMENT = encodeBytes32String("statement");
const DECISION = encodeBytes32String("decision");
const MINTED = 100_00n;
const BURNED = 10_00n;
const RESERVES_ATTESTED = 200_000_000_00n;

const mint = await measure(tokenAs(world.inst1).mint(payerAddress, MINTED, DEPOSIT));
const mintSig = await signedTokenOperation(world.inst1, "mint", { to: payerAddress, amount: MINTED, bankRef: DEPOSIT });
const mintWithSig = await measure(relayerToken.mintWithSig(payerAddress, MINTED, DEPOSIT, mintSig.nonce, mintSig.deadline, mintSig.signature));
const burn = await measure(tokenAs(world.inst1).burn(merchantAddress, BURNED, PAYOUT));
const burnSig = await signedTokenOperation(world.inst1, "burn", { from: merchantAddress, amount: BURNED, bankRef: PAYOUT });
const burnWithSig = await measure(relayerToken.burnWithSig(merchantAddress, BURNED, PAYOUT, burnSig.nonce, burnSig.deadline, burnSig.signature));
const REDEEMED_REF = encodeBytes32String("redeemed-payout");
const redeemSig = await signedTokenOperation(world.merchant, "redeem", { holder: merchantAddress, custodian, amount: BURNED, bankRef: REDEEMED_REF });
const redeemWithSig = await measure(
  relayerToken.redeemWithSig(merchantAddress, custodian, BURNED, REDEEMED_REF, redeemSig.nonce, redeemSig.deadline, redeemSig.signature),
);
const custodianId = await world.inst1.getAddress();
const latestStatement = await world.token.reservesOf(custodianId);
const asOf = BigInt(await networkHelpers.time.latest());
const attest = await measure(tokenAs(world.attestor).attestReserveStatement(custodianId, RESERVES_ATTESTED, asOf, latestStatement.sequence + 1n, STATEMENT));
const attestSig = await signedTokenOperation(world.attestor, "attestReserves", { custodian: custodianId, amount: RESERVES_ATTESTED + 1n, asOf, sequence: latestStatement.sequence + 2n, statementHash: STATEMENT });
const attestWithSig = await measure(
  relayerToken.attestReserveStatementWithSig(custodianId, RESERVES_ATTESTED + 1n, asOf, latestStatement.sequence + 2n, STATEMENT, attestSig.nonce, attestSig.deadline, attestSig.signature),
);
// Two accounts that hold tokens and are not frozen yet, one per form.
const [frozenDirect, frozenRelayed] = [await world.payer2.getAddress(), await world.merchant2.getAddress()];
const freeze = await measure(tokenAs(world.regulator).setFrozen(frozenDirect, true, DECISION));
const freezeSig = await signedTokenOperation(world.regulator, "freeze", { account: frozenRelayed, frozen: true, reason: DECISION });
const freezeWithSig = await measure(
  relayerToken.setFrozenWithSig(frozenRelayed, true, DECISION, freezeSig.nonce, freezeSig.deadline, freezeSig.signature),
);
const transfer = await measure(tokenAs(world.payer).transfer(merchantAddress, 10_00n));

// ------------------------------------------------------------------ registry changes that reach the token

// Each pushes the account's permission to the deployment's one settlement token.
const registryAs = (signer: Signer) => world.as(world.registry, signer);
const addressOf = (label: string) => new ethers.Wallet(id(`settlenet-gas/registry/${label}`)).address;
const newCustomer = addressOf("customer");
const [ACTIVE, SUSPENDED] = [1, 2];
const registerCustomer = await measure(registryAs(world.inst2).registerCustomer(newCustomer, 1));
const suspend = await measure(registryAs(world.admin).setAccountStatus(newCustomer, SUSPENDED));
const reactivate = await measure(registryAs(world.admin).setAccountStatus(newCustomer, ACTIVE));
const rotate = await measure(registryAs(world.inst3).rotateKey(addressOf("key")));

// ------------------------------------------------------------------ report

const profile = hre.config.solidity.profiles["default"];
const compiler = profile?.compilers[0];
const networkName = hre.globalOptions.network ?? "default";
const networkConfig = hre.config.networks[networkName] as { hardfork?: string } | undefined;
if (!compiler) throw new Error("no default Solidity compiler configured");

const measurements: Measurements = {
  singles: singleRows,
  pair: {
    direct: { pay: directPay.gas, confirm: directConfirm.gas },
    relayed: { pay: relayedPay.gas, confirm: relayedConfirm.gas },
  },
  batches: [
    { batch: "10 pays", items: 10, total: pay10.measured.gas, notes: "10 distinct payers, 10 merchants" },
    { batch: "100 pays", items: 100, total: pay100.measured.gas, notes: "100 distinct payers, 10 merchants", key: "pay100" },
    { batch: "100 pays, same payers again", items: 100, total: pay100Again.measured.gas, notes: "repeat of the line above (second payment of each payer)" },
    {
      batch: "100 pays, 100 merchants",
      items: 100,
      total: pay100Merchants.measured.gas,
      notes: "the same payers, each paying a merchant of its own: the registry is asked on every item",
    },
    {
      batch: "100 confirms, each payer's first relayed operation",
      items: 100,
      total: confirm100Fresh.gas,
      notes: "every payer's nonce bitmap word is fresh (zero → non-zero)",
    },
    {
      batch: "100 confirms, nonce word already in use",
      items: 100,
      total: confirm100Used.gas,
      notes: "same 100 payers, second confirm each",
      key: "confirm100",
    },
  ],
  finalize: { gas: finalize.gas, attestations: attestations.length, records: RECORDS_PER_CYCLE },
  token: [
    { operation: "mint", direct: mint.gas, relayed: mintWithSig.gas, notes: "custodian → registered payer that already holds tokens" },
    { operation: "burn", direct: burn.gas, relayed: burnWithSig.gas, notes: "custodian, from another account's balance through an unlimited allowance to it (payouts are redeems)" },
    { operation: "redeem", direct: undefined, relayed: redeemWithSig.gas, notes: "merchant, its own balance for a payout, signed by itself (no allowance); emits Burned and Redeemed" },
    { operation: "attestReserves", direct: attest.gas, relayed: attestWithSig.gas, notes: "the custodian's reserve attestor; replaces the previous statement" },
    { operation: "freeze", direct: freeze.gas, relayed: freezeWithSig.gas, notes: "regulator; freezes an account that was not frozen" },
    {
      operation: "transfer",
      direct: transfer.gas,
      relayed: undefined,
      notes: "payer → merchant, both already holding tokens; permissions and freezes read from the balance slots, no registry call",
    },
  ],
  registry: [
    { operation: "registerCustomer", gas: registerCustomer.gas, notes: "institution opens a customer account; pushed to the token" },
    { operation: "setAccountStatus (suspend)", gas: suspend.gas, notes: "admin suspends that customer; pushed to the token" },
    { operation: "setAccountStatus (reactivate)", gas: reactivate.gas, notes: "admin reactivates it; pushed to the token" },
    { operation: "rotateKey", gas: rotate.gas, notes: "institution's first rotation: the new key is pushed (its own account keeps its record)" },
  ],
  traces: {
    directPay: await trace(directPay),
    directConfirm: await trace(directConfirm),
    relayedPay: await trace(relayedPay),
    relayedConfirm: await trace(relayedConfirm),
    payBatch: { tx: await trace(pay100.measured), items: 100 },
    finalize: await trace(finalize),
  },
  naming,
  settings: {
    solc: compiler.version,
    optimizer: (compiler.settings as { optimizer?: { enabled?: boolean; runs?: number } }).optimizer ?? {},
    evmVersion: (compiler.settings as { evmVersion?: string }).evmVersion ?? "default",
    hardfork: networkConfig?.hardfork ?? "unknown",
    network: networkName,
  },
};

const report = renderReport(measurements);
console.log(report);
if (process.env.GAS_WRITE === "1") {
  const docs = new URL("../docs/", import.meta.url);
  await mkdir(docs, { recursive: true });
  await writeFile(new URL("gas.md", docs), report);
  console.error("wrote docs/gas.md");
}
if (process.env.GAS_JSON) {
  // The numbers only (no traces): gas per contract and category of each traced transaction, for the benchmark table.
  const parts = (tx: TxGas, items = 1) =>
    Object.fromEntries([...byContract(tx.root, naming)].map(([contract, categories]) => [contract, Object.fromEntries(Object.entries(categories).map(([k, v]) => [k, v / items]))]));
  const { traces, naming: _naming, ...numbers } = measurements;
  const json = {
    ...numbers,
    parts: {
      directPay: { intrinsic: traces.directPay.intrinsic, contracts: parts(traces.directPay) },
      directConfirm: { intrinsic: traces.directConfirm.intrinsic, contracts: parts(traces.directConfirm) },
      payInBatchOf100: { intrinsic: traces.payBatch.tx.intrinsic / traces.payBatch.items, contracts: parts(traces.payBatch.tx, traces.payBatch.items) },
      finalize: { intrinsic: traces.finalize.intrinsic, contracts: parts(traces.finalize) },
    },
  };
  await writeFile(process.env.GAS_JSON, JSON.stringify(json, null, 2));
}
