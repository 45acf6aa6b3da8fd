/**
 * Catching the errors tests assert on: each helper returns what was thrown so the test can check its
 * code (or zod paths), and fails the test when nothing was thrown or something of another kind was.
 */
import { ZodError } from "zod";

import { SettlenetError } from "../../core/errors.js";

/** The coded error `fn` throws. */
export function refusal(fn: () => unknown): SettlenetError {
  try {
    fn();
  } catch (error) {
    if (error instanceof SettlenetError) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

/** The coded error `promise` rejects with. */
export async function refusalOf(promise: Promise<unknown>): Promise<SettlenetError> {
  try {
    await promise;
  } catch (error) {
    if (error instanceof SettlenetError) return error;
    throw error;
  }
  throw new Error("expected a refusal");
}

/** The paths (dot-joined) of the issues a zod schema raises in `fn`. */
export function zodPaths(fn: () => unknown): string[] {
  try {
    fn();
  } catch (error) {
    if (error instanceof ZodError) return error.issues.map((issue) => issue.path.join("."));
    throw error;
  }
  throw new Error("expected the schema to refuse the input");
}
