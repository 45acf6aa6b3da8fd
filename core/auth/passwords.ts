/**
 * Passwords of people who sign in (gateway dashboard, node consoles), hashed with scrypt
 * (node:crypto): N = 2^15, r = 8, p = 1, a 16-byte random salt and a 32-byte key (the parameters
 * OWASP lists for scrypt; 128·N·r = 32 MiB of memory per hash). The parameters are stored with each hash, so they can be raised later without invalidating
 * stored ones. Comparison is constant time; an unknown user is checked against a dummy hash so the
 * answer takes as long as for a wrong password.
 */
import { randomBytes, scrypt as scryptCallback, timingSafeEqual, type ScryptOptions } from "node:crypto";

import { z } from "zod";

export const SCRYPT_PARAMS = { N: 2 ** 15, r: 8, p: 1, keyLength: 32 } as const;

/** A password as sign-in accepts it: 12 to 256 characters. */
export const passwordSchema = z.string().min(12, "a password has at least 12 characters").max(256, "a password has at most 256 characters");

/** A stored password hash. */
export const passwordHashSchema = z.strictObject({
  alg: z.literal("scrypt"),
  N: z.number().int().min(2),
  r: z.number().int().min(1),
  p: z.number().int().min(1),
  salt: z.string(),
  hash: z.string(),
});
export type PasswordHash = z.infer<typeof passwordHashSchema>;

function scrypt(password: string, salt: Buffer, keyLength: number, options: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCallback(password.normalize("NFC"), salt, keyLength, options, (error, key) => (error ? reject(error) : resolve(key)));
  });
}

const maxmem = (N: number, r: number) => 256 * N * r;

/** Hashes a password with fresh salt. */
export async function hashPassword(password: string): Promise<PasswordHash> {
  const { N, r, p, keyLength } = SCRYPT_PARAMS;
  const salt = randomBytes(16);
  const key = await scrypt(password, salt, keyLength, { N, r, p, maxmem: maxmem(N, r) });
  return { alg: "scrypt", N, r, p, salt: salt.toString("base64"), hash: key.toString("base64") };
}

let dummy: Promise<PasswordHash> | undefined;

/** Whether `password` matches `stored`; with no stored hash, spends the same work and answers false. */
export async function verifyPassword(password: string, stored: PasswordHash | undefined): Promise<boolean> {
  const against = stored ?? (await (dummy ??= hashPassword(randomBytes(16).toString("hex"))));
  const expected = Buffer.from(against.hash, "base64");
  const key = await scrypt(password, Buffer.from(against.salt, "base64"), expected.length, { N: against.N, r: against.r, p: against.p, maxmem: maxmem(against.N, against.r) });
  return timingSafeEqual(key, expected) && stored !== undefined;
}
