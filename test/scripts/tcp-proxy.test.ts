/** The TCP proxy tests and the fault campaign cut links with: pass, refuse, black hole, heal. */
import { once } from "node:events";
import { createConnection, createServer, type AddressInfo, type Server, type Socket } from "node:net";

import { expect } from "chai";

import { startTcpProxy } from "../../scripts/lib/tcp-proxy.js";

describe("tcp proxy: the partition between two parts", function () {
  let upstream: Server;
  let accepted = 0;

  before(async function () {
    upstream = createServer((socket) => {
      accepted += 1;
      socket.pipe(socket);
    });
    upstream.listen(0, "127.0.0.1");
    await once(upstream, "listening");
  });
  after(async function () {
    upstream.close();
  });

  const connect = (port: number) => {
    const socket = createConnection({ host: "127.0.0.1", port });
    // A cut connection is reset: the close is what the test waits for.
    socket.on("error", () => undefined);
    return socket;
  };
  const closed = (socket: Socket) => new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const echo = async (socket: Socket, text: string) => {
    socket.write(text);
    const [data] = (await once(socket, "data")) as [Buffer];
    return data.toString();
  };

  it("passes, refuses, black-holes and heals", async function () {
    const proxy = await startTcpProxy({ host: "127.0.0.1", port: (upstream.address() as AddressInfo).port });
    try {
      const first = connect(proxy.port);
      expect(await echo(first, "hello")).to.equal("hello");

      const firstClosed = closed(first);
      await proxy.set("refuse");
      // The open connection is cut, a new one refused.
      await firstClosed;
      const refused = connect(proxy.port);
      const [error] = (await once(refused, "error")) as [NodeJS.ErrnoException];
      expect(error.code).to.equal("ECONNREFUSED");

      await proxy.set("blackhole");
      const before = accepted;
      const hole = connect(proxy.port);
      await once(hole, "connect");
      hole.write("lost");
      const holeClosed = closed(hole);
      await proxy.set("pass");
      await holeClosed;
      const healed = connect(proxy.port);
      expect(await echo(healed, "back")).to.equal("back");
      // Only the healed connection reached the upstream: nothing crossed the black hole.
      expect(accepted - before).to.equal(1);
      healed.destroy();
    } finally {
      await proxy.close();
    }
  });

  it("takes its target as a URL; pause refuses and resume heals on the same port", async function () {
    const proxy = await startTcpProxy(`http://127.0.0.1:${(upstream.address() as AddressInfo).port}`);
    try {
      const { port } = proxy;
      expect(await echo(connect(port), "through")).to.equal("through");
      await proxy.pause();
      expect([proxy.mode, proxy.running]).to.deep.equal(["refuse", false]);
      const [error] = (await once(connect(port), "error")) as [NodeJS.ErrnoException];
      expect(error.code).to.equal("ECONNREFUSED");
      await proxy.resume();
      expect([proxy.port, proxy.running]).to.deep.equal([port, true]);
      const healed = connect(port);
      expect(await echo(healed, "again")).to.equal("again");
      healed.destroy();
    } finally {
      await proxy.close();
    }
  });
});
