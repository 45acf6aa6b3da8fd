/**
 * Where webhooks may go: a merchant must not make the gateway send requests into its own network
 * (SSRF). A URL's host is resolved and every address it resolves to is checked; loopback, private,
 * link-local, unspecified, multicast and other special-purpose ranges are refused. The same check
 * runs at registration and at every delivery, and delivery connects to the address that was checked
 * (jobs/webhooks.ts), so a DNS answer that changes in between cannot switch the target.
 */
import { lookup } from "node:dns/promises";
import { BlockList, isIP } from "node:net";

import { SettlenetError } from "../../core/errors.js";

/** Whether loopback targets are allowed (development: a receiver on 127.0.0.1). */
export interface WebhookTargetPolicy {
  allowLoopback: boolean;
}

/** A resolved address, as dns.lookup gives it. */
export interface ResolvedAddress {
  address: string;
  family: 4 | 6;
}

/** Resolves a host name to all its addresses (dns.lookup by default; tests may pin answers). */
export type HostResolver = (hostname: string) => Promise<ResolvedAddress[]>;

export const systemResolver: HostResolver = async (hostname) =>
  (await lookup(hostname, { all: true, verbatim: true })).map((a) => ({ address: a.address, family: a.family === 6 ? 6 : 4 }));

const loopback = new BlockList();
loopback.addSubnet("127.0.0.0", 8, "ipv4");
loopback.addAddress("::1", "ipv6");

// IPv4 rules also match IPv4-mapped IPv6 addresses (::ffff:a.b.c.d).
const forbidden = new BlockList();
for (const [net, prefix] of [
  ["0.0.0.0", 8], // unspecified, "this network"
  ["10.0.0.0", 8], // private
  ["100.64.0.0", 10], // carrier-grade NAT
  ["127.0.0.0", 8], // loopback
  ["169.254.0.0", 16], // link-local (cloud metadata services live here)
  ["172.16.0.0", 12], // private
  ["192.0.0.0", 24], // IETF protocol assignments
  ["192.0.2.0", 24], // documentation
  ["192.168.0.0", 16], // private
  ["198.18.0.0", 15], // benchmarking
  ["198.51.100.0", 24], // documentation
  ["203.0.113.0", 24], // documentation
  ["224.0.0.0", 4], // multicast
  ["240.0.0.0", 4], // reserved and broadcast
] as const) {
  forbidden.addSubnet(net, prefix, "ipv4");
}
for (const [net, prefix] of [
  ["::", 128], // unspecified
  ["::1", 128], // loopback
  ["::", 96], // IPv4-compatible (deprecated; would reach IPv4 ranges unchecked)
  ["64:ff9b::", 96], // NAT64: embeds an IPv4 address
  ["100::", 64], // discard
  ["2001:db8::", 32], // documentation
  ["2002::", 16], // 6to4: embeds an IPv4 address
  ["fc00::", 7], // unique local (private)
  ["fe80::", 10], // link-local
  ["fec0::", 10], // site-local (deprecated)
  ["ff00::", 8], // multicast
] as const) {
  forbidden.addSubnet(net, prefix, "ipv6");
}

/** Most verdicts `isAllowedWebhookAddress` remembers per policy (it forgets them all when full). */
const MAX_VERDICTS = 4_096;
/** Verdicts by address, for each `allowLoopback` setting: the lists above never change. */
const verdicts = { loopback: new Map<string, boolean>(), strict: new Map<string, boolean>() };

/**
 * True if a webhook may be sent to `address` under `policy`. Every attempt checks its target again,
 * and a block-list check builds a socket address each time; the answer for an address never
 * changes, so it is remembered.
 */
export function isAllowedWebhookAddress(address: string, policy: WebhookTargetPolicy): boolean {
  const known = policy.allowLoopback ? verdicts.loopback : verdicts.strict;
  let allowed = known.get(address);
  if (allowed === undefined) {
    allowed = checkAddress(address, policy.allowLoopback);
    if (known.size >= MAX_VERDICTS) known.clear();
    known.set(address, allowed);
  }
  return allowed;
}

function checkAddress(address: string, allowLoopback: boolean): boolean {
  const family = isIP(address);
  if (family === 0) return false;
  const type = family === 6 ? "ipv6" : "ipv4";
  if (allowLoopback && loopback.check(address, type)) return true;
  return !forbidden.check(address, type);
}

/** The bare host of a URL (IPv6 literals without brackets). */
export function hostOf(url: URL): string {
  const host = url.hostname;
  return host.startsWith("[") && host.endsWith("]") ? host.slice(1, -1) : host;
}

/**
 * Every address `url`'s host resolves to, all checked; WEBHOOK_URL_FORBIDDEN if any of them is not
 * allowed (one bad address is enough: a resolver could hand it out next time), WEBHOOK_URL_UNRESOLVABLE
 * if the host does not resolve.
 */
export async function resolveWebhookTarget(url: URL, policy: WebhookTargetPolicy, resolve: HostResolver = systemResolver): Promise<ResolvedAddress[]> {
  const host = hostOf(url);
  const literal = isIP(host);
  let addresses: ResolvedAddress[];
  if (literal !== 0) {
    addresses = [{ address: host, family: literal === 6 ? 6 : 4 }];
  } else {
    try {
      addresses = await resolve(host);
    } catch {
      addresses = [];
    }
    if (addresses.length === 0) throw new SettlenetError("WEBHOOK_URL_UNRESOLVABLE", "the webhook URL's host does not resolve", { field: "url" });
  }
  if (addresses.some((a) => !isAllowedWebhookAddress(a.address, policy))) {
    throw new SettlenetError("WEBHOOK_URL_FORBIDDEN", "the webhook URL's host resolves to a loopback, private, link-local or other special-purpose address", { field: "url" });
  }
  return addresses;
}
