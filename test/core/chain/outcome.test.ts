import { expect } from "chai";
import { Interface, Wallet, hexlify, makeError, randomBytes } from "ethers";

import { decodeRevert, outcomeOf, revertDataOf, revertedWithoutData } from "../../../core/chain/outcome.js";
import { loadArtifact } from "../../../core/protocol/artifacts.js";
import { PAYMENT_STATUSES } from "../../../core/protocol/eip712.js";

const escrow = new Interface(loadArtifact("PaymentEscrow").abi);
const token = new Interface(loadArtifact("SettlementToken").abi);
const ledger = new Interface(loadArtifact("SettlementLedger").abi);
const paymentId = hexlify(randomBytes(32));
const signer = Wallet.createRandom().address;
const statusIndex = (name: (typeof PAYMENT_STATUSES)[number]) => PAYMENT_STATUSES.indexOf(name);
const invalidStatus = (name: (typeof PAYMENT_STATUSES)[number]) => escrow.encodeErrorResult("InvalidPaymentStatus", [paymentId, statusIndex(name)]);
const nonceUsed = escrow.encodeErrorResult("NonceAlreadyUsed", [signer, 7n]);

describe("chain outcome decoder", function () {
  it("reads no revert data as executed, and a revert without data as worth retrying", function () {
    expect(outcomeOf("pay", undefined)).to.deep.equal({ kind: "executed" });
    expect(outcomeOf("confirm", "0x")).to.deep.equal({ kind: "retry" });
    expect(revertedWithoutData().code).to.equal("REVERT_WITHOUT_REASON");
  });

  it("counts a second execution of the same operation as already executed, per kind", function () {
    expect(outcomeOf("pay", escrow.encodeErrorResult("PaymentAlreadyExists", [paymentId]))).to.deep.equal({ kind: "alreadyExecuted", code: "PaymentAlreadyExists" });
    for (const kind of ["markFulfilled", "confirm", "refund", "dispute", "resolve", "reclaim", "mint", "burn", "attestReserves", "freeze"] as const) {
      expect(outcomeOf(kind, nonceUsed), kind).to.deep.equal({ kind: "alreadyExecuted", code: "NonceAlreadyUsed" });
    }
    // Release has no nonce: a second one finds the payment released.
    expect(outcomeOf("release", invalidStatus("released"))).to.deep.equal({ kind: "alreadyExecuted", code: "InvalidPaymentStatus" });
    expect(outcomeOf("finalize", ledger.encodeErrorResult("CycleAlreadyFinalized", [12n]))).to.deep.equal({ kind: "alreadyExecuted", code: "CycleAlreadyFinalized" });
  });

  it("records a payment in another status as a failure with the decoded status, whatever moved it there", function () {
    expect(outcomeOf("release", invalidStatus("held"))).to.deep.equal({
      kind: "failed",
      error: { code: "InvalidPaymentStatus", message: `InvalidPaymentStatus(${paymentId}, ${statusIndex("held")})`, args: [paymentId, String(statusIndex("held"))] },
    });
    // A dispute that arrives after the release never ran: failed, not executed.
    expect(outcomeOf("dispute", invalidStatus("released")).kind).to.equal("failed");
    expect(outcomeOf("pay", nonceUsed).kind).to.equal("failed");
  });

  it("decodes the custom errors of the escrow, the token and the ledger with their arguments", function () {
    const reserves = decodeRevert(token.encodeErrorResult("ReservesExceeded", [signer, 10n, 9n]));
    expect(reserves).to.deep.include({ code: "ReservesExceeded", args: [signer, "10", "9"] });
    expect(outcomeOf("mint", token.encodeErrorResult("ReservesExceeded", [signer, 10n, 9n]))).to.deep.equal({ kind: "failed", error: reserves });
    expect(decodeRevert(escrow.encodeErrorResult("RefundExceedsAvailable", [paymentId, 5001n, 5000n]))).to.deep.include({ code: "RefundExceedsAvailable", args: [paymentId, "5001", "5000"] });
    expect(decodeRevert(ledger.encodeErrorResult("QuorumNotReached", [3n, 1n, 4n]))).to.deep.include({ code: "QuorumNotReached", args: ["3", "1", "4"] });
  });

  it("names plain reverts, panics and unknown errors with node codes", function () {
    expect(decodeRevert(escrow.encodeErrorResult("Error", ["out of cheese"]))).to.deep.equal({ code: "REVERTED", message: "out of cheese", args: ["out of cheese"] });
    expect(decodeRevert(escrow.encodeErrorResult("Panic", [0x11n]))).to.deep.include({ code: "PANIC", args: ["17"] });
    expect(decodeRevert("0xdeadbeef")).to.deep.equal({ code: "UNKNOWN_REVERT", message: "reverted with undecodable data", args: ["0xdeadbeef"] });
  });

  it("reads revert data only from a call exception that carries a selector", function () {
    const exception = (data: string | null) => makeError("execution reverted", "CALL_EXCEPTION", { action: "estimateGas", data, reason: null, transaction: { to: null, data: "0x" }, invocation: null, revert: null });
    expect(revertDataOf(exception(nonceUsed))).to.equal(nonceUsed);
    expect(revertDataOf(exception("0x"))).to.equal(undefined);
    expect(revertDataOf(exception(null))).to.equal(undefined);
    expect(revertDataOf(new Error("socket hang up"))).to.equal(undefined);
  });
});
