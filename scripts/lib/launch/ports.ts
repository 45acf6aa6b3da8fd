/** Loopback ports for the parts of a local network: ephemeral ones, or a check that a fixed one is free. */
import { createServer } from "node:net";

import { SettlenetError } from "../../../core/errors.js";

/** A free TCP port on 127.0.0.1 (closed again before use, so another process could take it first: fine on a development machine). */
export async function freePort(): Promise<number> {
  return new Promise((resolvePort, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      const port = typeof address === "object" && address ? address.port : 0;
      server.close(() => resolvePort(port));
    });
  });
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
