// What the lifecycle image suites share: running `npm run image` (scripts/image.mjs) as a user
// would, a stand-in launcher, and the parts of a build that are not ours: a builder image whose
// detector and builder write a prepared build (group, layers, metadata, app files), a run image,
// and the check that the exported app image starts through the launcher.
import { spawn } from "node:child_process";
import { chmodSync, readdirSync, statSync, writeFileSync } from "node:fs";
import { join, relative } from "node:path";
import { inject } from "vitest";
import { buildRunImage, busyboxLayer, pushImage, userLayer, type FileSpec, type RegistryEndpoint } from "../../test/harness/index.js";
import type { Podman } from "./podman.js";
import { createWorkspace, type BuildSpec } from "./workspace.js";

const root = join(import.meta.dirname, "..", "..");

/** A launcher stand-in: shows how the app image started it, then the app's message. */
export const TEST_LAUNCHER = `#!/bin/sh
echo "entrypoint=$0"
echo "cwd=$(pwd)"
echo "platform-api=$CNB_PLATFORM_API"
echo "args=$*"
cat "$CNB_APP_DIR/message.txt"
`;

/** Output of one `npm run image` run. */
export interface CommandRun {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  readonly seconds: number;
}

/** Runs `node scripts/image.mjs <args>` (what `npm run image -- <args>` runs) from `cwd`. */
export function runImageCommand(args: readonly string[], env: NodeJS.ProcessEnv = {}, cwd = root): Promise<CommandRun> {
  const started = performance.now();
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(root, "scripts", "image.mjs"), ...args], {
      cwd,
      env: { PATH: process.env.PATH, HOME: process.env.HOME, ...env },
      stdio: ["ignore", "pipe", "pipe"],
    });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", reject);
    child.on("close", (code) =>
      resolve({
        code: code ?? -1,
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        seconds: (performance.now() - started) / 1000,
      }),
    );
  });
}

/** Writes the stand-in launcher into `dir`; returns its path. */
export function writeTestLauncher(dir: string): string {
  const path = join(dir, "launcher");
  writeFileSync(path, TEST_LAUNCHER);
  chmodSync(path, 0o755);
  return path;
}

/** The image digest `npm run image` printed. */
export function printedDigest(stdout: string): string {
  const m = /^image (sha256:[0-9a-f]{64}),/m.exec(stdout);
  if (!m?.[1]) throw new Error(`no image digest in:\n${stdout}`);
  return m[1];
}

/**
 * Builds the lifecycle image from the release the global setup made, offline from its .debs, with
 * the stand-in launcher, into `<dir>/layout`, and pushes it to `reference`; returns the digest.
 */
export async function buildAndPushLifecycleImage(dir: string, reference: string, env: NodeJS.ProcessEnv): Promise<{ digest: string; run: CommandRun }> {
  const run = await runImageCommand(
    ["--launcher", writeTestLauncher(dir), "--release", inject("lifecycleRelease"), "--debs", inject("lifecycleDebs"), "--out", join(dir, "layout"), "--push", reference],
    env,
  );
  if (run.code !== 0) throw new Error(`npm run image exited ${run.code}:\n${run.stdout}${run.stderr}`);
  return { digest: printedDigest(run.stdout), run };
}

/** The build the builder stand-in produces (as in full-cycle.test.ts). */
export function appBuild(message: string): BuildSpec {
  return {
    group: [{ id: "acme/node", version: "1.0.0" }],
    layers: [
      { bp: "acme/node", name: "runtime", types: { launch: true, cache: true }, metadata: { version: "20" }, files: { "bin/node": "runtime" } },
      { bp: "acme/node", name: "tools", types: { build: true, cache: true }, files: { "tool.txt": "tool" } },
    ],
    app: { "static/index.html": "<html/>", "message.txt": message },
    processes: [{ type: "web", command: ["node", "server.js"], default: true }],
    defaultProcess: "web",
  };
}

/** Flags of the stand-ins, in `-flag value` (pack) or `-flag=value` (kpack, Tekton) form. */
const PARSE_FLAGS = `layers=/layers; app=/workspace; group=""; plan=""
while [ $# -gt 0 ]; do
  case "$1" in
    -layers=*) layers="\${1#*=}" ;; -layers) layers="$2"; shift ;;
    -app=*) app="\${1#*=}" ;; -app) app="$2"; shift ;;
    -group=*) group="\${1#*=}" ;; -group) group="$2"; shift ;;
    -plan=*) plan="\${1#*=}" ;; -plan) plan="$2"; shift ;;
  esac
  shift
done
[ -n "$group" ] || group="$layers/group.toml"
[ -n "$plan" ] || plan="$layers/plan.toml"
`;

const DETECTOR = `#!/bin/sh
# Stand-in for the builder image's detector: the prepared group, an empty plan.
set -e
${PARSE_FLAGS}
cp /cnb/test-build/group.toml "$group"
: > "$plan"
echo "detector: wrote $group and $plan as $(id -u):$(id -g)"
`;

const BUILDER = `#!/bin/sh
# Stand-in for the builder image's builder: the prepared layers, metadata and app files.
set -e
${PARSE_FLAGS}
cp -R /cnb/test-build/layers/. "$layers/"
cp -R /cnb/test-build/app/. "$app/"
echo "builder: wrote $layers and $app as $(id -u):$(id -g)"
`;

/** Every file under `dir` (but `except`) as fixture specs at `<to>/<relative path>`. */
function treeFiles(dir: string, to: string, except: readonly string[] = []): FileSpec[] {
  const files: FileSpec[] = [];
  const walk = (at: string): void => {
    for (const name of readdirSync(at).sort()) {
      const full = join(at, name);
      if (statSync(full).isDirectory()) walk(full);
      else if (!except.includes(relative(dir, full))) files.push({ path: `${to}/${relative(dir, full)}`, copyFrom: full, mode: 0o644 });
    }
  };
  walk(dir);
  return files;
}

/** Busybox applets the builder stand-in and the "any image with sh" steps use. */
const APPLETS = ["sh", "cat", "cp", "chown", "cut", "env", "grep", "id", "ls", "mkdir", "rm", "tr"];

/**
 * Builds and pushes the builder stand-in: busybox, users (cnb 1000:1000, its USER), and
 * /cnb/lifecycle/{detector,builder} scripts that write the prepared build of `spec`. It also
 * serves as the "any image with sh" of the examples (busybox, git) in the tests.
 */
export async function pushTestBuilder(dir: string, endpoint: RegistryEndpoint, reference: string, spec: BuildSpec): Promise<void> {
  const ws = createWorkspace(join(dir, "prepared-build"), spec);
  const image = await buildRunImage(join(dir, "builder-layout"), {
    layers: [
      busyboxLayer(APPLETS),
      userLayer(),
      {
        createdBy: "test: detector and builder stand-ins with a prepared build",
        files: [
          { path: "cnb/lifecycle/detector", content: DETECTOR, mode: 0o755 },
          { path: "cnb/lifecycle/builder", content: BUILDER, mode: 0o755 },
          { path: "cnb/test-build/group.toml", copyFrom: join(ws.layers, "group.toml"), mode: 0o644 },
          ...treeFiles(ws.layers, "cnb/test-build/layers", ["group.toml"]),
          ...treeFiles(ws.app, "cnb/test-build/app"),
        ],
      },
    ],
    labels: { "io.buildpacks.builder.metadata": "{}" },
  });
  await pushImage(image, endpoint, reference);
}

/** Builds and pushes a run image (busybox, users, USER 1000:1000). */
export async function pushTestRunImage(dir: string, endpoint: RegistryEndpoint, reference: string): Promise<void> {
  const image = await buildRunImage(join(dir, "run-layout"), { env: { PATH: "/bin:/usr/bin" } });
  await pushImage(image, endpoint, reference);
}

/** Runs the exported app image with podman; returns what the launcher printed. */
export async function runAppImage(podman: Podman, image: string): Promise<string> {
  await podman.run(["pull", "-q", image]);
  return (await podman.run(["run", "--rm", "--network", "none", image, "--flag"])).stdout;
}
