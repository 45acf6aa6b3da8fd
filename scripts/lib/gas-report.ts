/** Renders the gas measurements of scripts/gas.ts as the markdown report (docs/gas.md). */
import { CATEGORIES, byContract, flatten, mergeFrames, type Category, type MergedFrame, type Naming, type TxGas } from "./gas-trace.js";

export interface Measurements {
  singles: { operation: string; direct: number | undefined; relayed: number; notes: string }[];
  pair: { direct: { pay: number; confirm: number }; relayed: { pay: number; confirm: number } };
  batches: { batch: string; items: number; total: number; notes: string; key?: "pay100" | "confirm100" }[];
  finalize: { gas: number; attestations: number; records: number };
  /** SettlementToken operations: the actor's own call and, where there is one, the `*WithSig` call a relayer sends. */
  token: { operation: string; direct: number | undefined; relayed: number | undefined; notes: string }[];
  /** ParticipantRegistry changes that push an account's permission to the settlement tokens. */
  registry: { operation: string; gas: number; notes: string }[];
  traces: {
    directPay: TxGas;
    directConfirm: TxGas;
    relayedPay: TxGas;
    relayedConfirm: TxGas;
    /** The measured batch of pays the target is about. */
    payBatch: { tx: TxGas; items: number };
    finalize: TxGas;
  };
  naming: Naming;
  settings: { solc: string; optimizer: { enabled?: boolean; runs?: number }; evmVersion: string; hardfork: string; network: string };
}

export const TARGETS = { payConfirmFirstStep: 150_000, payConfirm: 120_000, batchPay: 50_000, anchoringPerPayment: 50 } as const;
/** EVM gas schedule constants the estimates below use. */
const TX_BASE = 21_000;
const NEW_SLOT = 22_100; // cold SSTORE zero → non-zero
const COLD_SLOAD = 2_100;
const WARM_WRITE = 2_900; // SSTORE non-zero → non-zero, after the cold read
const ECRECOVER = 3_000;

const fmt = (n: number) => Math.round(n).toLocaleString("en-US");
const signed = (n: number) => (n < 0 ? `−${fmt(-n)}` : fmt(n));

function status(measured: number, target: number, unit = "gas"): string {
  if (measured <= target) return `**met** (${fmt(target - measured)} ${unit} to spare)`;
  return `**missed** by ${fmt(measured - target)} ${unit} (${(measured / target).toFixed(2)}× the target)`;
}

function table(header: string[], rows: string[][], align: ("l" | "r")[] = []): string {
  const rule = header.map((_, i) => (align[i] === "r" ? "---:" : "---"));
  return [header, rule, ...rows].map((r) => `| ${r.join(" | ")} |`).join("\n");
}

const CATEGORY_LABELS: Record<Category, string> = {
  storage: "storage (SLOAD/SSTORE/TLOAD/TSTORE)",
  events: "events",
  hashing: "keccak256",
  precompile: "signature recovery (precompile)",
  call: "entering calls (account access, call memory)",
  compute: "other execution (ABI coding, memory, checks)",
};
const CONTRACT_ORDER = ["PaymentEscrow", "SettlementLedger", "SettlementToken", "ParticipantRegistry", "ecrecover"];

/** Gas of each traced transaction by contract and category, one column per transaction (divided by `items`). */
function categoryTable(columns: { title: string; tx: TxGas; items: number }[], naming: Naming): string {
  const totals = columns.map((c) => byContract(c.tx.root, naming));
  const contracts = CONTRACT_ORDER.filter((name) => totals.some((t) => t.has(name)));
  const rows: string[][] = [["transaction base (21,000) + calldata", ...columns.map((c) => fmt(c.tx.intrinsic / c.items))]];
  for (const contract of contracts) {
    for (const category of CATEGORIES) {
      const values = totals.map((t, i) => (t.get(contract)?.[category] ?? 0) / (columns[i] as { items: number }).items);
      if (values.every((v) => v === 0)) continue;
      const label = contract === "ecrecover" ? "ecrecover precompile" : `${contract}: ${CATEGORY_LABELS[category]}`;
      rows.push([label, ...values.map(fmt)]);
    }
  }
  if (columns.some((c) => c.tx.refund !== 0)) rows.push(["storage refund", ...columns.map((c) => signed(-c.tx.refund / c.items))]);
  rows.push(["**total (receipt gasUsed)**", ...columns.map((c) => `**${fmt(c.tx.gasUsed / c.items)}**`)]);
  return table(["part", ...columns.map((c) => c.title)], rows, ["l", ...columns.map(() => "r" as const)]);
}

/** The call tree with inclusive gas (each line includes the lines indented under it). */
function callTreeBlock(tx: TxGas, naming: Naming, items = 1): string {
  const lines: string[] = [`${fmt(tx.intrinsic / items).padStart(9)}  transaction base + calldata`];
  const walk = (frame: MergedFrame, depth: number) => {
    const count = frame.count / items;
    const times = count === 1 ? "" : ` ×${Number.isInteger(count) ? count : count.toFixed(2)}`;
    const label = depth === 0 && items > 1 ? `${frame.name} (whole batch / ${items})` : `${frame.name}${times}`;
    lines.push(`${fmt(frame.inclusive / items).padStart(9)}  ${"  ".repeat(depth)}${label}`);
    for (const child of frame.children) walk(child, depth + 1);
  };
  for (const frame of mergeFrames([tx.root], naming)) walk(frame, 0);
  if (tx.refund !== 0) lines.push(`${signed(-tx.refund / items).padStart(9)}  storage refund`);
  lines.push(`${fmt(tx.gasUsed / items).padStart(9)}  total`);
  return ["```text", ...lines, "```"].join("\n");
}

/** Sum of inclusive gas of frames matching `name` (prefix) called from a frame matching `caller` (prefix). */
function inclusiveOf(tx: TxGas, naming: Naming, name: string, caller?: string): { gas: number; calls: number } {
  let gas = 0;
  let calls = 0;
  for (const entry of flatten(tx.root, naming)) {
    if (!entry.name.startsWith(name)) continue;
    if (caller !== undefined && !(entry.caller ?? "").startsWith(caller)) continue;
    gas += entry.frame.inclusive;
    calls += 1;
  }
  return { gas, calls };
}

function ownOf(tx: TxGas, naming: Naming, contract: string, category: Category): number {
  return byContract(tx.root, naming).get(contract)?.[category] ?? 0;
}

function payConfirmSection(m: Measurements): string {
  const { naming } = m;
  const { directPay, directConfirm, relayedPay, relayedConfirm } = m.traces;
  const pairTotal = m.pair.direct.pay + m.pair.direct.confirm;
  const pair = [directPay, directConfirm];
  const sum = (f: (tx: TxGas) => number) => pair.reduce((s, tx) => s + f(tx), 0);

  const intrinsic = sum((tx) => tx.intrinsic);
  const escrowStorage = sum((tx) => ownOf(tx, naming, "PaymentEscrow", "storage"));
  const escrowEvents = sum((tx) => ownOf(tx, naming, "PaymentEscrow", "events"));
  const escrowOther = sum((tx) => ownOf(tx, naming, "PaymentEscrow", "compute") + ownOf(tx, naming, "PaymentEscrow", "hashing"));
  const registry = inclusiveOf(directPay, naming, "ParticipantRegistry", "PaymentEscrow");
  const tokenRegistryCalls = sum((tx) => inclusiveOf(tx, naming, "ParticipantRegistry", "SettlementToken").calls);
  const pull = inclusiveOf(directPay, naming, "SettlementToken.pullPayment").gas;
  const transfers = directConfirm.root.children.filter((f) => naming.contracts.get(f.address)?.name === "SettlementToken");
  const payout = transfers[0]?.inclusive ?? 0;
  const feeTransfer = transfers[transfers.length - 1]?.inclusive ?? 0;
  const tokenStorage = sum((tx) => ownOf(tx, naming, "SettlementToken", "storage"));

  // Accruing fees replaces the fee transfer by one counter update in the escrow.
  const feeSaving = feeTransfer - (COLD_SLOAD + WARM_WRITE);
  const projected = pairTotal - feeSaving;
  // What a hold-then-release of a new payment pays whatever the contracts do: two transactions with the terms
  // as calldata, the new payment record, and three balance updates of accounts not yet touched in the transaction.
  const floor = intrinsic + NEW_SLOT + 3 * (COLD_SLOAD + WARM_WRITE);
  const freshWord = m.singles.find((s) => s.operation.startsWith("confirm, signer's first nonce"))?.relayed;
  const usedWord = m.singles.find((s) => s.operation === "confirm")?.relayed;
  const batchPair = perItem(m, "pay100") + perItem(m, "confirm100");

  return `### pay + confirm as single transactions

Measured from the opcode traces of the two direct transactions (and, for comparison, the relayed ones):

${categoryTable(
  [
    { title: "pay (direct)", tx: directPay, items: 1 },
    { title: "confirm (direct)", tx: directConfirm, items: 1 },
    { title: "pay (relayed)", tx: relayedPay, items: 1 },
    { title: "confirm (relayed)", tx: relayedConfirm, items: 1 },
  ],
  naming,
)}

Call trees of the direct pair (gas includes the calls indented below):

${callTreeBlock(directPay, naming)}

${callTreeBlock(directConfirm, naming)}

Where it goes, for the ${fmt(pairTotal)} gas of the direct pair:

- **${fmt(intrinsic)}** is two transaction bases (${fmt(2 * TX_BASE)}) and the full payment terms sent twice as calldata.
- **${fmt(escrowStorage)}** is the escrow's own storage: the new payment record (${fmt(NEW_SLOT)}, one slot zero → non-zero),
  its update on confirm, and the pause flag read on pay; **${fmt(escrowEvents)}** its events and **${fmt(escrowOther)}** its
  other execution (hashing the terms into the payment id, ABI coding, checks).
- **${fmt(registry.gas)}** is the escrow's ${registry.calls === 1 ? "one registry call" : `${registry.calls} registry calls`} on pay (\`paymentCheck\`: the token's admission and the merchant's
  record, both cold, and entering the registry); the token checks the payer from the payer's balance slot, which the pull
  reads anyway (the registry pushes whether an account may pay into it).
- **Three token transfers** (payer → escrow ${fmt(pull)}, escrow → merchant ${fmt(payout)}, escrow → fee receiver ${fmt(feeTransfer)}),
  of which **${fmt(tokenStorage)}** is the token's storage: each side's balance slot (one read, one write; it also holds the
  account's permission and freeze flags, and the payer's unlimited allowance to the escrow, so the pull reads no allowance
  of its own), and the token's pause flag once per transaction.
  The token calls the registry ${tokenRegistryCalls === 0 ? "in none of them" : `${tokenRegistryCalls} times`}.

What would move it (estimates, from the measured parts above and the gas schedule):

- Accrue fees in the escrow (one per-token counter, swept to the fee receiver once per settlement cycle) instead of a fee
  transfer on every release: the fee transfer measured ${fmt(feeTransfer)}; a counter update costs about ${fmt(COLD_SLOAD + WARM_WRITE)}
  → **≈ ${fmt(feeSaving)} less per confirm, release, resolve and direct payment**, at the price of the escrow holding
  fees between sweeps.
- Relayed only: every relayed operation but pay and release spends a nonce of its signer. A confirm whose nonce opens a
  fresh bitmap word measured ${freshWord === undefined || usedWord === undefined ? "more" : `${fmt(freshWord - usedWord)} more`} than one in a word already in use
  (a payer's first relayed operation is always the expensive case), and a used word still costs ≈ ${fmt(COLD_SLOAD + WARM_WRITE)}.
  markFulfilled, confirm, dispute, resolve and reclaim can each run only once per payment (the status moves on and never
  comes back), so the payment state already stops replays; only refund, which can repeat, needs the nonce. Dropping it
  for the others saves that much per relayed operation, at the price of \`cancelNonce\` no longer withdrawing such a
  signature (its deadline still bounds it). Not counted below, which is about the direct pair.

That leaves pay + confirm at **≈ ${fmt(projected)}** (estimate):
${status(projected, TARGETS.payConfirm).replace(/\*\*/g, "")} for ${fmt(TARGETS.payConfirm)}. Whatever the contracts do, a new payment held and then
released as two transactions pays ≈ ${fmt(floor)}: the two bases and calldata (${fmt(intrinsic)}), the payment record
(${fmt(NEW_SLOT)}) and three balance slots read and written (${fmt(3 * (COLD_SLOAD + WARM_WRITE))}); the rest is events, the pause flags,
the registry check and execution. For comparison, a direct payment (\`terms.direct\`, no hold) is a single
transaction of ${fmt(m.singles.find((s) => s.operation.startsWith("pay, direct payment"))?.direct ?? 0)}, and relayed in batches the pair costs
${fmt(batchPair)} per payment (measured: a pay in a batch of 100 plus a confirm in a batch of 100 with the nonce word in use).
`;
}

function perItem(m: Measurements, key: "pay100" | "confirm100"): number {
  const row = m.batches.find((b) => b.key === key);
  if (!row) throw new Error(`no batch measurement ${key}`);
  return row.total / row.items;
}

function batchSection(m: Measurements): string {
  const { naming } = m;
  const { tx, items } = m.traces.payBatch;
  const per = (n: number) => n / items;
  const measured = per(tx.gasUsed);
  const calldata = per(tx.intrinsic) - TX_BASE / items;
  const registry = per(inclusiveOf(tx, naming, "ParticipantRegistry", "PaymentEscrow").gas);
  const pull = per(inclusiveOf(tx, naming, "SettlementToken.pullPayment").gas);
  const itemFrames = inclusiveOf(tx, naming, "PaymentEscrow.executeFromBatch");
  const loop = per(tx.root.inclusive - itemFrames.gas);
  const itemEntry = per(ownOf(tx, naming, "PaymentEscrow", "call"));
  const events = per(ownOf(tx, naming, "PaymentEscrow", "events") + ownOf(tx, naming, "SettlementToken", "events"));
  const escrowOther = per(ownOf(tx, naming, "PaymentEscrow", "compute") + ownOf(tx, naming, "PaymentEscrow", "hashing")) - loop;
  // The parts a new payment from a payer never seen in this transaction cannot avoid.
  const inherent = NEW_SLOT + (COLD_SLOAD + WARM_WRITE) + ECRECOVER;
  const internalDebit = COLD_SLOAD + WARM_WRITE;
  const withInternalBalances = measured - (pull - internalDebit);

  return `### pays in a batch of ${items}

Per item (the whole batch transaction divided by ${items}), from the opcode trace of the measured batch:

${categoryTable([{ title: `per pay in a batch of ${items}`, tx, items }], naming)}

${callTreeBlock(tx, naming, items)}

Where it goes, per pay (${fmt(measured)}):

- **${fmt(calldata)}** calldata: each item carries the full terms, four operation fields and a 65-byte signature
  (the ${fmt(TX_BASE)} transaction base adds only ${fmt(TX_BASE / items)} per item).
- **≈ ${fmt(inherent)}** is inherent to a new payment from a payer not yet touched in the transaction (estimate from the gas schedule):
  the payment record ${fmt(NEW_SLOT)}, the payer's balance slot read and written ${fmt(COLD_SLOAD + WARM_WRITE)} (it also holds the
  payer's unlimited allowance to the escrow and whether it may pay), and the signature recovery ${fmt(ECRECOVER)}.
- **${fmt(events)}** the two events (\`PaymentPaid\`, the token's \`Transfer\`).
- The pull (\`pullPayment\`) costs ${fmt(pull)} in all, the escrow's registry check ${fmt(registry)} (made once per merchant and
  token in a batch, whose later items use the answer kept in transient storage).
- **${fmt(loop)}** batch mechanics in \`executeBatch\` (loop, copying each item's own calldata into the self-call) plus
  ${fmt(itemEntry)} to enter each item's call frame, and **≈ ${fmt(escrowOther)}** the escrow's own execution per item (decoding the
  operation, hashing the terms, ABI coding of its calls and event, checks).

What would move it (estimates):

- Reaching ${fmt(TARGETS.batchPay)} needs a cheaper way to move the money than an ERC-20 pull per payment, e.g. payer balances
  held inside the escrow (deposited once, debited with one storage write per pay): the pull costs ${fmt(pull)} against about
  ${fmt(internalDebit)} for debiting an internal balance, so **≈ ${fmt(withInternalBalances)}** per pay (estimate). The rest would have
  to come from the calldata (${fmt(calldata)}), the events and the batch mechanics.
`;
}

function anchoringSection(m: Measurements): string {
  const { naming } = m;
  const tx = m.traces.finalize;
  const { gas, records, attestations } = m.finalize;
  const storage = ownOf(tx, naming, "SettlementLedger", "storage");
  const registry = inclusiveOf(tx, naming, "ParticipantRegistry");
  const ecrecover = inclusiveOf(tx, naming, "ecrecover").gas;
  const floor = TX_BASE + attestations * ECRECOVER + NEW_SLOT;
  const oneSlot = gas - NEW_SLOT;
  const recordsNeeded = (g: number) => Math.ceil(g / TARGETS.anchoringPerPayment);

  return `### Merkle anchoring

\`finalize\` does not depend on the number of records (it stores the root), so the cost per payment is ${fmt(gas)} / ${fmt(records)}.

${categoryTable([{ title: "finalize", tx, items: 1 }], naming)}

${callTreeBlock(tx, naming)}

Where it goes: **${fmt(storage)}** stores the finalized cycle (two new slots: the root, and count / attestations / time);
**${fmt(registry.gas)}** ${registry.calls === 1 ? "is the one registry call" : `are ${registry.calls} registry calls`} (\`attestersOf\`: the active institution count, and per
attestation the signer's institution and its status, all cold); **${fmt(ecrecover)}** recovers ${attestations} signatures; **${fmt(tx.intrinsic)}** is the transaction base and calldata.

What would move it:

- At ${fmt(records)} records per cycle the target is out of reach for any contract that verifies ${attestations} ECDSA attestations
  on chain and keeps each cycle's root in a storage slot of its own: ${fmt(TX_BASE)} base + ${attestations} × ${fmt(ECRECOVER)} ecrecover + ${fmt(NEW_SLOT)} for one new slot = ${fmt(floor)} gas,
  already ${(floor / records).toFixed(1)} per payment before calldata.
- Store only the root (the event already carries the record count and the attesters; the time is the block's), at the
  price of a smaller \`cycleOf\` view: ≈ ${fmt(oneSlot)} per cycle (estimate), ${(oneSlot / records).toFixed(1)} gas per payment.
- Bigger cycles: at the measured cost, ${fmt(TARGETS.anchoringPerPayment)} gas per payment needs ${fmt(recordsNeeded(gas))} records per cycle
  (${fmt(recordsNeeded(oneSlot))} with the root-only layout), or anchoring several cycles under one attested root per transaction.
`;
}

export function renderReport(m: Measurements): string {
  const pairDirect = m.pair.direct.pay + m.pair.direct.confirm;
  const pairRelayed = m.pair.relayed.pay + m.pair.relayed.confirm;
  const batchPay = perItem(m, "pay100");
  const perPayment = m.finalize.gas / m.finalize.records;
  const { optimizer } = m.settings;

  const targets = table(
    ["target (from the issue)", "measured", "status"],
    [
      [
        `pay + confirm ≤ ${fmt(TARGETS.payConfirmFirstStep)} gas as single transactions (first step)`,
        `direct: ${fmt(pairDirect)}<br>relayed: ${fmt(pairRelayed)}`,
        `direct ${status(pairDirect, TARGETS.payConfirmFirstStep)}<br>relayed ${status(pairRelayed, TARGETS.payConfirmFirstStep)}`,
      ],
      [
        `pay + confirm ≤ ${fmt(TARGETS.payConfirm)} gas as single transactions`,
        `direct: ${fmt(m.pair.direct.pay)} + ${fmt(m.pair.direct.confirm)} = ${fmt(pairDirect)}<br>relayed: ${fmt(m.pair.relayed.pay)} + ${fmt(m.pair.relayed.confirm)} = ${fmt(pairRelayed)}`,
        `direct ${status(pairDirect, TARGETS.payConfirm)}<br>relayed ${status(pairRelayed, TARGETS.payConfirm)}`,
      ],
      [`≤ ${fmt(TARGETS.batchPay)} gas per pay in a batch of 100`, `${fmt(batchPay)} per pay`, status(batchPay, TARGETS.batchPay)],
      [
        `Merkle anchoring ≤ ${TARGETS.anchoringPerPayment} gas per payment at ${fmt(m.finalize.records)} per cycle`,
        `${fmt(m.finalize.gas)} / ${fmt(m.finalize.records)} = ${perPayment.toFixed(1)} per payment`,
        status(perPayment, TARGETS.anchoringPerPayment),
      ],
    ],
  );

  const singles = table(
    ["operation", "direct (actor's own transaction)", "relayed via `execute()`", "notes"],
    [
      ...m.singles.map((s) => [s.operation, s.direct === undefined ? "—" : fmt(s.direct), fmt(s.relayed), s.notes]),
      ["**pay + confirm** (two transactions)", fmt(pairDirect), fmt(pairRelayed), "a fresh payment: pay, then confirm (no markFulfilled)"],
    ],
    ["l", "r", "r", "l"],
  );

  const batches = table(
    ["batch (`executeBatch`, relayer)", "total gas", "gas per item", "notes"],
    m.batches.map((b) => [b.batch, fmt(b.total), fmt(b.total / b.items), b.notes]),
    ["l", "r", "r", "l"],
  );

  const anchoring = table(
    ["`SettlementLedger.finalize`", "gas"],
    [
      [`cycle of ${fmt(m.finalize.records)} records, ${m.finalize.attestations} attestations (quorum of 3 institutions)`, fmt(m.finalize.gas)],
      [`per payment at ${fmt(m.finalize.records)} records per cycle`, perPayment.toFixed(1)],
    ],
    ["l", "r"],
  );

  const token = table(
    ["SettlementToken operation", "direct (actor's own transaction)", "relayed via `*WithSig`", "notes"],
    m.token.map((row) => [row.operation, row.direct === undefined ? "—" : fmt(row.direct), row.relayed === undefined ? "—" : fmt(row.relayed), row.notes]),
    ["l", "r", "r", "l"],
  );

  const registry = table(
    ["ParticipantRegistry operation", "gas", "notes"],
    m.registry.map((row) => [row.operation, fmt(row.gas), row.notes]),
    ["l", "r", "l"],
  );

  const missed: string[] = [];
  if (Math.min(pairDirect, pairRelayed) > TARGETS.payConfirm) missed.push(payConfirmSection(m));
  if (batchPay > TARGETS.batchPay) missed.push(batchSection(m));
  if (perPayment > TARGETS.anchoringPerPayment) missed.push(anchoringSection(m));

  return `# Gas per escrow operation

Generated by \`scripts/gas.ts\`; do not edit by hand. Every number is the \`gasUsed\` of a real transaction receipt on
the deployed contracts, except where a line says *estimate*.

## Targets

${targets}

## Single operations

${singles}

## Batches

${batches}

Every batch item is signed by its own actor and every item succeeded (the script refuses a batch with an
\`OperationFailed\` event). Gas per item is the batch's total divided by the number of items, so it includes the
item's share of the transaction base (21,000) and its calldata.

## Settlement anchoring

${anchoring}

## Token

${token}

A settlement token keeps each account's permission and whether it may pay (pushed by the registry), and its freeze flag, in the account's balance
slot, so a transfer reads one slot per side and does not call the registry. The registry pays for it when an account's
permission changes, once per settlement token:

${registry}

## Where the gas goes

${missed.length === 0 ? "All targets are met." : missed.join("\n")}
## How this was measured

- Command: \`GAS_WRITE=1 npm run gas\` (prints this report and writes \`docs/gas.md\`); \`npm run gas\` only prints it.
  \`hardhat run\` passes no arguments to scripts (\`npm run gas -- --write\` fails with HHE504), hence the
  environment variable.
- Chain: Hardhat's in-process EDR network (\`network.create()\`, network \`${m.settings.network}\`, hardfork
  \`${m.settings.hardfork}\`), automining one transaction per block.
- Compiler (from \`hardhat.config.ts\`): solc ${m.settings.solc}, optimizer ${optimizer.enabled ? "enabled" : "disabled"}${
    optimizer.runs === undefined ? "" : ` with ${fmt(optimizer.runs)} runs`
  }, EVM version \`${m.settings.evmVersion}\`.
- World: the contract world (\`scripts/lib/contract-world.ts\`: 3 institutions, regulator, arbiter, merchants at a
  1% fee, payers with an unlimited escrow allowance, kept as a flag in their balance slots), in a steady state: the escrow always holds a payment, merchants and
  the fee receiver already hold tokens, so no transfer writes a zero balance slot. Payments are 100.00 CNY.
- Single operations: each line runs on a fresh payment brought to the required state; the relayer submits relayed
  operations with the actor's EIP-712 signature. Signers use sequential nonces in a bitmap word they have used before,
  except on the line that shows the cost of a fresh word.
- Batches: ${m.batches[1]?.items ?? 100} distinct payers (each a customer registered by one of the three institutions, funded
  and with its own unlimited allowance), so every item pays the cold storage of its payer (its balance slot, which
  also holds whether it may pay); the payments rotate over 10 merchants: the escrow asks the registry about a merchant and
  the token on its first item in a batch and keeps the answer for the batch's later items (in the batch of 10, every
  merchant is asked once).
- Anchoring: a real StandardMerkleTree of ${fmt(m.finalize.records)} settlement records; the script checks a proof of the
  first record against the finalized cycle.
- Token operations: custodian institution 1 and the regulator have each used nonce 0 on the token, the payer and the
  merchant already hold tokens, and the custodian already has reserves attested and supply outstanding, so no line
  writes a zero slot (a freeze sets a flag in the account's balance slot).
- Registry operations: a new customer account, suspended and reactivated by the admin, and an institution's first key
  rotation, with the deployment's one settlement token to push to.
- Breakdowns: \`debug_traceTransaction\` opcode traces of the measured transactions; every opcode's cost is assigned to the
  contract frame it ran in (a call's account-access cost to the callee), so the parts add up to \`gasUsed\` exactly.
  Savings marked *estimate* are computed from those parts and the EVM gas schedule (cold SLOAD 2,100; new slot 22,100;
  slot update 2,900; ecrecover 3,000), not measured on changed contracts.
- Runs differ by a few tens of gas per transaction: signatures and timestamps change how many calldata bytes are zero.
`;
}
