/**
 * The launcher's in-process chain (startChain) dates its next block at about the current time even when
 * it is created long after Hardhat loaded: EDR dates every chain of a process from one genesis time
 * (the resolved `initialDate`, taken when Hardhat loaded), and startChain moves time on by the lag. The
 * test makes the lag an hour by dating the process's genesis an hour back, as a chain created an hour
 * into a test run would see it.
 */
import { expect } from "chai";
import hre from "hardhat";

import { startChain, type LocalChain } from "../../../scripts/lib/launch/chain.js";

const HOUR_S = 3_600;
/** Generous: block times are whole seconds and a busy machine may take a while between two calls. */
const MARGIN_S = 300;

describe("launcher: an in-process chain created late dates its blocks at about now", function () {
  this.timeout(120_000);
  let chain: LocalChain | undefined;
  const config = hre.config.networks["default"] as { initialDate?: string | Date };
  const initialDate = config.initialDate;

  afterEach(async function () {
    config.initialDate = initialDate;
    await chain?.close();
    chain = undefined;
  });

  it("dates the genesis an hour back and the next block at about the current time", async function () {
    config.initialDate = new Date(Date.now() - HOUR_S * 1_000);
    chain = await startChain();
    const genesis = await chain.provider.getBlock(0);
    const nowS = () => Math.floor(Date.now() / 1_000);
    // The genesis carries the process's (simulated) load time: the lag startChain has to make up.
    expect(nowS() - (genesis?.timestamp ?? 0)).to.be.greaterThan(HOUR_S - MARGIN_S);
    const before = nowS();
    await chain.provider.send("evm_mine", []);
    const mined = await chain.provider.getBlock("latest");
    const after = nowS();
    expect(mined?.number).to.equal(1);
    expect(mined?.timestamp).to.be.within(before - MARGIN_S, after + MARGIN_S);
  });
});
