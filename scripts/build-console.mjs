// Builds the console (console/, React + Vite) into console/dist, which the gateway serves at
// /checkout and /dashboard. Run by `npm install` (postinstall, --if-available: an install without dev
// dependencies goes on without it), `npm run console:build`, and by `npm start` and the browser tests
// with --if-missing. Vite needs a newer Node than npm may run on:
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

let vite;
try {
  vite = await import("vite");
} catch {
  // An install without dev dependencies (--omit=dev) has no Vite: the gateway then answers 503 on its pages.
  const message = "settlenet: Vite is not installed (an install without dev dependencies?): the console is not built; the gateway's /checkout and /dashboard answer 503 until `npm run console:build` runs with dev dependencies";
  console.warn(message);
  process.exit(process.argv.includes("--if-available") ? 0 : 1);
}
const { build } = vite;
await build({ configFile: join(root, "console", "vite.config.ts"), logLevel: "warn" });
console.log(`settlenet: console built into ${join("console", "dist")}`);
