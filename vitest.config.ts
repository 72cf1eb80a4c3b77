import { defineConfig } from "vitest/config";

// Two projects: unit/integration tests (test/) and black-box acceptance tests of the built
// binary (acceptance/). Both start real registries, so timeouts are generous.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "unit",
          include: ["test/**/*.test.ts"],
          testTimeout: 60_000,
          hookTimeout: 60_000,
        },
      },
      {
        test: {
          name: "acceptance",
          include: ["acceptance/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
    ],
  },
});
