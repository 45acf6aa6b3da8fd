/**
 * A process's wall clock set off by SETTLENET_CLOCK_OFFSET_MS (a signed integer of milliseconds), for
 * fault tests and the fault campaign: a machine whose clock is wrong. Processes read wall time with
 * `Date.now()`, so shifting that one function shifts every deadline, lease and timestamp they take from
 * the wall clock; chain time still comes from the chain. Unset or 0: nothing is changed.
 */
import { SettlenetError } from "./errors.js";

const ENV = "SETTLENET_CLOCK_OFFSET_MS";

/** Applies the offset named by the environment (once per process); returns it. */
export function applyClockOffsetFromEnv(value: string | undefined = process.env[ENV]): number {
  if (value === undefined || value === "") return 0;
  const offset = Number(value);
  if (!Number.isSafeInteger(offset)) throw new SettlenetError("CONFIG_INVALID", `${ENV}=${value} is not a whole number of milliseconds`, { fields: [ENV] });
  if (offset === 0) return 0;
  const realNow = Date.now.bind(Date);
  Date.now = () => realNow() + offset;
  return offset;
}
