/**
 * The node consoles' API client: sign-in on /v1/session, then the node API with the session cookie.
 * The CSRF token lives only in this module's memory (never in storage a script from elsewhere could
 * read); every request that changes state sends it in x-csrf-token. Answers are parsed with schemas of
 * the fields the pages read (the node API contract in core/api pulls in server-only modules).
 */
import { z } from "zod";

import { ApiError, call, type CallOptions } from "./http.ts";

export { ApiError } from "./http.ts";

let csrfToken: string | undefined;

/** Roles of people on a node: each sees its own pages. */
export const NODE_USER_ROLES = ["regulator", "operator", "arbiter"] as const;
export type NodeUserRole = (typeof NODE_USER_ROLES)[number];

const nodeUser = z.object({ id: z.string(), email: z.string(), role: z.enum(NODE_USER_ROLES) });
export type NodeUser = z.infer<typeof nodeUser>;
const started = z.object({ user: nodeUser, csrfToken: z.string(), expiresAt: z.string() });
const whoAmI = z.object({
  kind: z.enum(["user", "credential"]),
  id: z.string(),
  name: z.string(),
  role: z.string(),
  session: z.object({ csrfToken: z.string(), expiresAt: z.string() }).optional(),
});

/** The chain and contracts the node works with (for the typed data people sign in the browser). */
export const consoleNetwork = z.object({ chainId: z.string(), escrow: z.string(), ledger: z.string() });
export type ConsoleNetwork = z.infer<typeof consoleNetwork>;

/** Calls the node with the session cookie, and the CSRF token on anything but a read. */
export function nodeCall<S extends z.ZodType>(schema: S, path: string, options: CallOptions = {}): Promise<z.infer<S>> {
  const write = options.method !== undefined && options.method !== "GET";
  return call(schema, path, {
    ...options,
    credentials: "same-origin",
    headers: { ...options.headers, ...(write && csrfToken ? { "x-csrf-token": csrfToken } : {}) },
  });
}

/** A text answer (CSV reports) with the session cookie; refusals as ApiError. */
export async function nodeText(path: string): Promise<string> {
  let response: Response;
  try {
    response = await fetch(path, { credentials: "same-origin", headers: { accept: "text/csv, application/problem+json" } });
  } catch (error) {
    throw new ApiError("NETWORK", 0, (error as Error).message);
  }
  if (!response.ok) {
    const body = (await response.json().catch(() => ({}))) as { code?: unknown };
    throw new ApiError(typeof body.code === "string" ? body.code : "UNEXPECTED_ANSWER", response.status, `HTTP ${response.status}`);
  }
  return response.text();
}

export const sessionApi = {
  /** The signed-in user, or null when the browser holds no session. */
  async current(): Promise<NodeUser | null> {
    try {
      const who = await nodeCall(whoAmI, "/v1/session");
      if (who.kind !== "user" || !who.session) return null;
      const role = z.enum(NODE_USER_ROLES).safeParse(who.role);
      if (!role.success) return null;
      csrfToken = who.session.csrfToken;
      return { id: who.id, email: who.name, role: role.data };
    } catch (error) {
      if (error instanceof ApiError && error.code === "UNAUTHENTICATED") return null;
      throw error;
    }
  },
  async signIn(body: { email: string; password: string; totp: string }): Promise<NodeUser> {
    const answer = await nodeCall(started, "/v1/session", { method: "POST", body });
    csrfToken = answer.csrfToken;
    return answer.user;
  },
  async signOut(): Promise<void> {
    try {
      await nodeCall(z.unknown(), "/v1/session", { method: "DELETE" });
    } finally {
      csrfToken = undefined;
    }
  },
  network: () => call(consoleNetwork, "/console/network.json", { credentials: "same-origin" }),
};
