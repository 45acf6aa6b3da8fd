/**
 * Loaded first in each mocha worker when the test files run in parallel (SETTLENET_TEST_JOBS > 1).
 * Hardhat starts the workers with tsx in NODE_OPTIONS, which every process a test starts would inherit:
 * each node, gateway and CLI run would load the TypeScript loader for nothing (they run from the
 * CLI's build, and scripts are started with `--import tsx` explicitly), slower to start and to load
 * modules. The worker itself has loaded tsx already.
 */
const options = (process.env["NODE_OPTIONS"] ?? "").replace(/--import\s+("[^"]*tsx[^"]*"|\S*tsx\S*)/g, "").trim();
if (options) process.env["NODE_OPTIONS"] = options;
else delete process.env["NODE_OPTIONS"];
