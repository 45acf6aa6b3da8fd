/**
 * JSON over fetch for the console's API clients: answers are parsed with the gateway's own zod
 * schemas before use, and refusals (RFC 9457 problems) are thrown as ApiError with the problem's
 * stable `code`, which pages turn into words.
 */
import { z } from "zod";

/** A refusal or failure, by its stable code (NETWORK when the gateway could not be reached). */
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

/** The members of a problem document the console reads. */
const problem = z.object({ code: z.string(), title: z.string().optional(), detail: z.string().optional(), status: z.number().optional() }).loose();

export interface CallOptions {
  method?: "GET" | "POST" | "PUT" | "DELETE";
  body?: unknown;
  /** "omit" for the public checkout; a signed-in page sends its session cookie ("same-origin"). */
  credentials?: RequestCredentials;
  headers?: Record<string, string>;
}

/** Calls `path` on the gateway and parses the answer with `schema`. */
export async function call<S extends z.ZodType>(schema: S, path: string, options: CallOptions = {}): Promise<z.infer<S>> {
  const headers: Record<string, string> = { accept: "application/json", ...options.headers };
  if (options.body !== undefined) headers["content-type"] = "application/json";
  let response: Response;
  try {
    response = await fetch(path, {
      method: options.method ?? "GET",
      headers,
      ...(options.body !== undefined ? { body: JSON.stringify(options.body) } : {}),
      credentials: options.credentials ?? "omit",
    });
  } catch (error) {
    throw new ApiError("NETWORK", 0, (error as Error).message);
  }
  const body: unknown = await response.json().catch(() => undefined);
  if (!response.ok) {
    const parsed = problem.safeParse(body);
    if (parsed.success) throw new ApiError(parsed.data.code, response.status, parsed.data.title ?? parsed.data.code, parsed.data);
    throw new ApiError("UNEXPECTED_ANSWER", response.status, `HTTP ${response.status}`);
  }
  return schema.parse(body);
}
