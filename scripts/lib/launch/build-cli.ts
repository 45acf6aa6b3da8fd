/** Builds the settlenet CLI into its cache (see cli-build.ts); run by a launcher when the sources changed. */
import { buildCli } from "./cli-build.js";

buildCli().then(
  (entry) => process.stdout.write(`${entry}\n`),
  (error: unknown) => {
    process.stderr.write(`${(error as Error).stack ?? String(error)}\n`);
    process.exit(1);
  },
);
