/**
 * The payer's browser wallet through EIP-1193 (`window.ethereum`): accounts, chain, and EIP-712
 * signatures with eth_signTypedData_v4. The wallet holds the key; the page only asks it to sign.
 */
import type { CheckoutTypedData } from "../../../gateway/routes/checkout/schemas.js";

interface Eip1193Provider {
  request(args: { method: string; params?: unknown[] }): Promise<unknown>;
  on?(event: "accountsChanged", listener: (accounts: string[]) => void): void;
  removeListener?(event: "accountsChanged", listener: (accounts: string[]) => void): void;
}

declare global {
  interface Window {
    ethereum?: Eip1193Provider;
  }
}

/** A refusal by the wallet (EIP-1193 code 4001: the user rejected the request) or its absence. */
export class WalletError extends Error {
  constructor(
    readonly reason: "none" | "rejected" | "failed",
    message: string,
  ) {
    super(message);
    this.name = "WalletError";
  }
}

function provider(): Eip1193Provider {
  if (!window.ethereum) throw new WalletError("none", "no EIP-1193 provider");
  return window.ethereum;
}

async function request<T>(method: string, params?: unknown[]): Promise<T> {
  try {
    return (await provider().request(params ? { method, params } : { method })) as T;
  } catch (error) {
    if (error instanceof WalletError) throw error;
    const code = (error as { code?: unknown }).code;
    throw new WalletError(code === 4001 ? "rejected" : "failed", (error as Error).message ?? String(error));
  }
}

export const hasWallet = (): boolean => window.ethereum !== undefined;

/** Asks the wallet to connect; the first account it gives. */
export async function requestAccount(): Promise<string> {
  const accounts = await request<string[]>("eth_requestAccounts");
  const account = accounts[0];
  if (!account) throw new WalletError("failed", "the wallet gave no account");
  return account;
}

/** The wallet's chain id. */
export async function walletChainId(): Promise<number> {
  return Number(BigInt(await request<string>("eth_chainId")));
}

/** Calls `listener` when the wallet switches accounts; returns the unsubscribe. */
export function onAccountsChanged(listener: (accounts: string[]) => void): () => void {
  const wallet = window.ethereum;
  wallet?.on?.("accountsChanged", listener);
  return () => wallet?.removeListener?.("accountsChanged", listener);
}

/** eth_signTypedData_v4 of `data` by `account` (the wallet wants the EIP712Domain type spelled out). */
export async function signTypedData(account: string, data: CheckoutTypedData): Promise<string> {
  const payload = {
    domain: data.domain,
    primaryType: data.primaryType,
    message: data.message,
    types: {
      EIP712Domain: [
        { name: "name", type: "string" },
        { name: "version", type: "string" },
        { name: "chainId", type: "uint256" },
        { name: "verifyingContract", type: "address" },
      ],
      ...data.types,
    },
  };
  return request<string>("eth_signTypedData_v4", [account, JSON.stringify(payload)]);
}
