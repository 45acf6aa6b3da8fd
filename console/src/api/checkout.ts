/**
 * The hosted checkout's API client. Wire types and their validation come from the gateway's own
 * schemas (gateway/routes/checkout/schemas.ts), so the page and the gateway cannot drift apart; every
 * answer is parsed before use. Refusals arrive as RFC 9457 problems and are thrown as ApiError with the
 * problem's stable `code`, which the page turns into words.
 */
import type { z } from "zod";

import {
  actionPayloadView,
  checkoutProblem,
  checkoutView,
  permitPayloadView,
  type ActionBody,
  type ActionPayloadView,
  type CheckoutAction,
  type CheckoutView,
  type PermitPayloadView,
} from "../../../gateway/routes/checkout/schemas.js";

export type { ActionPayloadView, CheckoutAction, CheckoutView, PermitPayloadView };

/** A refusal or failure, by its stable code. */
export class ApiError extends Error {
  constructor(
    readonly code: string,
    readonly status: number,
    message: string,
    readonly meta: Record<string, unknown> = {},
  ) {
    super(message);
    this.name = "ApiError";
  }
}

async function call<S extends z.ZodType>(schema: S, path: string, init?: { method: "POST"; body: unknown }): Promise<z.infer<S>> {
  let response: Response;
  try {
    response = await fetch(path, {
      method: init?.method ?? "GET",
      headers: init ? { "content-type": "application/json", accept: "application/json" } : { accept: "application/json" },
      ...(init ? { body: JSON.stringify(init.body) } : {}),
      credentials: "omit",
    });
  } catch (error) {
    throw new ApiError("NETWORK", 0, (error as Error).message);
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const problem = checkoutProblem.safeParse(body);
    if (problem.success) throw new ApiError(problem.data.code, response.status, problem.data.title ?? problem.data.code, problem.data);
    throw new ApiError("UNEXPECTED_ANSWER", response.status, `HTTP ${response.status}`);
  }
  return schema.parse(body);
}

const base = (id: string) => `/v1/checkout/${encodeURIComponent(id)}`;

export const checkoutApi = {
  view: (id: string): Promise<CheckoutView> => call(checkoutView, base(id)),
  authorize: (id: string, signature: string): Promise<CheckoutView> => call(checkoutView, `${base(id)}/authorization`, { method: "POST", body: { signature } }),
  permitPayload: (id: string): Promise<PermitPayloadView> => call(permitPayloadView, `${base(id)}/permit`),
  permit: (id: string, body: { value: string; deadline: string; signature: string }): Promise<CheckoutView> =>
    call(checkoutView, `${base(id)}/permit`, { method: "POST", body }),
  actionPayload: (id: string, action: CheckoutAction, reason?: string): Promise<ActionPayloadView> =>
    call(actionPayloadView, `${base(id)}/${action}${reason ? `?reason=${encodeURIComponent(reason)}` : ""}`),
  submitAction: (id: string, action: CheckoutAction, body: ActionBody): Promise<CheckoutView> => call(checkoutView, `${base(id)}/${action}`, { method: "POST", body }),
};
