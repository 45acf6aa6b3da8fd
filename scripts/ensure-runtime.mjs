// Hardhat 3 needs Node >= 22.13. The project pins that runtime with the `node@22`
// devDependency, but when npm itself runs on an older Node it silently skips
// packages whose `engines` exclude it (notably Hardhat's native EDR binary).
// After install, if EDR cannot be loaded by the pinned runtime, install once more
// with npm running on the pinned runtime.
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const pinnedNode = join(root, "node_modules", ".bin", "node");
const guard = "SETTLENET_RUNTIME_REINSTALL";

if (process.env[guard] === "1" || !existsSync(pinnedNode)) process.exit(0);

const edrLoads = () =>
  spawnSync(pinnedNode, ["-e", "require('@nomicfoundation/edr')"], { cwd: root, stdio: "ignore" })
    .status === 0;

if (edrLoads()) process.exit(0);

const npmCli = process.env.npm_execpath;
if (!npmCli) {
  console.error("settlenet: Hardhat's EDR is missing; run `npm install` again with node_modules/.bin on PATH");
  process.exit(1);
}
console.log(`settlenet: re-running npm install under ${pinnedNode} so Node-22-only packages are installed`);
const result = spawnSync(pinnedNode, [npmCli, "install", "--no-audit", "--no-fund"], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, [guard]: "1", PATH: `${join(root, "node_modules", ".bin")}:${process.env.PATH ?? ""}` },
});
if (result.status !== 0 || !edrLoads()) {
  console.error("settlenet: Hardhat's EDR still does not load under the pinned Node runtime");
  process.exit(1);
}
