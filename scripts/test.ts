/**
 * `npm test`: the Solidity tests (fuzz and invariants, CPU-bound in EDR) beside the mocha tests (mostly
 * waiting on real processes), not one after the other. Contracts are compiled once first so the two
 * runners do not compile into the same artifacts at once. Mocha's output streams; the Solidity
 * runner's is printed whole when it ends. Exits non-zero if either fails. With arguments it is plain
 * `hardhat test <arguments>`.
 */
import { spawn } from "node:child_process";

function run(args: string[], output: "inherit" | "collect"): Promise<{ code: number; text: string }> {
  return new Promise((resolveRun) => {
    const child = spawn(process.execPath, [HARDHAT, ...args], { stdio: output === "inherit" ? "inherit" : ["ignore", "pipe", "pipe"] });
    let text = "";
    child.stdout?.on("data", (chunk: Buffer) => (text += chunk.toString()));
    child.stderr?.on("data", (chunk: Buffer) => (text += chunk.toString()));
    child.once("error", (error) => resolveRun({ code: 1, text: `${text}${error.message}\n` }));
    child.once("exit", (code, signal) => resolveRun({ code: code ?? (signal ? 1 : 0), text }));
  });
}

const HARDHAT = new URL("../node_modules/hardhat/dist/src/cli.js", import.meta.url).pathname;

async function main(): Promise<number> {
  const args = process.argv.slice(2);
  if (args.length > 0) return (await run(["test", ...args], "inherit")).code;
  const build = await run(["build"], "inherit");
  if (build.code !== 0) return build.code;
  const started = Date.now();
  const solidity = run(["test", "solidity", "--no-compile"], "collect");
  const mocha = await run(["test", "mocha", "--no-compile"], "inherit");
  const contracts = await solidity;
  process.stdout.write(`\nSolidity tests (run beside the mocha tests):\n${contracts.text}`);
  const seconds = Math.round((Date.now() - started) / 1000);
  const failed = [...(contracts.code !== 0 ? ["Solidity"] : []), ...(mocha.code !== 0 ? ["mocha"] : [])];
  process.stdout.write(`\nnpm test: ${failed.length === 0 ? "Solidity and mocha tests passed" : `${failed.join(" and ")} tests failed`} in ${seconds} s\n`);
  return failed.length === 0 ? 0 : 1;
}

main().then(
  (code) => process.exit(code),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
