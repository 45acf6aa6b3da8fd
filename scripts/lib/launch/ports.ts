/** Loopback ports for the parts of a local network: ephemeral ones, or a check that a fixed one is free. */
import { createServer } from "node:net";

import { SettlenetError } from "../../../core/errors.js";

/**
 * Ports chosen here lie below the kernel's ephemeral range (32768–60999 on Linux), from which every
 * outgoing connection takes its source port and every port-0 listener its port: a port chosen from
 * that range and bound a moment later can meanwhile have become some connection's source port.
 */
const CHOSEN_PORTS = { min: 15_000, max: 32_000 } as const;

function canListen(port: number): Promise<boolean> {
  return new Promise((resolveListen) => {
    const server = createServer();
    server.once("error", () => resolveListen(false));
    server.listen(port, "127.0.0.1", () => server.close(() => resolveListen(true)));
  });
}

/**
 * `count` consecutive free TCP ports on 127.0.0.1, the first returned, below the ephemeral range
 * (closed again before use, so another process could take one first: unlikely, not impossible).
 */
export async function freePortRange(count: number): Promise<number> {
  for (let attempt = 0; attempt < 100; attempt++) {
    const first = CHOSEN_PORTS.min + Math.floor(Math.random() * (CHOSEN_PORTS.max - CHOSEN_PORTS.min - count));
    let free = true;
    for (let port = first; port < first + count && free; port++) free = await canListen(port);
    if (free) return first;
  }
  throw new SettlenetError("PORT_IN_USE", `no ${count} consecutive free ports between ${CHOSEN_PORTS.min} and ${CHOSEN_PORTS.max}`, { count });
}

/** A free TCP port on 127.0.0.1 (see freePortRange). */
export function freePort(): Promise<number> {
  return freePortRange(1);
}

/** Refuses with PORT_IN_USE if something listens on 127.0.0.1:`port` (`what` names the part that needs it). */
export async function assertPortFree(port: number, what: string): Promise<void> {
  await new Promise<void>((resolveFree, reject) => {
    const server = createServer();
    server.once("error", (error: NodeJS.ErrnoException) =>
      reject(new SettlenetError("PORT_IN_USE", `port ${port} (${what}) is in use: stop whatever listens there, or start on other ports with --base-port <n>`, { port, what, errno: error.code })),
    );
    server.listen(port, "127.0.0.1", () => server.close(() => resolveFree()));
  });
}
