import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

import hardhatToolboxMochaEthers from "@nomicfoundation/hardhat-toolbox-mocha-ethers";
import { defineConfig } from "hardhat/config";

// No compiler download on this network: compile with the npm `solc` package (soljson).
const require = createRequire(import.meta.url);
const soljson = require.resolve("solc/soljson.js");
const solcVersion = (require("solc/package.json") as { version: string }).version;

/** SETTLENET_TEST_JOBS: mocha's worker processes. */
const TEST_JOBS = Number(process.env["SETTLENET_TEST_JOBS"] ?? "1");

const compiler = {
  version: solcVersion,
  path: soljson,
  settings: {
    optimizer: { enabled: true, runs: 10_000 },
    evmVersion: "cancun",
  },
};

export default defineConfig({
  plugins: [hardhatToolboxMochaEthers],
  solidity: {
    profiles: {
      default: compiler,
      production: compiler,
    },
  },
  paths: {
    tests: {
      solidity: "test/contracts",
      mocha: "test",
    },
  },
  test: {
    mocha: {
      // Spec output, then each test file's time with its hooks (scripts/lib/mocha/reporter.mjs).
      reporter: fileURLToPath(new URL("./scripts/lib/mocha/reporter.mjs", import.meta.url)),
      // Test files run in this many worker processes at once (1: one after another in this process).
      ...(TEST_JOBS > 1 ? { parallel: true, jobs: TEST_JOBS, require: [new URL("./scripts/lib/mocha/parallel-worker.mjs", import.meta.url).href] } : {}),
    },
    solidity: {
      fuzz: { runs: 256, seed: "0x5e771e" },
      invariant: { runs: 64, depth: 64, failOnRevert: false },
    },
  },
  networks: {
    // The embedded default: an in-process EDR chain, used by tests.
    hardhatMainnet: { type: "edr-simulated", chainType: "l1" },
    // A local JSON-RPC chain (`npx hardhat node` or `npm start`).
    localhost: { type: "http", url: "http://127.0.0.1:8545" },
  },
});
