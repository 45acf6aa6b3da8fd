/** The operator's signing key: an encrypted ethers JSON keystore; the password comes from the environment. */
import { readFile, writeFile, mkdir } from "node:fs/promises";
import { dirname } from "node:path";

import { Wallet, encryptKeystoreJson, type HDNodeWallet } from "ethers";

import { SettlenetError } from "./errors.js";

/** Decrypts the keystore at `file` with the password in environment variable `passwordEnv`. */
export async function loadOperatorWallet(file: string, passwordEnv: string): Promise<Wallet | HDNodeWallet> {
  const password = process.env[passwordEnv];
  if (password === undefined || password === "") {
    throw new SettlenetError("KEY_PASSWORD_MISSING", `environment variable ${passwordEnv} must hold the key file password`, { passwordEnv });
  }
  let json: string;
  try {
    json = await readFile(file, "utf8");
  } catch (error) {
    throw new SettlenetError("KEY_FILE_UNREADABLE", `cannot read key file ${file}: ${(error as Error).message}`, { file });
  }
  try {
    return await Wallet.fromEncryptedJson(json, password);
  } catch {
    throw new SettlenetError("KEY_FILE_INVALID", `cannot decrypt key file ${file} (wrong password or not an ethers keystore)`, { file });
  }
}

/**
 * Encrypts `privateKey` into a keystore file (mode 0600). `fast` lowers the scrypt cost for tests and
 * local development networks only.
 */
export async function writeOperatorKeystore(file: string, privateKey: string, password: string, fast = false): Promise<string> {
  const wallet = new Wallet(privateKey);
  const account = { address: wallet.address, privateKey: wallet.privateKey };
  const json = await encryptKeystoreJson(account, password, fast ? { scrypt: { N: 1 << 12 } } : {});
  await mkdir(dirname(file), { recursive: true });
  await writeFile(file, json, { mode: 0o600 });
  return wallet.address;
}
