/**
 * The local network's development CA: a private CA made once per network (`<root>/tls/ca.pem`, its
 * key readable by its owner only) and, for each process that serves HTTPS (the nodes' APIs, the
 * gateway, the bank simulator), its own certificate and key for the addresses it listens on. Clients
 * of the network trust the CA through NODE_EXTRA_CA_CERTS (child processes) or `trustCaFile` (this
 * process); nothing is added to the system's trust store. Certificates are made with the `openssl`
 * command and made again when missing, when their addresses change, or a month before they expire.
 *
 * Production deployments use certificates from the institution's own CA or a public one instead: put
 * their paths in each process's `tls` configuration (docs/operating.md).
 */
import { execFile } from "node:child_process";
import { X509Certificate, randomBytes } from "node:crypto";
import { existsSync } from "node:fs";
import { chmod, mkdir, readFile, rm, writeFile } from "node:fs/promises";
import { isIP } from "node:net";
import { join } from "node:path";
import { getCACertificates, setDefaultCACertificates } from "node:tls";
import { promisify } from "node:util";

import { SettlenetError } from "../../../core/errors.js";

const run = promisify(execFile);

const CA_DAYS = 3_650;
/** Within the 398 days browsers accept for a server certificate. */
const LEAF_DAYS = 397;
/** Made again once less than this is left. */
const RENEW_BEFORE_MS = 30 * 86_400_000;
const EC = ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes"];

/** A part's certificate and key files, as a `tls` configuration takes them. */
export interface PartCertificate {
  certFile: string;
  keyFile: string;
}

async function openssl(args: string[]): Promise<void> {
  try {
    await run("openssl", args);
  } catch (error) {
    const e = error as NodeJS.ErrnoException & { stderr?: string };
    if (e.code === "ENOENT") throw new SettlenetError("TLS_TOOL_MISSING", "the development CA needs the `openssl` command (apt-get install -y openssl)");
    throw new SettlenetError("TLS_CERTIFICATE_FAILED", `openssl ${args[0]} failed: ${(e.stderr ?? e.message).trim()}`);
  }
}

/** True if the part's certificate names `sans`, was issued by `caCert` and has more than a month left. */
async function stillGood(certFile: string, keyFile: string, sans: string, caCert: X509Certificate): Promise<boolean> {
  if (!existsSync(certFile) || !existsSync(keyFile)) return false;
  try {
    const cert = new X509Certificate(await readFile(certFile));
    return cert.subjectAltName === sans && cert.checkIssued(caCert) && Date.parse(cert.validTo) - Date.now() > RENEW_BEFORE_MS;
  } catch {
    return false;
  }
}

/** The subjectAltName of `hosts` as X509Certificate prints it (and the extension openssl is given). */
function subjectAltName(hosts: string[]): string {
  return hosts.map((host) => (isIP(host) ? `IP Address:${host}` : `DNS:${host}`)).join(", ");
}

/**
 * The network's CA in `dir` (made if missing or near its end; a new CA makes every part certificate
 * again, since they are checked against the CA file they were issued under).
 */
export async function ensureDevCa(dir: string): Promise<{ caFile: string; caKeyFile: string }> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const caFile = join(dir, "ca.pem");
  const caKeyFile = join(dir, "ca.key");
  let good = existsSync(caFile) && existsSync(caKeyFile);
  if (good) {
    try {
      good = Date.parse(new X509Certificate(await readFile(caFile)).validTo) - Date.now() > RENEW_BEFORE_MS;
    } catch {
      good = false;
    }
  }
  if (!good) {
    await openssl(["req", "-x509", ...EC, "-keyout", caKeyFile, "-out", caFile, "-days", String(CA_DAYS), "-subj", "/CN=Settlenet development CA"]);
    await chmod(caKeyFile, 0o600);
  }
  return { caFile, caKeyFile };
}

/**
 * The certificate of part `name` for `hosts` (IP addresses or DNS names), in `dir` (`cert.pem`,
 * `key.pem` 0600), signed by the CA; reused while it names the same hosts, chains to this CA and has
 * more than a month left.
 */
export async function ensurePartCertificate(ca: { caFile: string; caKeyFile: string }, dir: string, name: string, hosts: string[]): Promise<PartCertificate> {
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const certFile = join(dir, "cert.pem");
  const keyFile = join(dir, "key.pem");
  const sans = subjectAltName(hosts);
  if (await stillGood(certFile, keyFile, sans, new X509Certificate(await readFile(ca.caFile)))) return { certFile, keyFile };
  const csr = join(dir, "cert.csr");
  const ext = join(dir, "cert.ext");
  await openssl(["req", ...EC, "-keyout", keyFile, "-out", csr, "-subj", `/CN=${name}`]);
  await chmod(keyFile, 0o600);
  await writeFile(ext, `subjectAltName=${hosts.map((host) => (isIP(host) ? `IP:${host}` : `DNS:${host}`)).join(",")}\nextendedKeyUsage=serverAuth\n`);
  await openssl(["x509", "-req", "-in", csr, "-CA", ca.caFile, "-CAkey", ca.caKeyFile, "-set_serial", randomSerial(), "-out", certFile, "-days", String(LEAF_DAYS), "-extfile", ext]);
  await rm(csr, { force: true });
  await rm(ext, { force: true });
  return { certFile, keyFile };
}

/** A random positive 127-bit serial: certificates are issued concurrently, so no shared serial file. */
function randomSerial(): string {
  const bytes = randomBytes(16);
  bytes[0] = (bytes[0] as number) & 0x7f;
  return `0x${bytes.toString("hex")}`;
}

/** Adds the CA in `caFile` to what this process trusts (as NODE_EXTRA_CA_CERTS does for a child at its start). */
export async function trustCaFile(caFile: string): Promise<void> {
  const pem = (await readFile(caFile, "utf8")).trim();
  const current = getCACertificates("default");
  if (current.some((cert) => cert.trim() === pem)) return;
  setDefaultCACertificates([...current, pem]);
}
