/**
 * The order in which active institutions step in for a chain action any of them may send (relaying a
 * gossiped operation, finalizing a cycle). Every node derives it from the registry alone, so each
 * knows its turn without asking the others, and the first turn moves between institutions from one
 * subject to the next.
 */
import { AbiCoder, getAddress, keccak256, toBeHex } from "ethers";

/**
 * Position (0 = first) of `institution` in the failover order of `subject` (a bytes32 id, or a
 * number such as a cycle id), or -1 if it is not one of `institutions`. The order is ascending
 * keccak256(abi.encode(bytes32 subject, address institution)).
 */
export function failoverPosition(subject: string | bigint, institution: string, institutions: readonly string[]): number {
  const word = typeof subject === "bigint" ? toBeHex(subject, 32) : subject;
  const coder = AbiCoder.defaultAbiCoder();
  const keyed = institutions.map((id) => ({ id: getAddress(id), key: BigInt(keccak256(coder.encode(["bytes32", "address"], [word, id]))) }));
  keyed.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  const own = getAddress(institution);
  return keyed.findIndex(({ id }) => id === own);
}

/** How long the holder of turn `turn` (0 = first) waits before stepping in: `stepMs` per turn ahead of it. */
export function failoverDelayMs(turn: number, stepMs: number): number {
  return turn * stepMs;
}
