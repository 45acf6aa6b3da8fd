/**
 * TLS material for tests: a development CA and a certificate for 127.0.0.1 signed by it (openssl), and
 * requests that trust that CA or not.
 */
import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import { request as httpRequest } from "node:http";
import { request as httpsRequest } from "node:https";
import { getCACertificates, setDefaultCACertificates } from "node:tls";
import { join } from "node:path";
import { promisify } from "node:util";

const run = promisify(execFile);

/** Paths of a CA certificate and of a server certificate and key it signed. */
export interface DevCertificates {
  ca: string;
  cert: string;
  key: string;
}

/** A development CA and a certificate for 127.0.0.1 signed by it, written into `dir`. */
export async function devCertificates(dir: string): Promise<DevCertificates> {
  const at = (name: string) => join(dir, name);
  const ec = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];
  await run("openssl", ["req", "-x509", ...ec, "-keyout", at("ca.key"), "-out", at("ca.pem"), "-days", "1", "-subj", "/CN=settlenet test CA"]);
  await run("openssl", ["req", ...ec, "-keyout", at("server.key"), "-out", at("server.csr"), "-subj", "/CN=127.0.0.1"]);
  await writeFile(at("ext.cnf"), "subjectAltName=IP:127.0.0.1\n");
  await run("openssl", ["x509", "-req", "-in", at("server.csr"), "-CA", at("ca.pem"), "-CAkey", at("ca.key"), "-CAcreateserial", "-out", at("server.pem"), "-days", "1", "-extfile", at("ext.cnf")]);
  return { ca: at("ca.pem"), cert: at("server.pem"), key: at("server.key") };
}

/** A plain-HTTP GET: its status, or the error that ended it (what an HTTPS port gives a plain client). */
export function httpGet(url: string): Promise<{ status: number } | { error: Error }> {
  return new Promise((resolve) => {
    const request = httpRequest(url, { agent: false }, (response) => {
      response.resume();
      response.once("end", () => resolve({ status: response.statusCode ?? 0 }));
    });
    request.once("error", (error) => resolve({ error }));
    request.end();
  });
}

/** GET `url` over HTTPS trusting only `ca` (or the default CAs): its status, or the error that ended it. */
export function httpsGet(url: string, ca?: Buffer): Promise<{ status: number } | { error: NodeJS.ErrnoException }> {
  return new Promise((resolve) => {
    const request = httpsRequest(url, { method: "GET", agent: false, ...(ca ? { ca } : {}) }, (response) => {
      response.resume();
      response.once("end", () => resolve({ status: response.statusCode ?? 0 }));
    });
    request.once("error", (error: NodeJS.ErrnoException) => resolve({ error }));
    request.end();
  });
}

/**
 * Adds `caFile` to the CAs this process trusts (what NODE_EXTRA_CA_CERTS does at start, so clients
 * built on fetch can be tested in-process); returns the undo.
 */
export async function trustCa(caFile: string): Promise<() => void> {
  const before = getCACertificates("default");
  setDefaultCACertificates([...before, await readFile(caFile, "utf8")]);
  return () => setDefaultCACertificates(before);
}
