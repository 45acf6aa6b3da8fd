// Builds the console (console/, React + Vite) into console/dist, which the gateway serves at
// /checkout and /dashboard. Run by `npm install` (postinstall), `npm run console:build`, and by
// `npm start` and the browser tests with --if-missing. Vite needs a newer Node than npm may run on:
// under an older one this re-runs itself with the project's pinned runtime (node_modules/.bin/node).
import { spawnSync } from "node:child_process";
import { existsSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

const root = join(dirname(fileURLToPath(import.meta.url)), "..");
const dist = join(root, "console", "dist", "index.html");
const pinnedNode = join(root, "node_modules", ".bin", "node");

if (process.argv.includes("--if-missing") && existsSync(dist)) process.exit(0);

const [major, minor] = process.versions.node.split(".").map(Number);
if ((major ?? 0) < 22 && !(major === 20 && (minor ?? 0) >= 19)) {
  if (!existsSync(pinnedNode)) {
    console.error(`settlenet: the console needs Node >= 20.19 to build (this is ${process.version}); run \`npm run console:build\` with a newer Node`);
    process.exit(1);
  }
  const result = spawnSync(pinnedNode, [fileURLToPath(import.meta.url), ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
  process.exit(result.status ?? 1);
}

const { build } = await import("vite");
await build({ configFile: join(root, "console", "vite.config.ts"), logLevel: "warn" });
console.log(`settlenet: console built into ${join("console", "dist")}`);
