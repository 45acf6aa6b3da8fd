// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "artifacts/", "cache/", "types/", "coverage/", ".settlenet/", "console/dist/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: "readonly", process: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  // Module boundaries: core/ is the shared kernel; node/, gateway/ and bank-sim/ import it and never
  // each other. Nothing but tests imports test/: what tooling needs from it belongs in scripts/lib/.
  // The processes never import scripts/ (tooling depends on them, not the other way round).
  ...[
    { dir: "core", forbidden: ["node", "gateway", "bank-sim", "scripts", "test"] },
    { dir: "node", forbidden: ["gateway", "bank-sim", "scripts", "test"] },
    { dir: "gateway", forbidden: ["node", "bank-sim", "scripts", "test"] },
    { dir: "bank-sim", forbidden: ["node", "gateway", "scripts", "test"] },
    { dir: "scripts", forbidden: ["test"] },
    { dir: "bench", forbidden: ["test"] },
  ].map(({ dir, forbidden }) => ({
    files: [`${dir}/**/*.ts`],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: forbidden.map((other) => ({
            regex: `^(\\.\\./)+${other}/`,
            message:
              other === "test"
                ? `${dir}/ must not import test/; move what it shares with the tests to scripts/lib/`
                : other === "scripts"
                  ? `${dir}/ must not import scripts/; move what it shares with the tooling to core/ (scripts/ imports it from there)`
                  : `${dir}/ must not import ${other}/; share it through core/`,
          })),
        },
      ],
    },
  })),
  // The console runs in the browser: of the server code it imports only the gateway's wire schemas.
  {
    files: ["console/src/**/*.ts", "console/src/**/*.tsx"],
    rules: {
      "no-restricted-imports": [
        "error",
        {
          patterns: [
            {
              // Two or more levels up: one level up from a page folder is console/src itself (its own node/ pages).
              regex: "^(\\.\\./){2,}(node|bank-sim|test|scripts|core)/",
              message: "console/ runs in the browser: it imports server code only as the gateway's wire schemas (gateway/routes/*/schemas.ts)",
            },
            {
              regex: "^(\\.\\./)+gateway/(?!routes/[a-z-]+/schemas\\.js$)",
              message: "console/ imports from gateway/ only the wire schemas (gateway/routes/*/schemas.ts)",
            },
          ],
        },
      ],
    },
  },
  {
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-unused-expressions": "off" },
  },
);
