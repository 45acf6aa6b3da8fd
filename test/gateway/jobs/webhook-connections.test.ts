/**
 * Webhook connections kept alive between deliveries (jobs/webhooks.ts `WebhookConnections`), on a real
 * HTTP receiver listening on every loopback address: a connection is reused only for an attempt whose
 * own check answered the same addresses. Over HTTPS the certificate is verified against the URL's host
 * name, not the checked address the connection goes to.
 */
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { createServer, type IncomingMessage, type Server } from "node:http";
import { createServer as createHttpsServer } from "node:https";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import type { ResolvedAddress } from "../../../gateway/domain/webhook-target.js";
import { WebhookConnections, postWebhook } from "../../../gateway/jobs/webhooks.js";
import { devCertificates, trustCa } from "../../helpers/tls.js";

describe("gateway/jobs/webhooks: kept-alive webhook connections", function () {
  let server: Server;
  let port = 0;
  let connections = 0;
  /** The local address each request arrived at, in order. */
  const arrivedAt: string[] = [];
  let answer: ResolvedAddress[] = [];
  const resolve = async () => answer;

  before(async function () {
    server = createServer((req: IncomingMessage, res) => {
      arrivedAt.push(req.socket.localAddress ?? "");
      req.resume();
      req.on("end", () => res.writeHead(204).end());
    });
    server.on("connection", () => (connections += 1));
    await new Promise<void>((done) => server.listen(0, "0.0.0.0", done));
    port = (server.address() as AddressInfo).port;
  });

  after(async function () {
    server.closeAllConnections();
    await new Promise<void>((done) => server.close(() => done()));
  });

  beforeEach(function () {
    connections = 0;
    arrivedAt.length = 0;
  });

  const post = (pool: WebhookConnections) =>
    postWebhook(new URL(`http://hooks.test:${port}/hooks`), { "content-type": "application/json" }, "{}", { allowLoopback: true }, { resolve, signal: AbortSignal.timeout(10_000), connections: pool });

  it("sends successive deliveries to one target over one connection", async function () {
    const pool = new WebhookConnections();
    answer = [{ address: "127.0.0.1", family: 4 }];
    try {
      for (let i = 0; i < 3; i += 1) {
        const answer = await post(pool);
        expect(answer.statusCode).to.equal(204);
        // The connection is back in its pool once the answer is read.
        await answer.ended;
      }
      expect(connections).to.equal(1);
      expect(arrivedAt).to.deep.equal(["127.0.0.1", "127.0.0.1", "127.0.0.1"]);
    } finally {
      pool.close();
    }
  });

  it("connects anew when the check answers other addresses, never reusing a connection to an address not checked for the attempt", async function () {
    const pool = new WebhookConnections();
    try {
      answer = [{ address: "127.0.0.1", family: 4 }];
      await post(pool);
      answer = [{ address: "127.0.0.2", family: 4 }];
      await post(pool);
      expect(arrivedAt).to.deep.equal(["127.0.0.1", "127.0.0.2"]);
      expect(connections).to.equal(2);
    } finally {
      pool.close();
    }
  });

  it("refuses a target whose check now fails although a connection to it is kept", async function () {
    const pool = new WebhookConnections();
    try {
      answer = [{ address: "127.0.0.1", family: 4 }];
      await post(pool);
      const refused = await postWebhook(new URL(`http://hooks.test:${port}/hooks`), {}, "{}", { allowLoopback: false }, { resolve, signal: AbortSignal.timeout(10_000), connections: pool }).then(
        () => undefined,
        (error: { code?: string }) => error.code,
      );
      expect(refused).to.equal("WEBHOOK_URL_FORBIDDEN");
      expect(arrivedAt).to.deep.equal(["127.0.0.1"]);
    } finally {
      pool.close();
    }
  });

  it("gives up on a receiver that takes the request and never answers, or never ends its answer, after timeoutMs, and closes that connection", async function () {
    let closed!: () => void;
    const connectionClosed = new Promise<void>((done) => (closed = done));
    let dripped!: () => void;
    const dripClosed = new Promise<void>((done) => (dripped = done));
    let dripping = false;
    const silent = createServer((req, res) => {
      req.resume();
      if (!dripping) {
        req.socket.on("close", () => closed());
        return;
      }
      req.socket.on("close", () => dripped());
      res.writeHead(200, { "content-type": "text/plain" });
      res.write("never ends");
    });
    await new Promise<void>((done) => silent.listen(0, "127.0.0.1", done));
    const pool = new WebhookConnections();
    answer = [{ address: "127.0.0.1", family: 4 }];
    try {
      const silentPort = (silent.address() as AddressInfo).port;
      const outcome = await postWebhook(new URL(`http://hooks.test:${silentPort}/hooks`), {}, "{}", { allowLoopback: true }, { resolve, signal: new AbortController().signal, timeoutMs: 100, connections: pool }).then(
        () => "answered",
        (error: Error) => error.name,
      );
      expect(outcome).to.equal("TimeoutError");
      await connectionClosed;
      // A receiver that answers and never finishes its body loses the connection at the timeout too.
      dripping = true;
      const answered = await postWebhook(new URL(`http://hooks.test:${silentPort}/hooks`), {}, "{}", { allowLoopback: true }, { resolve, signal: new AbortController().signal, timeoutMs: 100, connections: pool });
      expect(answered.statusCode).to.equal(200);
      await dripClosed;
      // The pool still works for a receiver that answers.
      expect((await post(pool)).statusCode).to.equal(204);
    } finally {
      pool.close();
      silent.closeAllConnections();
      await new Promise<void>((done) => silent.close(() => done()));
    }
  });

  it("ends an attempt waiting for an answer at once when its signal aborts (the dispatcher stopping), with the signal's reason", async function () {
    const silent = createServer((req) => req.resume());
    await new Promise<void>((done) => silent.listen(0, "127.0.0.1", done));
    const pool = new WebhookConnections();
    answer = [{ address: "127.0.0.1", family: 4 }];
    const stopping = new AbortController();
    try {
      let received!: () => void;
      const requestArrived = new Promise<void>((done) => (received = done));
      silent.once("request", () => received());
      const silentPort = (silent.address() as AddressInfo).port;
      const outcome = postWebhook(new URL(`http://hooks.test:${silentPort}/hooks`), {}, "{}", { allowLoopback: true }, { resolve, signal: stopping.signal, connections: pool }).then(
        () => "answered",
        (error: Error) => error.message,
      );
      await requestArrived;
      stopping.abort(new Error("dispatcher stopped"));
      expect(await outcome).to.equal("dispatcher stopped");
    } finally {
      pool.close();
      silent.closeAllConnections();
      await new Promise<void>((done) => silent.close(() => done()));
    }
  });

  describe("over HTTPS", function () {
    let dir: string;
    let tlsServer: ReturnType<typeof createHttpsServer>;
    let tlsPort = 0;
    let untrust: (() => void) | undefined;

    before(async function () {
      dir = await mkdtemp(join(tmpdir(), "settlenet-webhook-tls-"));
      const certs = await devCertificates(dir);
      tlsServer = createHttpsServer({ cert: await readFile(certs.cert), key: await readFile(certs.key) }, (req, res) => {
        req.resume();
        req.on("end", () => res.writeHead(204).end());
      });
      await new Promise<void>((done) => tlsServer.listen(0, "127.0.0.1", done));
      tlsPort = (tlsServer.address() as AddressInfo).port;
      untrust = await trustCa(certs.ca);
    });

    after(async function () {
      untrust?.();
      tlsServer.closeAllConnections();
      await new Promise<void>((done) => tlsServer.close(() => done()));
      await rm(dir, { recursive: true, force: true });
    });

    const postTls = (host: string, pool: WebhookConnections) =>
      postWebhook(new URL(`https://${host}:${tlsPort}/hooks`), { "content-type": "application/json" }, "{}", { allowLoopback: true }, { resolve, signal: AbortSignal.timeout(10_000), connections: pool });

    it("delivers to a receiver whose certificate names the URL's host, from a trusted CA", async function () {
      const pool = new WebhookConnections();
      answer = [{ address: "127.0.0.1", family: 4 }];
      try {
        expect((await postTls("127.0.0.1", pool)).statusCode).to.equal(204);
      } finally {
        pool.close();
      }
    });

    it("refuses a receiver whose certificate names the checked address but not the URL's host name", async function () {
      const pool = new WebhookConnections();
      // hooks.test resolves to 127.0.0.1, which the certificate names; the host name it does not.
      answer = [{ address: "127.0.0.1", family: 4 }];
      try {
        const refused = await postTls("hooks.test", pool).then(
          () => "answered",
          (error: { code?: string }) => error.code,
        );
        expect(refused).to.equal("ERR_TLS_CERT_ALTNAME_INVALID");
      } finally {
        pool.close();
      }
    });
  });
});
