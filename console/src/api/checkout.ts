/**
 * The hosted checkout's API client. Wire types and their validation come from the gateway's own
 * schemas (gateway/routes/checkout/schemas.ts), so the page and the gateway cannot drift apart. No
 * cookies: the payer's signatures are the only authority.
 */
import {
  actionPayloadView,
  checkoutView,
  permitPayloadView,
  type ActionBody,
  type ActionPayloadView,
  type CheckoutAction,
  type CheckoutView,
  type PermitPayloadView,
} from "../../../gateway/routes/checkout/schemas.js";
import { call } from "./http.ts";

export { ApiError } from "./http.ts";
export type { ActionPayloadView, CheckoutAction, CheckoutView, PermitPayloadView };

const base = (id: string) => `/v1/checkout/${encodeURIComponent(id)}`;
const post = (body: unknown) => ({ method: "POST" as const, body, credentials: "omit" as const });

export const checkoutApi = {
  view: (id: string): Promise<CheckoutView> => call(checkoutView, base(id)),
  authorize: (id: string, signature: string): Promise<CheckoutView> => call(checkoutView, `${base(id)}/authorization`, post({ signature })),
  permitPayload: (id: string): Promise<PermitPayloadView> => call(permitPayloadView, `${base(id)}/permit`),
  permit: (id: string, body: { value: string; deadline: string; signature: string }): Promise<CheckoutView> => call(checkoutView, `${base(id)}/permit`, post(body)),
  actionPayload: (id: string, action: CheckoutAction, reason?: string): Promise<ActionPayloadView> =>
    call(actionPayloadView, `${base(id)}/${action}${reason ? `?reason=${encodeURIComponent(reason)}` : ""}`),
  submitAction: (id: string, action: CheckoutAction, body: ActionBody): Promise<CheckoutView> => call(checkoutView, `${base(id)}/${action}`, post(body)),
};
