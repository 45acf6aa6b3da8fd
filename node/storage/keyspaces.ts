/**
 * Every LevelDB keyspace (sublevel) of a node, in one place. Keys are strings; values JSON.
 * Nothing outside node/storage opens or reads these directly.
 *
 * | sublevel      | key                                              | value                      |
 * | ------------- | ------------------------------------------------ | -------------------------- |
 * | ops           | operation id                                     | StoredOperation            |
 * | opsByPayment  | paymentId ! operation id                         | "" (index)                 |
 * | opsByStatus   | status ! receivedAtMs(16 digits) ! operation id  | "" (index)                 |
 * | payments      | payment id                                       | PaymentRecord              |
 * | byMerchant    | merchant ! paidAt(12 digits) ! payment id        | "" (index)                 |
 * | byPayer       | payer ! paidAt(12 digits) ! payment id           | "" (index)                 |
 * | byInstitution | institution ! paidAt(12 digits) ! payment id     | "" (index)                 |
 * | byTime        | paidAt(12 digits) ! payment id                   | "" (index)                 |
 * | meta          | name (e.g. "indexer.cursor")                     | JSON value                 |
 * | risk          | counter key (e.g. "payer!<addr>!<day>")          | { amount, count, times }   |
 * | nonces        | signer ! nonce                                   | operation id (seen nonces) |
 * | cycles        | cycleId(20 digits)                               | CycleState                 |
 * | cycleRecords  | cycleId(20 digits) ! index in tree order(8)      | RecordJson                 |
 * | cycleAttestations | cycleId(20 digits) ! merkleRoot ! institution | AttestationRecord         |
 * | cycleAlerts   | cycleId(20 digits) ! alert id                    | SettlementAlert            |
 * | alerts        | alert id                                         | AlertRecord (compliance)   |
 * | alertsByTime  | at(12 digits) ! alert id                         | "" (index)                 |
 */
export const KEYSPACES = [
  "ops",
  "opsByPayment",
  "opsByStatus",
  "payments",
  "byMerchant",
  "byPayer",
  "byInstitution",
  "byTime",
  "meta",
  "risk",
  "nonces",
  "cycles",
  "cycleRecords",
  "cycleAttestations",
  "cycleAlerts",
  "alerts",
  "alertsByTime",
] as const;

export type Keyspace = (typeof KEYSPACES)[number];

/** Separator inside composite keys (sorts below every hex digit and letter). */
export const SEP = "!";

/** Fixed-width decimal so that lexicographic order is numeric order. */
export function pad(value: number, width: number): string {
  return value.toString().padStart(width, "0");
}
