import { expect } from "chai";
import { AbiCoder, Wallet, hexlify, keccak256, randomBytes } from "ethers";

import { failoverDelayMs, failoverPosition } from "../../../core/chain/failover.js";

const addr = () => Wallet.createRandom().address;

describe("failover order", function () {
  it("gives every active institution one position per subject, and none to others", function () {
    const active = [addr(), addr(), addr(), addr()];
    for (const subject of [1n, 2n, hexlify(randomBytes(32))]) {
      expect(active.map((i) => failoverPosition(subject, i, active)).sort()).to.deep.equal([0, 1, 2, 3]);
    }
    expect(failoverPosition(1n, addr(), active)).to.equal(-1);
    // Case does not matter.
    const [first] = active;
    expect(failoverPosition(5n, first!.toLowerCase(), active)).to.equal(failoverPosition(5n, first!, active));
  });

  it("moves the first turn between institutions from one subject to the next", function () {
    const active = [addr(), addr(), addr(), addr()];
    const firsts = new Set([1n, 2n, 3n, 4n, 5n, 6n, 7n, 8n].map((cycle) => active.find((i) => failoverPosition(cycle, i, active) === 0)));
    expect(firsts.size).to.be.greaterThan(1);
  });

  it("orders by keccak256(abi.encode(subject, institution)), so a cycle id orders as abi.encode(uint64, address)", function () {
    const active = [addr(), addr(), addr(), addr(), addr()];
    const coder = AbiCoder.defaultAbiCoder();
    const cycleId = 480_123n;
    const byCycle = [...active].sort((a, b) => (keccak256(coder.encode(["uint64", "address"], [cycleId, a])) < keccak256(coder.encode(["uint64", "address"], [cycleId, b])) ? -1 : 1));
    expect(active.map((i) => byCycle.indexOf(i))).to.deep.equal(active.map((i) => failoverPosition(cycleId, i, active)));
    const operationId = hexlify(randomBytes(32));
    const byOperation = [...active].sort((a, b) => (keccak256(coder.encode(["bytes32", "address"], [operationId, a])) < keccak256(coder.encode(["bytes32", "address"], [operationId, b])) ? -1 : 1));
    expect(active.map((i) => byOperation.indexOf(i))).to.deep.equal(active.map((i) => failoverPosition(operationId, i, active)));
  });

  it("waits one step per turn ahead", function () {
    expect([0, 1, 3].map((turn) => failoverDelayMs(turn, 2_000))).to.deep.equal([0, 2_000, 6_000]);
  });
});
