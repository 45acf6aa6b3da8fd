/**
 * Regulator freezes seen from the gateway's money movement: before a payout, a top-up or a transfer
 * (flows that read the chain anyway, for balances and allowances), it reads the token's freeze flags
 * from the chain and refuses with ACCOUNT_FROZEN (403). Nothing is stored or submitted, so the refusal
 * changes nothing; the node and the token check again. A payer's authorization is not checked here:
 * it is on the hot path, and the node refuses it with the same code from its registry mirror
 * (domain/payments.ts names the frozen party), with no chain read.
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
