/**
 * Regulator freezes seen from the gateway: before it relays anything that would move a frozen
 * account's tokens (a payer's authorization, a payout, a top-up, a transfer), it reads the token's
 * freeze flags from the chain and refuses with ACCOUNT_FROZEN (403). Nothing is stored or submitted,
 * so the refusal changes nothing; the node and the token check again (the node answers the same code).
 * The chain, not the node's mirror, is read so that a freeze executed a moment ago already counts.
 */
import { SettlenetError } from "../../core/errors.js";
import type { MoneyChain } from "../adapters/money-chain.js";

/** A party of the movement and its role, named in the refusal. */
export interface FreezeParty {
  role: "payer" | "merchant" | "recipient";
  address: string;
}

/** Throws ACCOUNT_FROZEN naming the first frozen party of a movement on `token`. */
export async function assertNotFrozen(chain: Pick<MoneyChain, "isFrozen">, token: string, parties: FreezeParty[]): Promise<void> {
  const flags = await Promise.all(parties.map((p) => chain.isFrozen(token, p.address)));
  const frozen = parties.find((_, i) => flags[i]);
  if (frozen) {
    throw new SettlenetError("ACCOUNT_FROZEN", `the ${frozen.role} ${frozen.address} is frozen on ${token} by a regulator`, {
      account: frozen.address,
      role: frozen.role,
      token,
    });
  }
}
