/**
 * Crash points for fault tests and the fault campaign (`npm run chaos`): SETTLENET_FAILPOINT names one,
 * and the process kills itself with SIGKILL the first time it reaches that point once armed (a node
 * arms it when it is serving, or on SIGUSR2 with SETTLENET_FAILPOINT_ARM=signal, so its own start-up
 * writes and transactions never trip it). Unset, each check is one comparison against a constant
 * read once at load.
 */
import { SettlenetError } from "./errors.js";

/** Crash points on the payment path (the fault campaign's origin-crash scenario passes each in turn). */
export const PAYMENT_FAILPOINTS = [
  /** An API group is stored and synced, not gossiped. */
  "after-store-before-gossip",
  /** An API group is stored and gossiped; the relayer holds it but has not sent it. */
  "after-gossip-before-relay",
  /** A relay batch was broadcast; its receipt is not read (the operations are recorded "submitted"). */
  "after-broadcast-before-receipt",
  /** A group commit's synced LevelDB batch was issued and has not completed. */
  "mid-group-commit",
] as const;
/** Crash points on operators' actions, which the campaign's payment stream never passes (tests set them). */
export const ADMIN_FAILPOINTS = [
  /** An onboarding action's transaction was mined after its intent was logged; its outcome is not logged. */
  "after-onboarding-send-before-audit",
] as const;
export const FAILPOINTS = [...PAYMENT_FAILPOINTS, ...ADMIN_FAILPOINTS] as const;
export type Failpoint = (typeof FAILPOINTS)[number];

const ENV = "SETTLENET_FAILPOINT";
const chosen = process.env[ENV] || undefined;
let armed = false;

/** The crash point named by SETTLENET_FAILPOINT; CONFIG_INVALID for a name no component knows. */
export function failpointFromEnv(value: string | undefined = chosen): Failpoint | undefined {
  if (value === undefined || value === "") return undefined;
  if ((FAILPOINTS as readonly string[]).includes(value)) return value as Failpoint;
  throw new SettlenetError("CONFIG_INVALID", `${ENV}=${value} is not one of ${FAILPOINTS.join(", ")}`, { fields: [ENV] });
}

/** From now on, reaching the chosen crash point kills the process. */
export function armFailpoint(): void {
  armed = chosen !== undefined;
}

/**
 * Called by a process once it serves: arms the chosen crash point now, or, with
 * SETTLENET_FAILPOINT_ARM=signal, when the process receives SIGUSR2 (so a test picks the moment).
 */
export function armFailpointWhenServing(): void {
  if (chosen === undefined) return;
  if (process.env["SETTLENET_FAILPOINT_ARM"] === "signal") process.once("SIGUSR2", armFailpoint);
  else armFailpoint();
}

/** Kills the process with SIGKILL if `name` is the armed crash point. */
export function failpoint(name: Failpoint): void {
  if (armed && chosen === name) process.kill(process.pid, "SIGKILL");
}
