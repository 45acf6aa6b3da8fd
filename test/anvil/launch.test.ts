/**
 * The anvil launcher (scripts/lib/launch/anvil.ts) as the benchmarks use it: the block gas limit it
 * is given is the one its blocks carry, and the process id it reports is the running anvil's (the
 * benchmarks read that process's CPU), gone once it is closed.
 * Part of `npm run test:anvil` only (skipped otherwise).
 */
import { readFile } from "node:fs/promises";

import { expect } from "chai";

import { startAnvil, type AnvilChain } from "../../scripts/lib/launch/anvil.js";
import { ON_ANVIL } from "../helpers/chain.js";

async function commandOf(pid: number): Promise<string | undefined> {
  try {
    return (await readFile(`/proc/${pid}/cmdline`, "utf8")).split("\0").join(" ");
  } catch {
    return undefined;
  }
}

describe("anvil launcher: block gas limit and process id", function () {
  this.timeout(60_000);
  let anvil: AnvilChain | undefined;

  before(function () {
    if (!ON_ANVIL) this.skip(); // npm run test:anvil
  });
  afterEach(async () => {
    await anvil?.close();
    anvil = undefined;
  });

  it("seals blocks with the gas limit it was given and reports the pid of the anvil it started", async function () {
    anvil = await startAnvil({ blockTime: 1, blockGasLimit: 60_000_000 });
    const block = await anvil.provider.getBlock("latest");
    expect(block?.gasLimit).to.equal(60_000_000n);
    const pid = anvil.pid;
    if (pid === undefined) throw new Error("no pid reported");
    expect(await commandOf(pid)).to.match(/anvil .*--gas-limit 60000000/);
    await anvil.close();
    anvil = undefined;
    expect(await commandOf(pid)).to.equal(undefined);
  });

  it("keeps anvil's own block gas limit when none is given", async function () {
    anvil = await startAnvil({ blockTime: 1 });
    const block = await anvil.provider.getBlock("latest");
    expect(block?.gasLimit).to.equal(30_000_000n);
  });
});
