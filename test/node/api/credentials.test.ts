/**
 * The credentials verifier on a real file: requests that arrive together share the file's stat, yet a
 * revocation written before a request arrives refuses that request even while an earlier stat is in flight.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { renameSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

import { expect } from "chai";

import { CredentialVerifier, createCredential, readCredentials } from "../../../node/api/credentials.js";

describe("node API credentials verifier", function () {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), "settlenet-credentials-"));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("refuses a credential revoked just before the request, while stats of earlier concurrent requests are in flight", async function () {
    const file = join(dir, "credentials.json");
    for (let round = 0; round < 20; round++) {
      const { record, token } = await createCredential(file, { role: "gateway", name: `gateway-${round}`, by: "test" });
      const verifier = new CredentialVerifier(file);
      const header = `Bearer ${token}`;
      expect(await verifier.authenticate(header)).to.include({ id: record.id });
      const credentials = (await readCredentials(file)).map((c) => (c.id === record.id ? { ...c, revokedAtMs: 1, revokedBy: "test" } : c));
      // A burst arrives; then, before the next request, the credential is revoked (written synchronously,
      // so no stat of the burst has answered yet). The main thread blocks first, so the burst's stat has
      // most likely run in the thread pool before the revocation: a request that took that stat's answer
      // would be let in. (The verifier passes however the threads run; the block only makes the race likely.)
      const burst = Array.from({ length: 20 }, () => verifier.authenticate(header));
      Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
      writeFileSync(`${file}.tmp`, JSON.stringify({ version: 1, credentials }), { mode: 0o600 });
      renameSync(`${file}.tmp`, file);
      const next = verifier.authenticate(header);
      expect(await next, `round ${round}: the request after the revocation`).to.equal(undefined);
      await Promise.all(burst);
      expect(await verifier.authenticate(header)).to.equal(undefined);
    }
  });

  it("answers every request of a burst against the current file", async function () {
    const file = join(dir, "credentials.json");
    const { record, token } = await createCredential(file, { role: "gateway", name: "gateway", by: "test" });
    const verifier = new CredentialVerifier(file);
    const answers = await Promise.all(Array.from({ length: 200 }, (_, i) => verifier.authenticate(i % 2 === 0 ? `Bearer ${token}` : "Bearer snc_0000000000000000_wrong")));
    answers.forEach((answer, i) => (i % 2 === 0 ? expect(answer).to.include({ id: record.id, role: "gateway" }) : expect(answer).to.equal(undefined)));
  });
});
