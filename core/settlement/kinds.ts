/** Settlement record kinds: the leaf's uint8 `kind`, shared by the records and the API contract. */

/** Record kinds (the leaf's uint8 `kind`); numbers are part of the on-chain format, never renumber. */
export const RECORD_KINDS = {
  released: 0,
  refunded: 1,
  resolved: 2,
  reclaimed: 3,
  deposit: 4,
  payout: 5,
  merchantTotals: 6,
  institutionTotals: 7,
  directPayment: 8,
} as const;
export type RecordKindName = keyof typeof RECORD_KINDS;
const KIND_NAMES = Object.fromEntries(Object.entries(RECORD_KINDS).map(([name, code]) => [code, name])) as Record<number, RecordKindName>;

/** Kinds derived from escrow events (the node's payment index covers them). */
export const PAYMENT_KINDS: readonly RecordKindName[] = ["released", "directPayment", "refunded", "resolved", "reclaimed", "merchantTotals", "institutionTotals"];

/** Name of a record kind code (`kind-<n>` for a code this version does not know). */
export function kindName(code: number): string {
  return KIND_NAMES[code] ?? `kind-${code}`;
}
