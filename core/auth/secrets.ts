/**
 * Secrets at rest (TOTP secrets, signing keys, API key secrets): AES-256-GCM under a 32-byte key the
 * process holds outside its database (the gateway's master key in its environment, the node's
 * user-secrets key file). Each sealed value is bound to the record it belongs to (additional
 * authenticated data), so a ciphertext copied into another record does not open.
 */
import { createCipheriv, createDecipheriv, randomBytes } from "node:crypto";

import { z } from "zod";

import { SettlenetError } from "../errors.js";

const base64 = z.string().regex(/^[A-Za-z0-9+/]*={0,2}$/, "expected base64");

/** A sealed secret as stored (JSON). */
export const sealedSecretSchema = z.strictObject({
  v: z.literal(1),
  iv: base64,
  tag: base64,
  data: base64,
});
export type SealedSecret = z.infer<typeof sealedSecretSchema>;

/** Encrypts and decrypts secrets with one 32-byte master key. */
export class SecretBox {
  readonly #key: Buffer;

  constructor(masterKey: Uint8Array) {
    if (masterKey.length !== 32) throw new SettlenetError("MASTER_KEY_INVALID", "the master key must be 32 bytes");
    this.#key = Buffer.from(masterKey);
  }

  /** Seals `plaintext` for the record named by `context` (e.g. "apiKey:key_…"). */
  seal(plaintext: string, context: string): SealedSecret {
    const iv = randomBytes(12);
    const cipher = createCipheriv("aes-256-gcm", this.#key, iv);
    cipher.setAAD(Buffer.from(context, "utf8"));
    const data = Buffer.concat([cipher.update(plaintext, "utf8"), cipher.final()]);
    return { v: 1, iv: iv.toString("base64"), tag: cipher.getAuthTag().toString("base64"), data: data.toString("base64") };
  }

  /** Opens a sealed secret; a wrong master key, context or a tampered value is SECRET_UNDECRYPTABLE. */
  open(sealed: SealedSecret, context: string): string {
    try {
      const decipher = createDecipheriv("aes-256-gcm", this.#key, Buffer.from(sealed.iv, "base64"));
      decipher.setAAD(Buffer.from(context, "utf8"));
      decipher.setAuthTag(Buffer.from(sealed.tag, "base64"));
      return Buffer.concat([decipher.update(Buffer.from(sealed.data, "base64")), decipher.final()]).toString("utf8");
    } catch (error) {
      throw new SettlenetError("SECRET_UNDECRYPTABLE", `a stored secret (${context}) cannot be decrypted: wrong master key or tampered record`, { context }, { cause: error });
    }
  }
}

/** Parses a master key written as 64 hex characters or as base64 of 32 bytes. */
export function parseMasterKey(text: string): Buffer {
  const trimmed = text.trim();
  const key = /^(0x)?[0-9a-fA-F]{64}$/.test(trimmed) ? Buffer.from(trimmed.replace(/^0x/, ""), "hex") : Buffer.from(trimmed, "base64");
  if (key.length !== 32) throw new SettlenetError("MASTER_KEY_INVALID", "the master key must be 32 bytes, as 64 hex characters or base64");
  return key;
}
