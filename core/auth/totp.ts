/**
 * Time-based one-time passwords as RFC 6238 specifies them with the parameters authenticator apps
 * assume by default: HMAC-SHA-1, 6 digits, 30-second steps from the Unix epoch. The secret is 20
 * random bytes, shown to the user once as base32 inside an otpauth:// URI and stored only sealed.
 */
import { createHmac, randomBytes, timingSafeEqual } from "node:crypto";

/** The step length in seconds (RFC 6238 X). */
export const TOTP_STEP_SECONDS = 30;
/** Digits of a code. */
export const TOTP_DIGITS = 6;
/** Steps either side of the current one still accepted, for clock drift between phone and server. */
export const TOTP_DRIFT_STEPS = 1;

const BASE32 = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/** RFC 4648 base32 without padding (what otpauth:// URIs carry). */
export function base32Encode(bytes: Uint8Array): string {
  let bits = 0;
  let value = 0;
  let out = "";
  for (const byte of bytes) {
    value = (value << 8) | byte;
    bits += 8;
    while (bits >= 5) {
      out += BASE32[(value >>> (bits - 5)) & 31];
      bits -= 5;
    }
  }
  if (bits > 0) out += BASE32[(value << (5 - bits)) & 31];
  return out;
}

/** Decodes base32 (case and padding ignored); undefined if a character is not base32. */
export function base32Decode(text: string): Buffer | undefined {
  const clean = text.replace(/=+$/, "").toUpperCase();
  let bits = 0;
  let value = 0;
  const out: number[] = [];
  for (const char of clean) {
    const index = BASE32.indexOf(char);
    if (index < 0) return undefined;
    value = (value << 5) | index;
    bits += 5;
    if (bits >= 8) {
      out.push((value >>> (bits - 8)) & 255);
      bits -= 8;
    }
  }
  return Buffer.from(out);
}

/** A new TOTP secret, base32. */
export function newTotpSecret(): string {
  return base32Encode(randomBytes(20));
}

/** RFC 4226 HOTP of `key` at `counter` with `digits` digits (dynamic truncation). */
export function hotp(key: Uint8Array, counter: bigint, digits = TOTP_DIGITS): string {
  const message = Buffer.alloc(8);
  message.writeBigUInt64BE(counter);
  const mac = createHmac("sha1", key).update(message).digest();
  const offset = (mac[mac.length - 1] ?? 0) & 0x0f;
  const binary = mac.readUInt32BE(offset) & 0x7fffffff;
  return String(binary % 10 ** digits).padStart(digits, "0");
}

/** The step a Unix time in ms falls in. */
export function totpStep(nowMs: number): number {
  return Math.floor(nowMs / 1000 / TOTP_STEP_SECONDS);
}

/** The code of `secretBase32` at `nowMs`. */
export function totpCode(secretBase32: string, nowMs: number, digits = TOTP_DIGITS): string {
  const key = base32Decode(secretBase32);
  if (!key) throw new TypeError("the TOTP secret is not base32");
  return hotp(key, BigInt(totpStep(nowMs)), digits);
}

/**
 * The step `code` belongs to, if it is the code of the current step or of one within the drift, and
 * that step is after `lastUsedStep`: a code once accepted is refused for the rest of its window.
 * Every candidate is compared, in constant time, so the answer's timing does not tell which matched.
 */
export function verifyTotp(secretBase32: string, code: string, nowMs: number, lastUsedStep: number | undefined): number | undefined {
  const key = base32Decode(secretBase32);
  if (!key || !/^[0-9]{6}$/.test(code)) return undefined;
  const now = totpStep(nowMs);
  const given = Buffer.from(code, "utf8");
  let matched: number | undefined;
  for (let step = now - TOTP_DRIFT_STEPS; step <= now + TOTP_DRIFT_STEPS; step += 1) {
    const expected = Buffer.from(hotp(key, BigInt(step)), "utf8");
    if (timingSafeEqual(expected, given) && matched === undefined) matched = step;
  }
  if (matched === undefined || (lastUsedStep !== undefined && matched <= lastUsedStep)) return undefined;
  return matched;
}

/** The otpauth:// URI an authenticator app enrols from (Key Uri Format). */
export function otpauthUri(secretBase32: string, account: string, issuer = "Settlenet"): string {
  const label = `${encodeURIComponent(issuer)}:${encodeURIComponent(account)}`;
  const params = new URLSearchParams({ secret: secretBase32, issuer, algorithm: "SHA1", digits: String(TOTP_DIGITS), period: String(TOTP_STEP_SECONDS) });
  return `otpauth://totp/${label}?${params.toString()}`;
}
