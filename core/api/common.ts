/**
 * Building blocks of the node API contract: wire formats shared by several resources, cursor pages,
 * problem answers, and `route`, which ties a method and URL to the zod schemas of its request and
 * answers. The node registers its routes from these definitions and NodeApiClient calls them, so
 * both sides read one description (also served as the node's OpenAPI document).
 */
import { z } from "zod";

import { problemSchema } from "../http/problem.js";
import { BAD_ADDRESS_ISSUE, isWellFormedAddress } from "../operations/wire.js";

export { problemSchema, type Problem } from "../http/problem.js";

export const hex32 = z.string().regex(/^0x[0-9a-fA-F]{64}$/, "expected 32 bytes as 0x-prefixed hex");
/** A 0x address: all lower-case, all upper-case or EIP-55 checksummed (a wrong checksum is 400 BAD_ADDRESS). */
export const address = z
  .string()
  .regex(/^0x[0-9a-fA-F]{40}$/, "expected a 0x address")
  .refine(isWellFormedAddress, { message: BAD_ADDRESS_ISSUE, abort: true });
/** Money and other uint256 figures: minor units as a decimal string (never a JSON number). */
export const amount = z.string().regex(/^(0|[1-9][0-9]*)$/, "expected minor units as a decimal string");
/** A settlement cycle id (cycle N covers chain time [N × cycleSeconds, (N + 1) × cycleSeconds)). */
export const cycleId = z.string().regex(/^(0|[1-9][0-9]{0,19})$/, "expected a cycle id");
/** Unix seconds or milliseconds, block numbers, counts. */
export const integer = z.number().int().nonnegative();

/** Query fields of every cursor-paginated list. */
export const pageQuery = {
  cursor: z.string().max(512).optional().describe("The `next` of the previous page"),
  limit: z.coerce.number<number>().int().min(1).max(500).default(50),
};
/** Inclusive time range (unix seconds) of the payment and alert lists. */
export const timeRangeQuery = {
  from: z.coerce.number<number>().int().nonnegative().optional(),
  to: z.coerce.number<number>().int().nonnegative().optional(),
};

/** One page of a cursor-paginated list; `next` is absent on the last page. */
export function pageOf<T extends z.ZodType>(item: T) {
  return z.strictObject({ items: z.array(item), next: z.string().optional() });
}

/** A page of a cursor-paginated list. */
export interface Page<T> {
  items: T[];
  /** Opaque cursor for the next page, absent on the last page. */
  next?: string;
}

/** JSON or CSV, for the routes that answer in both. */
export const formatQuery = z.enum(["json", "csv"]).default("json");

/** Failures of any route: RFC 9457 documents with a stable code (503 NOT_READY while the node catches up). */
export const problemResponses = { "4XX": problemSchema, "5XX": problemSchema } as const;

/** An answer with its own media type(s) instead of application/json. */
export interface ContentAnswer {
  description: string;
  content: Record<string, { schema: z.ZodType }>;
}

/** The zod schemas of one route, in the shape Fastify and @fastify/swagger take. */
export interface RouteSchema {
  operationId: string;
  summary: string;
  description?: string;
  tags: string[];
  params?: z.ZodType;
  querystring?: z.ZodType;
  body?: z.ZodType;
  response: Record<string, z.ZodType | ContentAnswer>;
}

/** One route of the node API. */
export interface NodeRoute<S extends RouteSchema = RouteSchema> {
  method: "GET" | "POST" | "PUT" | "DELETE";
  /** Fastify path syntax (`/v1/payments/:id`). */
  url: string;
  schema: S;
}

/** Defines a route, keeping the exact types of its schemas for the server's handler and the client. */
export function route<S extends RouteSchema>(method: NodeRoute["method"], url: string, schema: S): NodeRoute<S> {
  return { method, url, schema };
}

/** Text answers (CSV, Prometheus, NDJSON) as a string schema. */
export const text = (description: string) => z.string().describe(description);
