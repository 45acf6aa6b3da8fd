/**
 * Wire pieces every resource's schemas share: field formats, the signed-request security
 * requirement, the Idempotency-Key header and the RFC 9457 problem responses. Each resource keeps its
 * own bodies, params, queries and views in routes/<resource>/schemas.ts; inputs are strict objects
 * (unknown fields refused) and the OpenAPI document is generated from them.
 */
import { z } from "zod";

import { checksumAddress } from "../../core/keccak.js";

/**
 * An address: 0x and 40 hex digits, either in one case (no checksum) or with a correct EIP-55
 * checksum. A mistyped checksummed address is refused as BAD_ADDRESS (the problem handler reads the
 * issue's `code`) instead of reaching the chain or the node.
 */
export const address = z.string().refine(isAcceptedAddress, { message: "expected a 0x-prefixed 20-byte hex address, all one case or with a correct EIP-55 checksum", params: { code: "BAD_ADDRESS" } });

function isAcceptedAddress(value: string): boolean {
  if (!/^0x[0-9a-fA-F]{40}$/.test(value)) return false;
  const digits = value.slice(2);
  if (digits === digits.toLowerCase() || digits === digits.toUpperCase()) return true;
  // The native, cached checksum: every address of every request and response view passes here.
  return checksumAddress(value.toLowerCase()) === value;
}
export const minorUnits = z.string().regex(/^[1-9][0-9]{0,38}$/, "expected a positive integer amount in minor units as a decimal string");
export const uintString = z.string().regex(/^(0|[1-9][0-9]{0,77})$/, "expected a non-negative integer as a decimal string");
export const signature = z.string().regex(/^0x[0-9a-fA-F]{130}$/, "expected a 65-byte signature as 0x-prefixed hex");
export const currency = z.string().regex(/^[A-Z0-9]{2,12}$/, "expected a token symbol such as CNY").describe("Settlement token symbol (e.g. CNY)");
export const isoTime = z.string().describe("ISO 8601 date-time (UTC)");
export const listLimit = z.coerce.number().int().min(1).max(100).default(20);
export const cursor = z.string().max(512).optional().describe("`nextCursor` of the previous page");

/**
 * Answer schemas whose documents the gateway builds field by field in view functions (such as
 * routes/payments/views.ts) and serializes without checking them against the schema again: on the
 * payment path zod's check of every answer cost about as much as building it. A test holds each
 * view function's output to its schema.
 */
const BUILT_VIEWS = new WeakSet<z.ZodType>();

/** Marks `schema` as the answer of view functions (see BUILT_VIEWS). */
export function builtView<T extends z.ZodType>(schema: T): T {
  BUILT_VIEWS.add(schema);
  return schema;
}

/** Whether `schema` is marked with `builtView`. */
export function isBuiltView(schema: unknown): boolean {
  return typeof schema === "object" && schema !== null && BUILT_VIEWS.has(schema as z.ZodType);
}

/** `limit` and `cursor` of a paged listing. */
export const pageQuery = z.strictObject({ limit: listLimit, cursor });

export const idempotencyHeaders = z.looseObject({
  "idempotency-key": z
    .string()
    .optional()
    .describe("1-255 printable ASCII characters. The same key with the same request replays the first response (status and body); with another request it is refused (422)."),
});

/**
 * Idempotency-Key on the POSTs that move money or change a payment: a network failure leaves the
 * merchant unsure whether the request ran, and only the key makes the retry safe (a missing one is
 * IDEMPOTENCY_KEY_REQUIRED).
 */
export const requiredIdempotencyHeaders = z.looseObject({
  "idempotency-key": z
    .string()
    .describe("Required. 1-255 printable ASCII characters. The same key with the same request replays the first response (status and body); with another request it is refused (422)."),
});

/** Optional empty object: POSTs without parameters may send `{}` or no body. */
export const emptyBody = z.strictObject({}).optional();

export const problemSchema = z
  .looseObject({
    type: z.string(),
    title: z.string(),
    status: z.number(),
    code: z.string().describe("Stable error code"),
    detail: z.string().optional(),
    instance: z.string().optional(),
  })
  .describe("RFC 9457 problem document (application/problem+json)");

/** Problem responses every /v1 route may give. */
export const problemResponses = {
  "4xx": { description: "Refused: a problem document with a stable code", content: { "application/problem+json": { schema: problemSchema } } },
  "5xx": { description: "Gateway or upstream failure: a problem document", content: { "application/problem+json": { schema: problemSchema } } },
} as const;

/** OpenAPI security requirement of the /v1 routes: the signed headers, or a dashboard session with its CSRF token. */
export const SIGNED = [{ keyId: [], timestamp: [], nonce: [], signature: [] }, { sessionCookie: [], csrfToken: [] }] as const;
