// @ts-check
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["node_modules/", "artifacts/", "cache/", "types/", "coverage/", ".settlenet/"] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    languageOptions: { globals: { console: "readonly", process: "readonly" } },
    rules: {
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/consistent-type-imports": "error",
    },
  },
  // Module boundaries: core/ is the shared kernel; node/, gateway/ and bank-sim/ import it and never each other.
  ...[
    { files: ["core/**/*.ts"], forbidden: ["node", "gateway", "bank-sim"] },
    { files: ["node/**/*.ts"], forbidden: ["gateway", "bank-sim"] },
    { files: ["gateway/**/*.ts"], forbidden: ["node", "bank-sim"] },
    { files: ["bank-sim/**/*.ts"], forbidden: ["node", "gateway"] },
  ].map(({ files, forbidden }) => ({
    files,
    rules: {
      "no-restricted-imports": [
        "error",
        { patterns: forbidden.map((dir) => ({ regex: `^(\\.\\./)+${dir}/`, message: `${files[0].split("/")[0]}/ must not import ${dir}/; share it through core/` })) },
      ],
    },
  })),
  {
    files: ["test/**/*.ts"],
    rules: { "@typescript-eslint/no-unused-expressions": "off" },
  },
);
