/**
 * What the node API refuses at its edge, against a real node (in this process, real chain and
 * LevelDB): a batch over the limit before any validation (nothing validated, nothing stored), and
 * addresses whose mixed case is not their EIP-55 checksum, in operations, query strings and paths,
 * with 400 BAD_ADDRESS (all lower-case and all upper-case hex accepted, never a 500).
 */
import { expect } from "chai";

import { bearer } from "../../../core/api/auth.js";
import { MAX_BATCH } from "../../../core/api/operations.js";
import { signedPay, termsFor } from "../../helpers/operations.js";
import { startApiNode, type ApiNode } from "../../core/api/fixture.js";

/** `address` with the case of its first letter digit flipped: a wrong EIP-55 checksum. */
function badChecksum(address: string): string {
  const digits = address.slice(2);
  const at = digits.search(/[a-fA-F]/);
  const c = digits[at]!;
  const flipped = c === c.toLowerCase() ? c.toUpperCase() : c.toLowerCase();
  return `0x${digits.slice(0, at)}${flipped}${digits.slice(at + 1)}`;
}

describe("node API boundaries: batch limit and address checksums", function () {
  this.timeout(180_000);
  let api: ApiNode;
  let gateway: { authorization: string };

  before(async function () {
    api = await startApiNode();
    gateway = { authorization: bearer(api.credentials.gateway) };
  });
  after(async function () {
    await api?.stop();
  });

  const validated = async () => {
    const text = await api.client.metrics();
    return [...text.matchAll(/^settlenet_operations_validated_total\{[^}]*path="api"[^}]*\} (\d+)/gm)].reduce((sum, m) => sum + Number(m[1]), 0);
  };

  it("refuses a batch over the limit whole with 413 BATCH_TOO_LARGE before validating any of it; nothing is stored", async function () {
    const { op, paymentId } = await signedPay(api.scenario, await termsFor(api.scenario, 0, 0));
    const before = await validated();
    const answer = await api.node.api.inject({ method: "POST", url: "/v1/operations", headers: gateway, payload: { operations: Array.from({ length: MAX_BATCH + 1 }, () => op) } });
    expect([answer.statusCode, answer.json<{ code: string; max: number }>().code, answer.json<{ max: number }>().max]).to.deep.equal([413, "BATCH_TOO_LARGE", MAX_BATCH]);
    expect(await validated()).to.equal(before);
    expect(await api.client.operation(paymentId)).to.equal(undefined);
    expect((await api.client.payments({ limit: 10 })).items).to.deep.equal([]);
    // At the limit it is a batch like any other.
    const atLimit = await api.node.api.inject({ method: "POST", url: "/v1/operations", headers: gateway, payload: { operations: Array.from({ length: MAX_BATCH }, () => ({ kind: "release" })) } });
    expect([atLimit.statusCode, atLimit.json<{ refused: number }>().refused]).to.deep.equal([422, MAX_BATCH]);
  });

  it("refuses an operation carrying an address with a wrong checksum with 400 BAD_ADDRESS, and takes all-lower-case ones", async function () {
    const s = api.scenario;
    const { op } = await signedPay(s, await termsFor(s, 1, 0));
    const terms = (op as unknown as { terms: Record<string, string> }).terms;
    const bad = { ...op, terms: { ...terms, merchant: badChecksum(terms["merchant"]!) } };
    const refused = await api.node.api.inject({ method: "POST", url: "/v1/operations", headers: gateway, payload: bad });
    expect([refused.statusCode, refused.json<{ code: string }>().code]).to.deep.equal([400, "BAD_ADDRESS"]);
    const inBatch = await api.node.api.inject({ method: "POST", url: "/v1/operations", headers: gateway, payload: { operations: [bad] } });
    expect(inBatch.json<{ results: { code: string }[] }>().results[0]?.code).to.equal("BAD_ADDRESS");
    // The same operation with its addresses in lower case is the same signed message.
    const lower = { ...op, terms: { ...terms, payer: terms["payer"]!.toLowerCase(), merchant: terms["merchant"]!.toLowerCase(), token: terms["token"]!.toLowerCase() } };
    const accepted = await api.node.api.inject({ method: "POST", url: "/v1/operations", headers: gateway, payload: lower });
    expect(accepted.statusCode, accepted.body).to.equal(202);
  });

  it("answers 400 BAD_ADDRESS for a wrong checksum in a query or a path, and accepts all-lower-case and all-upper-case hex", async function () {
    const payer = api.scenario.payers[0]!.address;
    const token = api.scenario.deployment.tokens["CNY"]!.address;
    const get = (url: string) => api.node.api.inject({ url, headers: gateway });
    for (const url of [`/v1/payments?payer=${badChecksum(payer)}`, `/v1/tokens/${badChecksum(token)}`, `/v1/tokens/${token}/accounts/${badChecksum(payer)}`]) {
      const answer = await get(url);
      expect([answer.statusCode, answer.json<{ code: string }>().code], url).to.deep.equal([400, "BAD_ADDRESS"]);
    }
    const upper = `0x${payer.slice(2).toUpperCase()}`;
    for (const url of [`/v1/payments?payer=${payer.toLowerCase()}`, `/v1/payments?payer=${upper}`, `/v1/tokens/${token.toLowerCase()}/accounts/${upper}`]) {
      expect((await get(url)).statusCode, url).to.equal(200);
    }
  });
});
