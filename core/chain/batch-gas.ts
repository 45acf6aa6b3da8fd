/**
 * The gas an `executeBatch` transaction gets, fixed per item by kind instead of asked of the chain
 * (`eth_estimateGas` runs the whole batch once more, and cost the chain more CPU than executing it).
 * Each budget is the worst case measured on the contracts plus a margin (fresh nonce bitmap words,
 * balances going from zero, the first deposit into the escrow); test/contracts/escrow/batch-gas.test.ts
 * runs every kind at exactly its budget and fails if one no longer fits. An item that still runs out
 * of gas is retried alone with a multiple of its budget (node/relay/escrow-submitter.ts).
 */
import { calldataGas } from "../operations/calldata.js";
import type { EscrowOperationKind } from "../operations/index.js";

/** Intrinsic gas of every transaction. */
export const TX_BASE_GAS = 21_000n;

/** The most gas one transaction may use (EIP-7825, 2^24): a batch never asks for more. */
export const TX_GAS_CAP = 16_777_216n;

/**
 * Gas a batch keeps beyond its items' budgets: executeBatch itself (about 1,300) and room for the last
 * item, which gets only 63/64 of the gas left when it is called (EIP-150).
 */
export const BATCH_BASE_GAS = 40_000n;

/** What an item's gas budget depends on: its kind, and for pay whether it is direct (paid out at once). */
export type BatchGasClass = EscrowOperationKind | "directPay";

/**
 * Gas an item of each class may use inside executeBatch, its calldata excluded: its own call frame
 * (`this.executeFromBatch`) and the loop's share. From the worst cases measured by
 * test/contracts/escrow/batch-gas.test.ts (`BATCH_GAS_REPORT=1` prints the gas used): the larger of the
 * gas used and the least budget at which the item still executes (found by bisecting the budget in that
 * test's strict batch), plus at least 5%.
 */
export const BATCH_ITEM_GAS: Readonly<Record<BatchGasClass, bigint>> = {
  // Uses 63,036, needs 63,134: the escrow's first deposit (its token balance from zero).
  pay: 67_000n,
  // Uses 81,683, needs 84,804: the merchant's and the fee receiver's first tokens.
  directPay: 90_000n,
  // Uses 36,864, needs 36,610: the merchant's nonce in a fresh bitmap word.
  markFulfilled: 39_000n,
  // Uses 66,371, needs 66,415: the payer's nonce in a fresh word, the merchant's and the fee receiver's first tokens.
  confirm: 70_000n,
  // Uses 39,278, needs 39,071: the merchant's and the fee receiver's first tokens.
  release: 42_000n,
  // Uses 60,351, needs 60,399: after release, from the merchant's balance, the merchant's nonce in a fresh word.
  refund: 64_000n,
  // Uses 37,428, needs 37,226: the payer's nonce in a fresh word.
  dispute: 40_000n,
  // Uses 81,790, needs 82,069: three transfers, the merchant's and the fee receiver's first tokens.
  resolve: 87_000n,
  // Uses 56,267, needs 56,297: the payer's nonce in a fresh word.
  reclaim: 60_000n,
};

/** The gas class of an escrow operation. */
export function batchGasClass(op: { kind: EscrowOperationKind; terms: { direct: boolean } }): BatchGasClass {
  return op.kind === "pay" && op.terms.direct ? "directPay" : op.kind;
}

/** Budgets by gas class (BATCH_ITEM_GAS unless a relayer is given others). */
export type BatchGasBudgets = Readonly<Record<BatchGasClass, bigint>>;

/** Gas of an item: its budget (times `factor` after it ran out of gas) plus its calldata. */
export function batchItemGas(gasClass: BatchGasClass, calldataGas: bigint, factor = 1, budgets: BatchGasBudgets = BATCH_ITEM_GAS): bigint {
  return budgets[gasClass] * BigInt(factor) + calldataGas;
}

/** The gas limit of an executeBatch transaction with `calldata` carrying items of these classes (and retry factors). */
export function batchGasLimit(
  items: readonly { gasClass: BatchGasClass; factor?: number }[],
  calldata: Uint8Array,
  budgets: BatchGasBudgets = BATCH_ITEM_GAS,
): bigint {
  let gas = TX_BASE_GAS + BATCH_BASE_GAS + calldataGas(calldata);
  for (const item of items) gas += budgets[item.gasClass] * BigInt(item.factor ?? 1);
  return gas;
}
