// Daemon mode's bad inputs and faults, through the built phases: no daemon at the socket, a wrong
// DOCKER_HOST, a daemon that refuses the load, a load cut midway, images absent from the daemon.
// Each gives one ERROR line naming what failed and the contract's exit code; on a failed save
// nothing is tagged in the daemon and the launch cache and the cache stay as they were.
import { execFileSync } from "node:child_process";
import { chmodSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "smol-toml";
import { beforeAll, afterAll, describe, expect, it } from "vitest";
import { buildRunImage, copyIntoDaemon, expectNoLeakedProcesses, useEngineProxy, type BuiltImage } from "../test/harness/index.js";
import { usePodmanService } from "../test/harness/vitest/use-podman.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { committedDiffIds, DAEMON_TEST_LAUNCHER, EngineReader, hex, snapshotDir } from "./helpers/daemon.js";
import { at } from "./helpers/fixtures.js";
import { runLifecycle, type Binary, type RunResult } from "./helpers/lifecycle.js";
import { createWorkspace, writeBuildOutput, type BuildSpec, type Workspace } from "./helpers/workspace.js";

expectNoLeakedProcesses();
const podman = usePodmanService();
const engine = useEngineProxy(podman);
const temp = useTempDir("daemon-faults");

const RUN = "registry.invalid/acme/run:1";
const CNB_USER = { CNB_USER_ID: "1000", CNB_GROUP_ID: "1000" };
let reader: EngineReader;
let runImage: BuiltImage;
let n = 0;

beforeAll(async () => {
  chmodSync(temp(), 0o755);
  reader = new EngineReader(podman());
  runImage = await buildRunImage(join(temp(), "run"), { env: { PATH: "/bin" } });
  await copyIntoDaemon(podman(), runImage.ociReference, RUN);
});

afterAll(async () => {
  await reader.close();
});

function spec(version: string): BuildSpec {
  return {
    group: [{ id: "acme/node", version: "1.0.0" }],
    layers: [
      { bp: "acme/node", name: "runtime", types: { launch: true, cache: true }, metadata: { version }, files: { "bin/node": `runtime ${version}` } },
      { bp: "acme/node", name: "tools", types: { build: true, cache: true }, files: { "tool.txt": "tool" } },
    ],
    app: { "message.txt": `app ${version}\n` },
    processes: [{ type: "web", command: ["node"], default: true }],
    defaultProcess: "web",
  };
}

type DaemonWorkspace = Workspace & { launchCache: string };

function newWorkspace(): DaemonWorkspace {
  const ws = createWorkspace(join(temp(), `ws-${++n}`), spec("1"), `[[images]]\n  image = "${RUN}"\n`);
  writeFileSync(ws.launcher, DAEMON_TEST_LAUNCHER);
  mkdirSync(join(ws.root, "launch-cache"));
  return { ...ws, launchCache: join(ws.root, "launch-cache") };
}

function phase(bin: Binary, args: readonly string[], dockerHost: string, env: Record<string, string> = {}): Promise<RunResult> {
  return runLifecycle(bin, ["-no-color", ...args], { platformApi: "0.14", env: { ...CNB_USER, DOCKER_HOST: dockerHost, ...env } });
}

async function ok(bin: Binary, args: readonly string[], dockerHost = podman().dockerHost): Promise<RunResult> {
  const r = await phase(bin, args, dockerHost);
  expect(r.code, `${bin}:\n${r.output}`).toBe(0);
  return r;
}

/** The builder's output, written as the CNB user. */
function build(ws: Workspace, version: string): void {
  writeBuildOutput(ws, spec(version));
  writeFileSync(join(ws.app, "message.txt"), `app ${version}\n`);
  execFileSync("chown", ["-R", "1000:1000", ws.layers, ws.app]);
}

function exportArgs(ws: DaemonWorkspace, app: string): string[] {
  return ["-daemon", "-launch-cache", ws.launchCache, "-layers", ws.layers, "-app", ws.app, "-launcher", ws.launcher, "-cache-dir", ws.cache, "-run", ws.run, app];
}

/** analyzer → restorer → build → exporter with pack's daemon flags, all successful. */
async function fullBuild(ws: DaemonWorkspace, app: string, version: string): Promise<void> {
  await ok("analyzer", ["-daemon", "-layers", ws.layers, "-run", ws.run, "-launch-cache", ws.launchCache, app]);
  await ok("restorer", ["-layers", ws.layers, "-cache-dir", ws.cache, "-daemon"]);
  build(ws, version);
  await ok("exporter", exportArgs(ws, app));
}

/** The ERROR lines of an output. */
function errors(r: RunResult): string[] {
  return r.output.split("\n").filter((l) => l.startsWith("ERROR: "));
}

describe("no daemon, or a DOCKER_HOST that names none", () => {
  const cases = [
    { what: "no daemon at the socket", host: () => `unix://${join(temp(), "no-daemon.sock")}`, reason: () => `cannot connect to the Docker daemon at unix://${join(temp(), "no-daemon.sock")}: no such file or directory` },
    { what: "nothing listening at a tcp:// DOCKER_HOST", host: () => "tcp://127.0.0.1:9", reason: () => "connection refused" },
    { what: "an unsupported DOCKER_HOST scheme", host: () => "ssh://builder@example.com", reason: () => "unsupported DOCKER_HOST 'ssh://builder@example.com'" },
    { what: "a DOCKER_HOST that is not a URL", host: () => "/var/run/docker.sock", reason: () => "invalid DOCKER_HOST '/var/run/docker.sock'" },
  ];
  for (const c of cases) {
    it(`${c.what}: analyzer, exporter and rebaser exit 1 with one line 'failed to initialize docker client'`, async () => {
      const ws = newWorkspace();
      const app = "registry.invalid/acme/app:nodaemon";
      const analyzer = await phase("analyzer", ["-daemon", "-layers", ws.layers, "-run", ws.run, "-run-image", RUN, app], c.host());
      writeFileSync(join(ws.layers, "analyzed.toml"), `[run-image]\n  reference = "${"0".repeat(64)}"\n  image = "${RUN}"\n`);
      const exporter = await phase("exporter", exportArgs(ws, app), c.host());
      const rebaser = await phase("rebaser", ["-daemon", "-run-image", RUN, app], c.host());
      for (const [name, r] of Object.entries({ analyzer, exporter, rebaser })) {
        expect(r.code, `${name}: ${r.output}`).toBe(1);
        expect(errors(r), name).toHaveLength(1);
        expect(errors(r)[0], name).toMatch(/^ERROR: failed to initialize docker client: /);
        expect(errors(r)[0], name).toContain(c.reason());
      }
      // the exporter never got as far as its caches
      expect(await snapshotDir(ws.launchCache)).toEqual({});
    });
  }

  it("the restorer, which needs no daemon without extensions, restores from its cache anyway", async () => {
    const ws = newWorkspace();
    await fullBuild(ws, "registry.invalid/acme/app:restorer", "1");
    const r = await phase("restorer", ["-layers", ws.layers, "-cache-dir", ws.cache, "-daemon"], `unix://${join(temp(), "no-daemon.sock")}`);
    expect(r.code, r.output).toBe(0);
    expect(r.stdout).toContain('Restoring data for "acme/node:runtime" from cache');
  });
});

describe("a save that fails leaves nothing tagged and the caches as they were", () => {
  let ws: DaemonWorkspace;
  const app = "registry.invalid/acme/app:faults";
  let good: string;

  beforeAll(async () => {
    ws = newWorkspace();
    await fullBuild(ws, app, "1");
    good = (await reader.image(app)).Id;
    expect(await committedDiffIds(ws.launchCache)).not.toEqual([]);
  });

  /** A second build (a changed layer) exported through the proxy with `fault`; returns the exporter's run and what it left. */
  async function failingExport(fault: Parameters<ReturnType<typeof engine>["setFault"]>[0], version: string) {
    await ok("analyzer", ["-daemon", "-layers", ws.layers, "-run", ws.run, "-launch-cache", ws.launchCache, app]);
    await ok("restorer", ["-layers", ws.layers, "-cache-dir", ws.cache, "-daemon"]);
    build(ws, version);
    // what is committed (a failed export may leave files in staging/, which the next one clears)
    const launchCache = await snapshotDir(join(ws.launchCache, "committed"));
    const cache = await snapshotDir(join(ws.cache, "committed"));
    const images = await reader.imageIds();
    engine().reset();
    engine().setFault(fault);
    let r: RunResult;
    try {
      r = await phase("exporter", exportArgs(ws, app), engine().dockerHost);
    } finally {
      engine().setFault(undefined);
    }
    return { r, launchCache, cache, images };
  }

  async function expectNothingChanged(before: { launchCache: unknown; cache: unknown; images: string[] }): Promise<void> {
    expect((await reader.image(app)).Id).toBe(good);
    expect(await reader.imageIds()).toEqual(before.images);
    expect(await snapshotDir(join(ws.launchCache, "committed"))).toEqual(before.launchCache);
    expect(await snapshotDir(join(ws.cache, "committed"))).toEqual(before.cache);
    expect(parse(readFileSync(join(ws.layers, "report.toml"), "utf8"))).toMatchObject({ image: { "image-id": hex(good) } });
  }

  it("a daemon that refuses the load (HTTP 500): exit 62, one ERROR line with the daemon's reason", async () => {
    const before = await failingExport({ kind: "refuse-load", status: 500, message: "no space left on device" }, "2");
    expect(before.r.code, before.r.output).toBe(62);
    expect(errors(before.r)).toEqual([expect.stringMatching(/^ERROR: failed to export: .*loading image 'registry\.invalid\/acme\/app:faults' into the Docker daemon at tcp:\/\/127\.0\.0\.1:\d+: no space left on device$/)]);
    // a refusal with placeholders is retried once with every layer's content
    expect(engine().loads().map((l) => l.request.status)).toEqual([500, 500]);
    await expectNothingChanged(before);
  });

  it("a load cut midway: exit 62, one ERROR line naming the daemon", async () => {
    const before = await failingExport({ kind: "cut-load", afterBytes: 3000 }, "3");
    expect(before.r.code, before.r.output).toBe(62);
    // the connection broke: said as such, not as a failure to read a layer
    expect(errors(before.r)).toEqual([
      expect.stringMatching(/^ERROR: failed to export: loading image 'registry\.invalid\/acme\/app:faults' into the Docker daemon at (tcp:\/\/127\.0\.0\.1:\d+): the connection to the Docker daemon at \1 failed: \S/),
    ]);
    expect(engine().loads()).toHaveLength(1);
    expect(engine().loads()[0]?.request).toMatchObject({ fault: "cut-load", requestBytes: 3000 });
    await expectNothingChanged(before);
  });

  it("the rebaser on a refused load: exit 72, the app's tag still on the old image", async () => {
    engine().setFault({ kind: "refuse-load" });
    try {
      const r = await phase("rebaser", ["-daemon", "-force", "-run-image", RUN, app], engine().dockerHost);
      expect(r.code, r.output).toBe(72);
      expect(errors(r)).toHaveLength(1);
      expect(errors(r)[0]).toMatch(/^ERROR: failed to rebase: .*the proxy refused this load$/);
    } finally {
      engine().setFault(undefined);
    }
    expect((await reader.image(app)).Id).toBe(good);
  });
});

describe("images absent from the daemon", () => {
  it("the analyzer records an absent previous image as not found and an absent run image as empty", async () => {
    const ws = newWorkspace();
    const r = await ok("analyzer", ["-daemon", "-layers", ws.layers, "-run", ws.run, "-run-image", "registry.invalid/acme/run:absent", "registry.invalid/acme/app:absent"]);
    expect(r.stdout).toContain('Image with name "registry.invalid/acme/app:absent" not found');
    const md = parse(readFileSync(join(ws.layers, "analyzed.toml"), "utf8"));
    expect(at(md, "image", "reference") ?? "").toBe("");
    expect(at(md, "run-image", "reference")).toBe("");
  });

  it("the exporter whose run image is gone: exit 1 'failed to create new app image', nothing tagged", async () => {
    const ws = newWorkspace();
    const app = "registry.invalid/acme/app:no-run";
    await ok("analyzer", ["-daemon", "-layers", ws.layers, "-run", ws.run, "-launch-cache", ws.launchCache, app]);
    // the run image's ID as the analyzer recorded it, then removed from the daemon
    const path = join(ws.layers, "analyzed.toml");
    const md = parse(readFileSync(path, "utf8")) as { "run-image": Record<string, unknown> };
    md["run-image"].reference = "f".repeat(64);
    writeFileSync(path, stringify(md));
    build(ws, "1");
    const images = await reader.imageIds();
    const r = await phase("exporter", exportArgs(ws, app), podman().dockerHost);
    expect(r.code, r.output).toBe(1);
    expect(errors(r)).toEqual([`ERROR: failed to create new app image: image '${"f".repeat(64)}' not found in the daemon`]);
    expect(await reader.inspect(app)).toBeUndefined();
    expect(await reader.imageIds()).toEqual(images);
    expect(await committedDiffIds(ws.launchCache)).toEqual([]);
  });

  it("the rebaser: a new run image absent is exit 1 'failed to access run image', an app image absent exit 72", async () => {
    const ws = newWorkspace();
    const app = "registry.invalid/acme/app:rebase-absent";
    await fullBuild(ws, app, "1");
    const noRun = await phase("rebaser", ["-daemon", "-run-image", "registry.invalid/acme/run:absent", app], podman().dockerHost);
    expect(noRun.code, noRun.output).toBe(1);
    expect(errors(noRun)).toHaveLength(1);
    expect(errors(noRun)[0]).toMatch(/^ERROR: failed to access run image/);
    const noApp = await phase("rebaser", ["-daemon", "-run-image", RUN, "registry.invalid/acme/app:never-built"], podman().dockerHost);
    expect(noApp.code, noApp.output).toBe(72);
    expect(errors(noApp)).toEqual(["ERROR: failed to set app image: failed to access image to rebase"]);
  });
});
