import { configDefaults, defineConfig } from "vitest/config";

// Three projects: unit/integration tests (test/), black-box acceptance tests of the built binary
// (acceptance/), and the lifecycle image's tests (the image built from the release and run by
// podman the way pack, Kubernetes and Tekton run it), whose global setup builds the release once.
// All start real registries, so timeouts are generous.
const IMAGE_TESTS = ["acceptance/lifecycle-image.test.ts", "acceptance/pack.test.ts", "acceptance/kubernetes.test.ts"];

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
          exclude: [...configDefaults.exclude, ...IMAGE_TESTS],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      {
        test: {
          name: "image",
          include: IMAGE_TESTS,
          globalSetup: ["acceptance/helpers/image-setup.ts"],
          testTimeout: 300_000,
          hookTimeout: 300_000,
        },
      },
    ],
  },
});
