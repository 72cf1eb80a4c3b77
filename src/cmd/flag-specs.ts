import type { FlagSpec } from "./go-flags.js";

/** The lifecycle's flags, one constant per flag; each phase file lists the ones it defines. */
export const F = {
  analyzed: { name: "analyzed", kind: "string", env: ["CNB_ANALYZED_PATH"], default: "<layers>/analyzed.toml", usage: "path to analyzed.toml" },
  app: { name: "app", kind: "string", env: ["CNB_APP_DIR"], default: "/workspace", usage: "path to application directory" },
  buildImage: { name: "build-image", kind: "string", env: ["CNB_BUILD_IMAGE"], since: "0.10", usage: "build image reference" },
  cacheDir: { name: "cache-dir", kind: "string", env: ["CNB_CACHE_DIR"], usage: "path to cache directory" },
  cacheImage: { name: "cache-image", kind: "string", env: ["CNB_CACHE_IMAGE"], usage: "cache image tag name" },
  daemon: { name: "daemon", kind: "bool", env: ["CNB_USE_DAEMON"], usage: "export to docker daemon" },
  extended: { name: "extended", kind: "string", env: ["CNB_EXTENDED_DIR"], default: "<layers>/extended", since: "0.12", usage: "path to output directory for extended layers" },
  force: { name: "force", kind: "bool", env: ["CNB_FORCE_REBASE"], since: "0.12", envWhenUndefined: true, usage: "execute rebase even if operation is unsafe" },
  generated: { name: "generated", kind: "string", env: ["CNB_GENERATED_DIR"], default: "<layers>/generated", since: "0.12", usage: "path to output directory for generated Dockerfiles" },
  gid: { name: "gid", kind: "int", env: ["CNB_GROUP_ID"], usage: "GID of user's group in the stack's build and run images" },
  group: { name: "group", kind: "string", env: ["CNB_GROUP_PATH"], default: "<layers>/group.toml", usage: "path to group.toml" },
  image: { name: "image", kind: "string", usage: "reference to run image (deprecated)" },
  insecureRegistry: { name: "insecure-registry", kind: "strings", env: ["CNB_INSECURE_REGISTRIES"], since: "0.13", usage: "insecure registries (repeatable)" },
  launchCache: { name: "launch-cache", kind: "string", env: ["CNB_LAUNCH_CACHE_DIR"], usage: "path to launch cache directory" },
  launcher: { name: "launcher", kind: "string", default: "/cnb/lifecycle/launcher", usage: "path to launcher binary" },
  launcherSbom: { name: "launcher-sbom", kind: "string", default: "/cnb/lifecycle", since: "0.11", usage: "path to launcher SBOM directory" },
  layers: { name: "layers", kind: "string", env: ["CNB_LAYERS_DIR"], default: "/layers", usage: "path to layers directory" },
  layout: { name: "layout", kind: "bool", env: ["CNB_USE_LAYOUT"], since: "0.12", usage: "export to OCI layout format" },
  layoutDir: { name: "layout-dir", kind: "string", env: ["CNB_LAYOUT_DIR"], since: "0.12", usage: "path to root directory for OCI layout" },
  logLevel: { name: "log-level", kind: "string", env: ["CNB_LOG_LEVEL"], default: "info", usage: "logging level" },
  noColor: { name: "no-color", kind: "bool", env: ["CNB_NO_COLOR"], usage: "disable color output" },
  parallel: { name: "parallel", kind: "bool", env: ["CNB_PARALLEL_EXPORT"], usage: "export app image and cache concurrently" },
  previousImage: { name: "previous-image", kind: "string", env: ["CNB_PREVIOUS_IMAGE"], usage: "reference to previous image" },
  processType: { name: "process-type", kind: "string", env: ["CNB_PROCESS_TYPE"], usage: "default process type" },
  projectMetadata: { name: "project-metadata", kind: "string", env: ["CNB_PROJECT_METADATA_PATH"], default: "<layers>/project-metadata.toml", usage: "path to project-metadata.toml" },
  report: { name: "report", kind: "string", env: ["CNB_REPORT_PATH"], default: "<layers>/report.toml", usage: "path to report.toml" },
  run: { name: "run", kind: "string", env: ["CNB_RUN_PATH"], default: "/cnb/run.toml", since: "0.12", usage: "path to run.toml" },
  runImage: { name: "run-image", kind: "string", env: ["CNB_RUN_IMAGE"], usage: "reference to run image" },
  skipLayers: { name: "skip-layers", kind: "bool", env: ["CNB_SKIP_LAYERS", "CNB_SKIP_RESTORE"], usage: "do not restore layer data" },
  stack: { name: "stack", kind: "string", env: ["CNB_STACK_PATH"], default: "/cnb/stack.toml", before: "0.12", usage: "path to stack.toml" },
  tag: { name: "tag", kind: "strings", usage: "additional tag to apply to exported image (repeatable)" },
  uid: { name: "uid", kind: "int", env: ["CNB_USER_ID"], usage: "UID of user in the stack's build and run images" },
  version: { name: "version", kind: "bool", usage: "show version" },
} as const satisfies Record<string, FlagSpec>;

/** Flags every phase defines (Go `cli.Run`). */
export const COMMON_FLAGS: readonly FlagSpec[] = [F.version, F.logLevel, F.noColor];
