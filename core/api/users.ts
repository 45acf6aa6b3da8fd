/**
 * Node users resource (operators only): the people who sign in to the node (regulators, operators),
 * managed online. A created user's TOTP enrolment URI is in the creation's answer only.
 */
import { z } from "zod";

import { passwordSchema } from "../auth/passwords.js";
import { NODE_USER_ROLES } from "./auth.js";
import { integer, problemResponses, route } from "./common.js";

export const nodeUserIdSchema = z.string().regex(/^usr_[0-9a-f]{24}$/, "expected a user id (usr_…)");

/** A node user as lists and answers show it (never its password hash or TOTP secret). */
export const nodeUserViewSchema = z.strictObject({
  id: nodeUserIdSchema,
  email: z.string(),
  role: z.enum(NODE_USER_ROLES),
  createdAtMs: integer,
  createdBy: z.string().describe("Who created the user, as the audit log names them"),
  lockedUntilMs: integer.optional().describe("Locked out after failed sign-ins until then"),
  disabledAtMs: integer.optional().describe("Disabled: cannot sign in, its sessions ended"),
  disabledBy: z.string().optional(),
});
export type NodeUserView = z.infer<typeof nodeUserViewSchema>;

export const createNodeUserBody = z.strictObject({
  email: z.string().max(254).pipe(z.email("expected an e-mail address")),
  role: z.enum(NODE_USER_ROLES),
  password: passwordSchema,
});

const userParams = z.strictObject({ id: nodeUserIdSchema });

export const userRoutes = {
  listNodeUsers: route("GET", "/v1/admin/users", {
    operationId: "listNodeUsers",
    tags: ["admin"],
    summary: "The people who sign in to this node, with their roles and states",
    response: { 200: z.strictObject({ users: z.array(nodeUserViewSchema) }), ...problemResponses },
  }),
  createNodeUser: route("POST", "/v1/admin/users", {
    operationId: "createNodeUser",
    tags: ["admin"],
    summary: "Create a user enrolled at once: the answer holds its TOTP enrolment URI, shown this once",
    description: "409 `NODE_USER_EXISTS` if the e-mail address is taken. Recorded in the audit log (`user.create`) with the caller.",
    body: createNodeUserBody,
    response: { 201: z.strictObject({ user: nodeUserViewSchema, otpauthUri: z.string().describe("otpauth://totp/… holding the secret: enrol the authenticator app from it now") }), ...problemResponses },
  }),
  disableNodeUser: route("POST", "/v1/admin/users/:id/disable", {
    operationId: "disableNodeUser",
    tags: ["admin"],
    summary: "Disable a user: its sessions end and it cannot sign in until enabled",
    description: "409 `NODE_USER_SELF` for the caller's own user. Recorded in the audit log (`user.disable`).",
    params: userParams,
    response: { 200: nodeUserViewSchema, ...problemResponses },
  }),
  enableNodeUser: route("POST", "/v1/admin/users/:id/enable", {
    operationId: "enableNodeUser",
    tags: ["admin"],
    summary: "Enable a disabled user again (it signs in with its password and TOTP as before)",
    description: "Recorded in the audit log (`user.enable`).",
    params: userParams,
    response: { 200: nodeUserViewSchema, ...problemResponses },
  }),
  removeNodeUser: route("DELETE", "/v1/admin/users/:id", {
    operationId: "removeNodeUser",
    tags: ["admin"],
    summary: "Remove a user and end its sessions",
    description: "404 `NODE_USER_NOT_FOUND` if there is none; 409 `NODE_USER_SELF` for the caller's own user. Recorded in the audit log (`user.remove`).",
    params: userParams,
    response: { 200: z.strictObject({ id: nodeUserIdSchema, removed: z.literal(true) }), ...problemResponses },
  }),
};
