/**
 * Lease messages (node/relay/lease.ts): signed by the institution's operator key and refused
 * otherwise, claims carried as 32-byte ids, and one node's board of everyone's leases: a replayed or
 * older message changes nothing, only a renewal extends a lease, and never for less than the floor.
 */
import { randomBytes } from "node:crypto";

import { expect } from "chai";
import { Wallet, hexlify, type BaseWallet } from "ethers";

import { LeaseBoard, decodeClaims, decodeLease, encodeClaims, encodeLease, type LeaseBody } from "../../../node/relay/lease.js";

const holder = Wallet.createRandom();
const stranger = Wallet.createRandom();
const signerOf = (institution: string) => (institution.toLowerCase() === holder.address.toLowerCase() ? holder.address : undefined);
const sign = (wallet: BaseWallet) => (digest: string) => wallet.signingKey.sign(digest).serialized;

function body(overrides: Partial<LeaseBody> = {}): LeaseBody {
  return { v: 1, chainId: "31337", institution: holder.address, seq: 1, renew: true, validForMs: 3_000, progressBlock: 7, nonce: 3, pending: 2, oldestPendingAgeMs: 40, claims: "", ...overrides };
}

describe("relay leases", function () {
  it("carries claimed ids exactly, in order", function () {
    const ids = Array.from({ length: 5 }, () => hexlify(randomBytes(32)));
    expect(decodeClaims(encodeClaims(ids))).to.deep.equal(ids);
    expect(decodeClaims(encodeClaims([]))).to.deep.equal([]);
    expect(() => decodeClaims(Buffer.alloc(31).toString("base64"))).to.throw().with.property("code", "MALFORMED");
  });

  it("accepts a lease signed by the institution's operator key", function () {
    const sent = body({ claims: encodeClaims([hexlify(randomBytes(32))]) });
    expect(decodeLease(encodeLease(sent, sign(holder)), signerOf)).to.deep.equal(sent);
  });

  it("refuses a lease signed by another key, one of an unknown institution, a tampered one, and bytes that are no lease", function () {
    expect(() => decodeLease(encodeLease(body(), sign(stranger)), signerOf)).to.throw().with.property("code", "BAD_SIGNATURE");
    expect(() => decodeLease(encodeLease(body({ institution: stranger.address }), sign(stranger)), signerOf)).to.throw().with.property("code", "UNKNOWN_INSTITUTION");
    const message = JSON.parse(new TextDecoder().decode(encodeLease(body(), sign(holder)))) as { body: string; signature: string };
    const tampered = new TextEncoder().encode(JSON.stringify({ ...message, body: message.body.replace('"pending":2', '"pending":0') }));
    expect(() => decodeLease(tampered, signerOf)).to.throw().with.property("code", "BAD_SIGNATURE");
    expect(() => decodeLease(new TextEncoder().encode("{}"), signerOf)).to.throw().with.property("code", "MALFORMED");
    const extraField = new TextEncoder().encode(JSON.stringify({ ...message, body: JSON.stringify({ ...body(), extra: 1 }) }));
    expect(() => decodeLease(extraField, signerOf)).to.throw().with.property("code", "MALFORMED");
  });

  it("keeps a lease live for its validity after each renewal, never less than the floor, and ignores older messages", function () {
    const board = new LeaseBoard();
    expect(board.live(holder.address, 0, 1_000)).to.equal(false);
    expect(board.record(body({ seq: 10, validForMs: 3_000 }), 1_000)).to.equal(true);
    expect(board.live(holder.address, 3_999, 1_000)).to.equal(true);
    expect(board.live(holder.address, 4_000, 1_000)).to.equal(false);
    expect(board.expiresAt(holder.address, 10_000)).to.equal(11_000);
    // A replay, and a message without a renewal: neither extends it.
    expect(board.record(body({ seq: 10 }), 3_500)).to.equal(false);
    expect(board.record(body({ seq: 11, renew: false }), 3_500)).to.equal(true);
    expect(board.expiresAt(holder.address, 1_000)).to.equal(4_000);
    expect(board.record(body({ seq: 12, validForMs: 500 }), 3_600)).to.equal(true);
    expect(board.expiresAt(holder.address, 1_000)).to.equal(4_600);
    expect(board.get(holder.address)?.oldestPendingAt).to.equal(3_560);
  });

  it("counts a holder's key mining past its last known nonce as a renewal, and nothing else", function () {
    const board = new LeaseBoard();
    board.record(body({ seq: 1, nonce: 3, validForMs: 1_000 }), 0);
    expect(board.progressedOnChain(holder.address, 3, 5_000)).to.equal(false);
    expect(board.live(holder.address, 5_000, 1_000)).to.equal(false);
    expect(board.progressedOnChain(holder.address, 5, 5_000)).to.equal(true);
    expect(board.live(holder.address, 5_500, 1_000)).to.equal(true);
    // The next look must see it move again.
    expect(board.progressedOnChain(holder.address, 5, 7_000)).to.equal(false);
    expect(board.progressedOnChain(stranger.address, 9, 7_000)).to.equal(false);
  });

  it("counts every lease as renewed when this node can read the chain again after an outage", function () {
    const board = new LeaseBoard();
    board.record(body({ seq: 1, validForMs: 1_000 }), 0);
    expect(board.knownLapsed(holder.address, 5_000, 1_000)).to.equal(true);
    expect(board.knownLapsed(stranger.address, 5_000, 1_000), "never heard of: not known to have lapsed").to.equal(false);
    board.renewAll(10_000);
    expect(board.live(holder.address, 10_999, 1_000)).to.equal(true);
    expect(board.live(holder.address, 11_000, 1_000)).to.equal(false);
  });

  it("lets a holder that never renewed lapse one floor after it was first heard of", function () {
    const board = new LeaseBoard();
    board.record(body({ renew: false }), 500);
    expect(board.expiresAt(holder.address, 2_000)).to.equal(2_500);
  });
});
