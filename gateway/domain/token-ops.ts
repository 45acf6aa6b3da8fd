/**
 * The token operation the gateway signs and submits to the node: a merchant's `redeem` of its own
 * balance (a payout, before the bank pays) signed with the merchant's key, in the node's wire form
 * (core/operations/redeem.ts; `burn` only in payouts stored before redemptions). Mints are never the
 * gateway's: the custodian service beside the custodian institution's node signs them. The operation id is the EIP-712
 * digest under the token's domain, so a stored operation resubmitted after a restart is the same
 * operation, and the token's unordered nonces let it execute at most once.
 */
import type { HDNodeWallet, Wallet } from "ethers";

import type { TokenDeployment } from "../../core/protocol/deployment.js";
import { signTokenOperation, tokenOperationDigest, tokenOperationSchema, type TokenOperationInput } from "../../core/operations/index.js";
import { randomNonce } from "../../core/random-ids.js";

/** A mint or burn in its JSON wire form. */
export type TokenOperationWire = Extract<TokenOperationInput, { kind: "mint" | "burn" | "redeem" }>;

export { chainBankRef } from "../../core/bank/references.js";

/** Signs a redemption of the merchant's own tokens with the merchant's key (fresh random nonce); returns the wire operation and its id. */
export async function signRedemption(
  merchant: Wallet | HDNodeWallet,
  context: { chainId: bigint; token: TokenDeployment },
  input: { custodian: string; amount: bigint; bankRef: string; deadline: bigint },
): Promise<{ id: string; op: TokenOperationWire }> {
  const ctx = { chainId: context.chainId, tokenName: context.token.name };
  const op = await signTokenOperation(
    merchant,
    {
      kind: "redeem",
      token: context.token.address,
      holder: merchant.address,
      custodian: input.custodian,
      amount: input.amount.toString(),
      bankRef: input.bankRef,
      nonce: randomNonce().toString(),
      deadline: input.deadline.toString(),
    },
    ctx,
  );
  return { id: tokenOperationDigest(tokenOperationSchema.parse(op), ctx), op };
}
