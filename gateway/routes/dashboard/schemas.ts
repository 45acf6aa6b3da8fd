/** Wire types of the dashboard's own routes (sign-in, users, invitations, API keys). */
import { z } from "zod";

import { emailSchema, passwordSchema, roleSchema, totpCodeSchema, userIdSchema } from "../../domain/users.js";
import { isoTime } from "../schemas.js";

export const signInBody = z.strictObject({ email: emailSchema, password: z.string().min(1).max(256), totp: totpCodeSchema });
export const inviteBody = z.strictObject({ email: emailSchema, role: roleSchema });
export const acceptBody = z.strictObject({ token: z.string().regex(/^inv_[A-Za-z0-9_-]{43}$/, "expected an invitation token (inv_…)"), password: passwordSchema });
export const roleBody = z.strictObject({ role: roleSchema });
export const userParam = z.strictObject({ id: userIdSchema });
export const keyParam = z.strictObject({ keyId: z.string().regex(/^key_[0-9a-f]{32}$/, "expected an API key id (key_…)") });
export const rotateBody = z.strictObject({ overlapSeconds: z.number().int().min(0).max(30 * 86_400).default(86_400) }).optional();

export const userView = z.object({
  id: z.string(),
  merchantId: z.string(),
  email: z.string(),
  role: roleSchema,
  status: z.enum(["invited", "active"]),
  createdAt: isoTime,
  lockedUntil: isoTime.optional(),
});

export const sessionView = z.object({
  user: userView,
  csrfToken: z.string().describe("Send in x-csrf-token with every request that changes state"),
  expiresAt: isoTime.describe("When the session ends if unused (idle expiry)"),
  absoluteExpiresAt: isoTime.describe("When the session ends however active"),
});

export const invitationView = z.object({
  user: userView,
  invitationToken: z.string().describe("One-time token: shown only in this answer"),
  expiresAt: isoTime,
});

export const enrolmentView = z.object({ user: userView, otpauthUri: z.string().describe("otpauth://totp/… to enrol in an authenticator app: shown only in this answer") });

export const userList = z.object({ object: z.literal("list"), items: z.array(userView) });
export const removedView = z.object({ id: z.string(), removed: z.literal(true) });
const keyView = z.object({ keyId: z.string(), createdAt: isoTime, expiresAt: isoTime.optional(), revokedAt: isoTime.optional() });
export const keyList = z.object({ object: z.literal("list"), items: z.array(keyView) });
export const issuedKeyView = z.object({ merchantId: z.string(), keyId: z.string(), secret: z.string().describe("The HMAC secret: shown only in this answer"), createdAt: isoTime });
export const rotatedKeyView = issuedKeyView.extend({ retired: z.array(z.object({ keyId: z.string(), expiresAt: isoTime })) });
export const revokedKeyView = z.object({ keyId: z.string(), revokedAt: isoTime });
