/**
 * Money and time as people read them. Amounts arrive as decimal strings of minor units (fen) and are
 * formatted by string and bigint arithmetic only: a float cannot hold every amount a payment can
 * (up to 2^96 - 1 minor units), so no amount ever passes through `Number`.
 */

const SYMBOLS: Readonly<Record<string, string>> = { CNY: "¥" };

/** Groups an integer's digits by thousands ("1234567" → "1,234,567"). */
function group(digits: string): string {
  return digits.replace(/\B(?=(\d{3})+(?!\d))/g, ",");
}

/**
 * `amount` minor units as major units with every minor digit: ("123456", 2, "CNY") → "¥1,234.56".
 * A currency without a symbol is written after the number ("1,234.56 XYZ"). Throws on anything that
 * is not an integer.
 */
export function formatMinorUnits(amount: string | bigint, decimals: number, currency?: string): string {
  const text = typeof amount === "bigint" ? amount.toString() : amount.trim();
  if (!/^-?\d+$/.test(text)) throw new RangeError(`not an amount in minor units: ${JSON.stringify(amount)}`);
  if (!Number.isInteger(decimals) || decimals < 0 || decimals > 36) throw new RangeError(`bad number of decimals: ${decimals}`);
  const negative = text.startsWith("-");
  const digits = BigInt(negative ? text.slice(1) : text).toString().padStart(decimals + 1, "0");
  const whole = group(digits.slice(0, digits.length - decimals));
  const fraction = decimals > 0 ? `.${digits.slice(digits.length - decimals)}` : "";
  const number = `${negative && BigInt(text) !== 0n ? "-" : ""}${whole}${fraction}`;
  if (currency === undefined) return number;
  const symbol = SYMBOLS[currency];
  if (symbol === undefined) return `${number} ${currency}`;
  return number.startsWith("-") ? `-${symbol}${number.slice(1)}` : `${symbol}${number}`;
}

/** A period in seconds as its largest whole unit and count, for the message catalogue. */
export function durationParts(seconds: number): { unit: "day" | "hour" | "minute" | "second"; count: number } {
  if (seconds >= 86_400 && seconds % 86_400 === 0) return { unit: "day", count: seconds / 86_400 };
  if (seconds >= 3_600 && seconds % 3_600 === 0) return { unit: "hour", count: seconds / 3_600 };
  if (seconds >= 60 && seconds % 60 === 0) return { unit: "minute", count: seconds / 60 };
  return { unit: "second", count: seconds };
}

/** A short address for display (0x1234…abcd); the full one goes in the title or an accessible label. */
export function shortAddress(address: string): string {
  return address.length > 12 ? `${address.slice(0, 6)}…${address.slice(-4)}` : address;
}

/**
 * Minor units per major unit of the currencies the dashboard shows (its payment answers name only
 * the currency); an unknown currency is shown and entered in minor units.
 */
const DECIMALS: Readonly<Record<string, number>> = { CNY: 2 };
export function decimalsOf(currency: string): number {
  return DECIMALS[currency] ?? 0;
}

/**
 * A typed amount in major units ("12.3", "1,000") as minor units, by string arithmetic only;
 * undefined when it is not a positive amount with at most `decimals` decimal places.
 */
export function parseMajorUnits(text: string, decimals: number): bigint | undefined {
  const match = /^(\d+)(?:\.(\d*))?$/.exec(text.trim().replace(/,/g, ""));
  if (!match) return undefined;
  const fraction = match[2] ?? "";
  if (fraction.length > decimals) return undefined;
  const minor = BigInt(`${match[1]}${fraction.padEnd(decimals, "0")}`);
  return minor > 0n ? minor : undefined;
}
