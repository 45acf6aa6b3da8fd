/**
 * The benchmarks' chain in a process of its own: Hardhat's EDR JSON-RPC server on an ephemeral
 * loopback port (test/helpers/chain.ts startChain), so the load generator and the chain do not share
 * a process. Prints `{"url": ...}` as one line on stdout, stops on SIGTERM/SIGINT.
 */
import { startChain } from "../../test/helpers/chain.js";

const chain = await startChain();
process.stdout.write(`${JSON.stringify({ url: chain.url })}\n`);
const stop = () => {
  chain.close().then(
    () => process.exit(0),
    () => process.exit(1),
  );
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
