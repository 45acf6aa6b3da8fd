/**
 * The parts of the OpenAPI 3.1 document structure the node and the gateway use, checked strictly where
 * the specification closes an object (no swagger parser is installed), and a walk over a document.
 * Each test puts the document's top level together with what its own API requires.
 */
import { z } from "zod";

export const schemaObject = z.record(z.string(), z.unknown());
const mediaType = z.strictObject({ schema: schemaObject });
const parameter = z.strictObject({
  name: z.string().min(1),
  in: z.enum(["query", "header", "path", "cookie"]),
  required: z.boolean().optional(),
  description: z.string().optional(),
  schema: schemaObject,
});
const response = z.strictObject({ description: z.string(), content: z.record(z.string(), mediaType).optional(), headers: z.record(z.string(), z.unknown()).optional() });

/** An operation object as the specification allows it (an API may require more with `.extend`). */
export const operationObject = z.strictObject({
  operationId: z.string().min(1),
  summary: z.string().optional(),
  description: z.string().optional(),
  tags: z.array(z.string()).optional(),
  parameters: z.array(parameter).optional(),
  requestBody: z.strictObject({ content: z.record(z.string(), mediaType), required: z.boolean().optional(), description: z.string().optional() }).optional(),
  responses: z.record(z.string().regex(/^([1-5][0-9X]{2}|default)$/), response),
  security: z.array(z.record(z.string(), z.array(z.string()))).optional(),
});

const methods = ["get", "put", "post", "delete", "options", "head", "patch", "trace"] as const;
/** The paths object of a document whose operations are `operation`. */
export function pathsOf<T extends z.ZodType>(operation: T) {
  const pathItem = z.strictObject(Object.fromEntries(methods.map((m) => [m, operation.optional()])) as Record<(typeof methods)[number], z.ZodOptional<T>>);
  return z.record(z.string().startsWith("/"), pathItem);
}

export const securityScheme = z.union([
  z.strictObject({ type: z.literal("http"), scheme: z.string(), description: z.string().optional() }),
  z.strictObject({ type: z.literal("apiKey"), in: z.enum(["header", "query", "cookie"]), name: z.string(), description: z.string().optional() }),
]);
export const info = z.strictObject({ title: z.string(), version: z.string(), description: z.string().optional() });
export const tagObject = z.strictObject({ name: z.string(), description: z.string().optional() });

/** Every value under `key` anywhere in `value`. */
export function collect(value: unknown, key: string, out: unknown[] = []): unknown[] {
  if (Array.isArray(value)) value.forEach((v) => collect(v, key, out));
  else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (k === key) out.push(v);
      collect(v, key, out);
    }
  }
  return out;
}
