/**
 * Token operations the gateway has the custodian sign and the node relay: `mint` (a confirmed bank
 * deposit, or the reversal of a rejected payout) and `burn` (a payout, before the bank pays). Wire
 * shapes as the node accepts them:
 *   {kind:"mint", token, to,   amount, bankRef, nonce, deadline, signature}
 *   {kind:"burn", token, from, amount, bankRef, nonce, deadline, signature}
 * The operation id is the EIP-712 digest of the Mint/Burn message under the token's domain
 * (eip712.ts TOKEN_TYPES, tokenDomain), so a stored operation resubmitted after a restart is the same
 * operation, and the token's unordered nonces let it execute at most once.
 */
import { randomBytes } from "node:crypto";

import { TypedDataEncoder, keccak256, toUtf8Bytes, type HDNodeWallet, type Wallet } from "ethers";

import type { TokenDeployment } from "../../node/protocol/deployment.js";
import { TOKEN_TYPES, tokenDomain } from "../../node/protocol/eip712.js";

export interface MintOperationWire {
  kind: "mint";
  token: string;
  to: string;
  amount: string;
  bankRef: string;
  nonce: string;
  deadline: string;
  signature: string;
}

export interface BurnOperationWire {
  kind: "burn";
  token: string;
  from: string;
  amount: string;
  bankRef: string;
  nonce: string;
  deadline: string;
  signature: string;
}

export type TokenOperationWire = MintOperationWire | BurnOperationWire;

/** The on-chain bankRef (bytes32) of a gateway reference such as `po_…` or a bank's `bt_…`. */
export function chainBankRef(reference: string): string {
  return keccak256(toUtf8Bytes(reference));
}

/** Signs a mint or burn with the custodian's key; returns the wire operation and its id. */
export async function signTokenOperation(
  custodian: Wallet | HDNodeWallet,
  context: { chainId: bigint; token: TokenDeployment },
  input: { kind: "mint" | "burn"; account: string; amount: bigint; bankRef: string; deadline: bigint },
): Promise<{ id: string; op: TokenOperationWire }> {
  const domain = tokenDomain(context.chainId, context.token.address, context.token.name);
  const nonce = BigInt(`0x${randomBytes(32).toString("hex")}`);
  const common = { amount: input.amount, bankRef: input.bankRef, nonce, deadline: input.deadline };
  const types = input.kind === "mint" ? TOKEN_TYPES.mint : TOKEN_TYPES.burn;
  const message = input.kind === "mint" ? { to: input.account, ...common } : { from: input.account, ...common };
  const signature = await custodian.signTypedData(domain, types, message);
  const id = TypedDataEncoder.hash(domain, types, message);
  const wire = { token: context.token.address, amount: input.amount.toString(), bankRef: input.bankRef, nonce: nonce.toString(), deadline: input.deadline.toString(), signature };
  const op: TokenOperationWire = input.kind === "mint" ? { kind: "mint", to: input.account, ...wire } : { kind: "burn", from: input.account, ...wire };
  return { id, op };
}
