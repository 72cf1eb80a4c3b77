// Lint rules: typescript-eslint's type-aware recommended set plus the project's habits
// (no `any`, no floating promises, no focused/skipped tests).
import js from "@eslint/js";
import tseslint from "typescript-eslint";

export default tseslint.config(
  { ignores: ["dist/**", "node_modules/**", "coverage/**", "**/*.mjs", "eslint.config.js"] },
  js.configs.recommended,
  ...tseslint.configs.recommendedTypeChecked,
  {
    languageOptions: {
      parserOptions: { projectService: true, tsconfigRootDir: import.meta.dirname },
    },
    rules: {
      "@typescript-eslint/no-explicit-any": "error",
      "@typescript-eslint/no-floating-promises": "error",
      "@typescript-eslint/consistent-type-imports": "error",
      "@typescript-eslint/no-unused-vars": ["error", { argsIgnorePattern: "^_", varsIgnorePattern: "^_" }],
      "@typescript-eslint/restrict-template-expressions": ["error", { allowNumber: true, allowBoolean: true }],
      "no-restricted-properties": [
        "error",
        { object: "it", property: "only" }, { object: "it", property: "skip" },
        { object: "describe", property: "only" }, { object: "describe", property: "skip" },
        { object: "test", property: "only" }, { object: "test", property: "skip" },
      ],
    },
  },
);
