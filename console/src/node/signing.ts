/**
 * People's own keys in the browser: a keystore file (JSON V3) decrypted here with its password, or an
 * EIP-1193 wallet. The key never leaves the page; only the signed operation goes to the node. The
 * typed data are the contracts' EIP-712 structs (core/operations: freeze on the token, resolve on the
 * escrow), built from the network the node names.
 */
import { Wallet, hexlify, randomBytes } from "ethers";

import { requestAccount, signTypedData } from "../wallet/eip1193.ts";

type Field = { name: string; type: string };
export interface TypedData {
  domain: { name: string; version: string; chainId: number; verifyingContract: string };
  types: Record<string, Field[]>;
  primaryType: string;
  message: Record<string, string | number | boolean>;
}

/** Who signs: an address and a way to sign typed data with its key. */
export interface PersonalSigner {
  address: string;
  sign(data: TypedData): Promise<string>;
}

const DOMAIN_VERSION = "1";
const ESCROW_DOMAIN_NAME = "Settlenet PaymentEscrow";

/** Decrypts a keystore (slow on purpose: scrypt) into a signer that lives only in this page. */
export async function keystoreSigner(json: string, password: string): Promise<PersonalSigner> {
  const wallet = await Wallet.fromEncryptedJson(json, password);
  return {
    address: wallet.address,
    sign: (data) => wallet.signTypedData(data.domain, data.types, data.message),
  };
}

/** The browser wallet's account (eth_requestAccounts). */
export async function walletSigner(): Promise<PersonalSigner> {
  const address = await requestAccount();
  return { address, sign: (data) => signTypedData(address, data) };
}

/** A fresh nonce (random 128 bits: operations signed by people need no counter) and a deadline an hour away. */
export function freshNonceAndDeadline(): { nonce: string; deadline: string } {
  return { nonce: BigInt(hexlify(randomBytes(16))).toString(), deadline: String(Math.floor(Date.now() / 1000) + 3600) };
}

/** The token's Freeze struct for `account` (frozen or not), its reason the alert's id. */
export function freezeTypedData(network: { chainId: string }, token: { token: string; name: string }, op: { account: string; frozen: boolean; reason: string; nonce: string; deadline: string }): TypedData {
  return {
    domain: { name: token.name, version: DOMAIN_VERSION, chainId: Number(network.chainId), verifyingContract: token.token },
    types: {
      Freeze: [
        { name: "account", type: "address" },
        { name: "frozen", type: "bool" },
        { name: "reason", type: "bytes32" },
        { name: "nonce", type: "uint256" },
        { name: "deadline", type: "uint256" },
      ],
    },
    primaryType: "Freeze",
    message: { account: op.account, frozen: op.frozen, reason: op.reason, nonce: op.nonce, deadline: op.deadline },
  };
}

/** The escrow's Resolve struct: `payerAmount` of the held amount back to the payer, the rest to the merchant. */
export function resolveTypedData(network: { chainId: string; escrow: string }, op: { paymentId: string; payerAmount: string; reason: string; nonce: string; deadline: string }): TypedData {
  return {
    domain: { name: ESCROW_DOMAIN_NAME, version: DOMAIN_VERSION, chainId: Number(network.chainId), verifyingContract: network.escrow },
    types: {
      Resolve: [
        { name: "paymentId", type: "bytes32" },
        { name: "payerAmount", type: "uint256" },
        { name: "reason", type: "bytes32" },
        { name: "nonce", type: "uint256" },
        { name: "deadline", type: "uint256" },
      ],
    },
    primaryType: "Resolve",
    message: { paymentId: op.paymentId, payerAmount: op.payerAmount, reason: op.reason, nonce: op.nonce, deadline: op.deadline },
  };
}
