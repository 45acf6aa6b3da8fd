/**
 * HTTPS for the processes that serve HTTP (node API, gateway, bank simulator): one config shape, read
 * once at start. Clients trust a private CA through NODE_EXTRA_CA_CERTS (they all use Node's TLS defaults: fetch, or undici's request in the node API client),
 * so no client needs an option of its own.
 */
import { readFile } from "node:fs/promises";

import { z } from "zod";

/** A certificate (PEM, with its chain) and its key; absent from a config: plain HTTP. */
export const tlsConfigSchema = z.strictObject({ certFile: z.string().min(1), keyFile: z.string().min(1) });

export type TlsConfig = z.infer<typeof tlsConfigSchema>;

/** What Node's HTTPS server takes. */
export interface TlsCredentials {
  cert: Buffer;
  key: Buffer;
}

/** The config's paths resolved by `at` (against the config file's folder). */
export function resolveTlsPaths(tls: TlsConfig, at: (path: string) => string): TlsConfig {
  return { certFile: at(tls.certFile), keyFile: at(tls.keyFile) };
}

/** Reads the certificate and key; undefined without a TLS config. */
export async function readTlsCredentials(tls: TlsConfig | undefined): Promise<TlsCredentials | undefined> {
  return tls ? { cert: await readFile(tls.certFile), key: await readFile(tls.keyFile) } : undefined;
}

/** The URL a server listening on `host:port` is reached at (IPv6 hosts bracketed). */
export function serverUrl(host: string, port: number, tls: boolean): string {
  return `${tls ? "https" : "http"}://${host.includes(":") ? `[${host}]` : host}:${port}`;
}
