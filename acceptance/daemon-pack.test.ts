// pack's daemon build replayed with the built binaries at pack's own paths (platform-invocations.md
// §1.3, §1.5, §2.1 A4, §2.2 R3, §2.3 E3): each phase runs as root in a private mount namespace
// whose root holds /cnb/lifecycle, the layers, app, cache and launch-cache "volumes" at /layers,
// /workspace, /cache and /launch-cache, and podman's service socket at /var/run/docker.sock, with
// exactly pack's argv and environment (no CNB_REGISTRY_AUTH). The next build uses pack's
// `--docker-host tcp://…` form instead: DOCKER_HOST in the environment and no socket.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { beforeAll, afterAll, describe, expect, it } from "vitest";
import { buildRunImage, copyIntoDaemon, expectNoLeakedProcesses, layerEntries, useEngineProxy, usePodmanService, useTempDir } from "../test/harness/index.js";
import { DAEMON_TEST_LAUNCHER, EngineReader, hex, type Inspected } from "./helpers/daemon.js";
import { at } from "./helpers/fixtures.js";
import { LIFECYCLE_DIR, type RunResult } from "./helpers/lifecycle.js";
import { lifecycleFolder, runAtPackPaths, type PackMounts } from "./helpers/pack-mounts.js";
import { writeBuildOutput, type BuildSpec, type Workspace } from "./helpers/workspace.js";

expectNoLeakedProcesses();
const podman = usePodmanService();
const engine = useEngineProxy(podman);
const temp = useTempDir("daemon-pack");

/** pack's example names; nothing answers at that registry, and nothing may ask it. */
const RUN = "registry.invalid/acme/run:jammy";
const APP = "registry.invalid/acme/app";
/** The builder's CNB_USER_ID / CNB_GROUP_ID. */
const USER = { CNB_USER_ID: "1000", CNB_GROUP_ID: "1000" };
/** pack 0.40 against a lifecycle supporting 0.15. */
const PHASE_ENV = { CNB_PLATFORM_API: "0.15", CNB_EXEC_ENV: "production" };

let reader: EngineReader;
let lifecycle: string;
let run: Inspected;
let n = 0;

beforeAll(async () => {
  chmodSync(temp(), 0o755);
  reader = new EngineReader(podman());
  const launcher = join(temp(), "launcher");
  writeFileSync(launcher, DAEMON_TEST_LAUNCHER);
  chmodSync(launcher, 0o755);
  lifecycle = lifecycleFolder(LIFECYCLE_DIR, launcher, join(temp(), "cnb-lifecycle"));
  const runImage = await buildRunImage(join(temp(), "run"), { env: { PATH: "/bin:/usr/bin" } });
  await copyIntoDaemon(podman(), runImage.ociReference, RUN);
  run = await reader.image(RUN);
});

afterAll(async () => {
  await reader.close();
});

function spec(message: string): BuildSpec {
  return {
    group: [{ id: "acme/node", version: "1.0.0" }],
    layers: [
      { bp: "acme/node", name: "runtime", types: { launch: true, cache: true }, metadata: { version: "20" }, files: { "bin/node": "runtime" } },
      { bp: "acme/node", name: "tools", types: { build: true, cache: true }, files: { "tool.txt": "tool" } },
    ],
    app: { "message.txt": `${message}\n` },
    processes: [{ type: "web", command: ["node", "server.js"], default: true }],
    defaultProcess: "web",
  };
}

/** pack's volumes of one build, as host directories (root-owned, 0755, like fresh volumes). */
interface Volumes {
  readonly layers: string;
  readonly app: string;
  readonly cache: string;
  readonly launchCache: string;
}

function volume(name: string): string {
  const dir = join(temp(), name);
  mkdirSync(dir, { recursive: true });
  chmodSync(dir, 0o755);
  return dir;
}

/** What pack copies into /layers before a phase starts (`docker cp`, mode 0755). */
function copyIn(vols: Volumes, name: string, text: string): void {
  writeFileSync(join(vols.layers, name), text);
  chmodSync(join(vols.layers, name), 0o755);
}

/** The detector, from the builder image as the CNB user: group.toml (and an empty plan). */
function detect(vols: Volumes, buildSpec: BuildSpec): void {
  writeFileSync(join(vols.layers, "group.toml"), buildSpec.group.map((g) => `[[group]]\n  id = "${g.id}"\n  version = "${g.version}"\n  api = "0.10"\n`).join("\n"));
  writeFileSync(join(vols.layers, "plan.toml"), "");
  execFileSync("chown", ["1000:1000", join(vols.layers, "group.toml"), join(vols.layers, "plan.toml")]);
}

/** The builder, from the builder image as the CNB user: layers, metadata, app files. */
function build(vols: Volumes, buildSpec: BuildSpec): void {
  const ws: Workspace = { root: temp(), layers: vols.layers, app: vols.app, cache: vols.cache, launcher: "", run: "" };
  writeBuildOutput(ws, buildSpec);
  for (const [rel, content] of Object.entries(buildSpec.app)) writeFileSync(join(vols.app, rel), content);
  execFileSync("chown", ["-R", "1000:1000", vols.layers, vols.app]);
}

/** How the phases reach the daemon: the socket bound at /var/run/docker.sock, or DOCKER_HOST=tcp://…. */
type Transport = { readonly socket: string } | { readonly dockerHost: string };

async function phase(transport: Transport, binds: Record<string, string>, argv: string[]): Promise<RunResult> {
  const mounts: PackMounts = {
    root: volume(`root-${++n}`),
    lifecycle,
    binds,
    ...("socket" in transport ? { dockerSocket: transport.socket } : {}),
  };
  const env = { ...USER, ...PHASE_ENV, ...("dockerHost" in transport ? { DOCKER_HOST: transport.dockerHost } : {}) };
  const r = await runAtPackPaths(mounts, env, argv);
  expect(r.code, `${argv[0] ?? ""}:\n${r.output}`).toBe(0);
  return r;
}

/** analyzer (A4), detector, restorer (R3), builder, exporter (E3), as pack runs them for a daemon build. */
async function packBuild(vols: Volumes, transport: Transport, message: string): Promise<Record<string, RunResult>> {
  const runToml = `[[images]]\n  image = "${RUN}"\n  mirrors = []\n\n[[images]]\n  image = "${RUN}"\n  mirrors = []\n`;
  copyIn(vols, "run.toml", runToml);
  const analyzer = await phase(transport, { "/launch-cache": vols.launchCache, "/layers": vols.layers, "/workspace": vols.app }, [
    "/cnb/lifecycle/analyzer", "-daemon", "-run", "/layers/run.toml", "-run-image", RUN, "-launch-cache", "/launch-cache", APP,
  ]);
  detect(vols, spec(message));
  const restorer = await phase(transport, { "/cache": vols.cache, "/layers": vols.layers, "/workspace": vols.app }, [
    "/cnb/lifecycle/restorer", "-cache-dir", "/cache", "-daemon", "-log-level", "debug",
  ]);
  build(vols, spec(message));
  copyIn(vols, "stack.toml", `[run-image]\n  image = "${RUN}"\n  mirrors = []\n`);
  copyIn(vols, "run.toml", runToml);
  copyIn(vols, "project-metadata.toml", "");
  const exporter = await phase(transport, { "/cache": vols.cache, "/launch-cache": vols.launchCache, "/layers": vols.layers, "/workspace": vols.app }, [
    "/cnb/lifecycle/exporter", "-daemon", "-launch-cache", "/launch-cache", "-log-level", "debug", "-app", "/workspace", "-cache-dir", "/cache", "-run", "/layers/run.toml", APP,
  ]);
  return { analyzer, restorer, exporter };
}

describe("pack build (daemon) replayed at pack's paths", () => {
  const cache = () => join(temp(), "pack-cache-acme_app_latest-0123456789ab.build");
  const launchCache = () => join(temp(), "pack-cache-acme_app_latest-0123456789ab.launch");

  it("with the socket at /var/run/docker.sock: the app image is loaded into the daemon and runs", async () => {
    const vols: Volumes = { layers: volume("pack-layers-abcdefghij"), app: volume("pack-app-klmnopqrst"), cache: volume(cache().split("/").at(-1) ?? ""), launchCache: volume(launchCache().split("/").at(-1) ?? "") };
    const socket = podman().socketPath ?? "";
    const out = await packBuild(vols, { socket }, "hello from pack's daemon build");
    expect(out.analyzer?.stdout).toContain(`Image with name "${APP}" not found`);
    expect(out.exporter?.stdout).toContain("Adding layer 'acme/node:runtime'");
    expect(out.exporter?.stdout).toContain("Adding cache layer 'acme/node:tools'");
    const image = await reader.image(`${APP}:latest`);
    expect(out.exporter?.stdout).toMatch(new RegExp(`\\*\\*\\* Images \\(${hex(image.Id).slice(0, 12)}\\):\\n\\s+${APP.replaceAll(".", "\\.")}\\n`));
    const report = parse(readFileSync(join(vols.layers, "report.toml"), "utf8"));
    expect(at(report, "image", "image-id")).toBe(hex(image.Id));
    expect(at(analyzedOf(vols), "run-image", "reference")).toBe(hex(run.Id));
    expect(image.Config.Env).toEqual(expect.arrayContaining(["CNB_PLATFORM_API=0.15", "CNB_LAYERS_DIR=/layers", "CNB_APP_DIR=/workspace"]));
    expect(JSON.parse(image.Config.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}")).toMatchObject({ runImage: { reference: hex(run.Id), image: RUN } });

    const started = await podman().podman(["run", "--rm", `${APP}:latest`, "--flag"]);
    expect(started.stdout).toContain("entrypoint=/cnb/process/web");
    expect(started.stdout).toContain("cwd=/workspace");
    expect(started.stdout).toContain("user=1000:1000");
    expect(started.stdout).toContain("platform-api=0.15");
    expect(started.stdout).toContain("hello from pack's daemon build");
  });

  it("with --docker-host tcp://…: DOCKER_HOST in the environment, no socket; the next build reuses the cache and launch-cache volumes", async () => {
    const vols: Volumes = { layers: volume("pack-layers-uvwxyzabcd"), app: volume("pack-app-efghijklmn"), cache: cache(), launchCache: launchCache() };
    const previous = await reader.image(`${APP}:latest`);
    engine().reset();
    const out = await packBuild(vols, { dockerHost: engine().dockerHost }, "second build over tcp");
    expect(at(analyzedOf(vols), "image", "reference")).toBe(hex(previous.Id));
    expect(out.restorer?.stdout).toContain('Restoring data for "acme/node:runtime" from cache');
    expect(out.exporter?.stdout).toContain("Reusing layer 'acme/node:runtime'");
    expect(out.exporter?.stdout).toContain("Reusing layer 'buildpacksio/lifecycle:launcher'");
    expect(out.exporter?.stdout).toContain("Reusing cache layer 'acme/node:tools'");
    // the phases went through the proxy: one load, with the changed app layer as the only content
    const image = await reader.image(`${APP}:latest`);
    const [load] = engine().loads();
    const before = new Set(previous.RootFS.Layers ?? []);
    const changed = [...new Set((image.RootFS.Layers ?? []).filter((d) => !before.has(d)))];
    expect(engine().loads()).toHaveLength(1);
    expect(load && layerEntries(load).filter((e) => e.size > 0).map((e) => `sha256:${e.name.replace(/\.tar$/, "")}`).sort()).toEqual(changed.sort());
    expect(engine().imageSaves()).toBe(0);
    const started = await podman().podman(["run", "--rm", `${APP}:latest`]);
    expect(started.stdout).toContain("second build over tcp");
  });
});

function analyzedOf(vols: Volumes): Record<string, unknown> {
  return parse(readFileSync(join(vols.layers, "analyzed.toml"), "utf8"));
}
