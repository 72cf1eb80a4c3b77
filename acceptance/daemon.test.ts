// Daemon mode (`-daemon`) of the built phases against a real daemon: podman's Docker-compatible
// service on a unix socket only root can open (the phases connect before dropping to the CNB user,
// as pack runs them), and over TCP through a counting proxy that shows what each phase asked of
// the daemon: the bytes and entries of every `POST /images/load` and the image saves
// (`GET /images/…/get`). The run image is named after a registry that is never contacted.
import { execFileSync } from "node:child_process";
import { chmodSync, existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse, stringify } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildRunImage,
  busyboxLayer,
  pushImage,
  copyIntoDaemon,
  expectNoLeakedProcesses,
  layerEntries,
  loadLayerBytes,
  skopeoInspectConfig,
  useEngineProxy,
  userLayer,
  type BuiltImage,
  type LoadRecord,
} from "../test/harness/index.js";
import { useFaultProxy } from "../test/harness/vitest/use-fault-proxy.js";
import { usePodmanService } from "../test/harness/vitest/use-podman.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { committedDiffIds, DAEMON_TEST_LAUNCHER, EngineReader, hex, type Inspected } from "./helpers/daemon.js";
import { writeExtendedLayout } from "./helpers/extended-layout.js";
import { at } from "./helpers/fixtures.js";
import { runLifecycle, type Binary, type RunResult } from "./helpers/lifecycle.js";
import { createWorkspace, writeBuildOutput, type BuildSpec, type Workspace } from "./helpers/workspace.js";

expectNoLeakedProcesses();
const podman = usePodmanService();
const reg = useRegistry("plain");
const regProxy = useFaultProxy(reg);
const engine = useEngineProxy(podman);
const temp = useTempDir("daemon");

/** The CNB user the phases drop to (pack passes the builder's). */
const CNB_USER = { CNB_USER_ID: "1000", CNB_GROUP_ID: "1000" };
let reader: EngineReader;
let runImage: BuiltImage;
let runName: string;
let runInspect: Inspected;
let n = 0;

beforeAll(async () => {
  chmodSync(temp(), 0o755);
  reader = new EngineReader(podman());
  runImage = await buildRunImage(join(temp(), "run"), {
    env: { PATH: "/bin:/usr/bin" },
    layers: [busyboxLayer(["sh", "cat", "env", "id", "ls", "stat", "pwd"]), userLayer(), { createdBy: "test: motd", files: [{ path: "etc/motd", content: "run image 1\n" }] }],
  });
  runName = `${regProxy().host}/acme/run:1`;
  await copyIntoDaemon(podman(), runImage.ociReference, runName);
  runInspect = await reader.image(runName);
});

afterAll(async () => {
  await reader.close();
});

/** The build: `assets` (launch only, not cached) has contents only when given; later builds keep it by its metadata, reused from the previous image. */
function spec(message: string, modules: string, assets?: string): BuildSpec {
  return {
    group: [{ id: "acme/node", version: "1.0.0" }],
    layers: [
      { bp: "acme/node", name: "assets", types: { launch: true }, metadata: { built: "first" }, ...(assets !== undefined ? { files: { "assets.txt": assets } } : {}) },
      { bp: "acme/node", name: "runtime", types: { launch: true, cache: true }, metadata: { version: "20" }, files: { "bin/node": "runtime v20" } },
      { bp: "acme/node", name: "modules", types: { launch: true, cache: true }, metadata: { digest: modules }, files: { "lib/modules.txt": modules } },
      { bp: "acme/node", name: "tools", types: { build: true, cache: true }, files: { "tool.txt": "tool" } },
    ],
    app: { "static/index.html": "<html/>", "message.txt": `${message}\n` },
    slices: [["static/*"]],
    processes: [{ type: "web", command: ["node", "server.js"], default: true }],
    defaultProcess: "web",
  };
}

/** A workspace whose run.toml names the run image, with the launcher stand-in and a launch cache dir. */
function newWorkspace(buildSpec: BuildSpec, run = runName): Workspace & { launchCache: string } {
  const ws = createWorkspace(join(temp(), `ws-${++n}`), buildSpec, `[[images]]\n  image = "${run}"\n  mirrors = []\n`);
  writeFileSync(ws.launcher, DAEMON_TEST_LAUNCHER);
  chmodSync(ws.launcher, 0o755);
  // pack mounts a volume there: the directory exists (a missing one is exit 1, as in Go)
  mkdirSync(join(ws.root, "launch-cache"));
  return { ...ws, launchCache: join(ws.root, "launch-cache") };
}

/** Runs a phase as root with the CNB user and the daemon at `dockerHost` (default: the service's socket). */
async function phase(bin: Binary, args: readonly string[], options: { dockerHost?: string; api?: string; env?: Record<string, string> } = {}): Promise<RunResult> {
  return runLifecycle(bin, ["-no-color", ...args], {
    platformApi: options.api ?? "0.14",
    env: { ...CNB_USER, DOCKER_HOST: options.dockerHost ?? podman().dockerHost, ...options.env },
  });
}

async function ok(bin: Binary, args: readonly string[], options: Parameters<typeof phase>[2] = {}): Promise<RunResult> {
  const r = await phase(bin, args, options);
  expect(r.code, `${bin}:\n${r.output}`).toBe(0);
  return r;
}

/** pack's daemon analyzer (A4): `-daemon -run <run.toml> -run-image <run> -launch-cache <dir> <app>`. */
function analyze(ws: Workspace & { launchCache: string }, app: string, options: Parameters<typeof phase>[2] & { run?: string } = {}): Promise<RunResult> {
  return ok("analyzer", ["-daemon", "-layers", ws.layers, "-run", ws.run, "-run-image", options.run ?? runName, "-launch-cache", ws.launchCache, app], options);
}

/** pack's daemon restorer (R3): `-cache-dir <cache> -daemon`. */
function restore(ws: Workspace, options: Parameters<typeof phase>[2] = {}): Promise<RunResult> {
  return ok("restorer", ["-layers", ws.layers, "-cache-dir", ws.cache, "-daemon"], options);
}

/** pack's daemon exporter (E3): `-daemon -launch-cache <dir> -app <app> -cache-dir <cache> -run <run.toml> <app>`. */
function exportArgs(ws: Workspace & { launchCache: string }, app: string): string[] {
  return ["-daemon", "-launch-cache", ws.launchCache, "-layers", ws.layers, "-app", ws.app, "-launcher", ws.launcher, "-cache-dir", ws.cache, "-run", ws.run, app];
}

/** What the builder would leave: layers, metadata, app files, and a launch SBOM for the runtime layer. */
function build(ws: Workspace, buildSpec: BuildSpec): void {
  for (const layer of buildSpec.layers) {
    if (!layer.files) rmSync(join(ws.layers, layer.bp.replaceAll("/", "_"), layer.name), { recursive: true, force: true });
  }
  writeBuildOutput(ws, buildSpec);
  for (const [rel, content] of Object.entries(buildSpec.app)) writeFileSync(join(ws.app, rel), content);
  const sbom = join(ws.layers, "sbom", "launch", "acme_node", "runtime");
  rmSync(join(ws.layers, "sbom"), { recursive: true, force: true });
  mkdirSync(sbom, { recursive: true });
  writeFileSync(join(sbom, "sbom.cdx.json"), `{"bomFormat":"CycloneDX","components":[{"name":"node","version":"20"}]}`);
  // the builder runs as the CNB user
  execFileSync("chown", ["-R", `${CNB_USER.CNB_USER_ID}:${CNB_USER.CNB_GROUP_ID}`, ws.layers, ws.app]);
}

function analyzed(ws: Workspace): Record<string, unknown> {
  return parse(readFileSync(join(ws.layers, "analyzed.toml"), "utf8"));
}

function report(ws: Workspace): Record<string, unknown> {
  return parse(readFileSync(join(ws.layers, "report.toml"), "utf8"));
}

function lifecycleLabel(image: Inspected): Record<string, unknown> {
  return JSON.parse(image.Config.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}") as Record<string, unknown>;
}

/** The one load the proxy saw. */
function onlyLoad(): LoadRecord {
  const loads = engine().loads();
  expect(loads).toHaveLength(1);
  const load = loads[0];
  if (!load) throw new Error("no load");
  return load;
}

/** The diffIDs of the layer entries that carried content (`<hex>.tar`), sorted. */
function sentDiffIds(load: LoadRecord): string[] {
  return layerEntries(load)
    .filter((e) => e.size > 0)
    .map((e) => `sha256:${e.name.replace(/\.tar$/, "")}`)
    .sort();
}

describe("a build in the daemon: analyzer -daemon -launch-cache, restorer -daemon, exporter -daemon -launch-cache -cache-dir", () => {
  let ws: Workspace & { launchCache: string };
  let app: string;
  let first: Inspected;

  it("records the run image's ID and target, loads an app image whose labels, report and config say so, and which podman runs", async () => {
    ws = newWorkspace(spec("hello from the daemon", "modules v1", "assets v1"));
    app = `${regProxy().host}/acme/app:latest`;
    regProxy().resetCounters();

    const analyzer = await analyze(ws, app);
    expect(analyzer.stdout).toContain(`Image with name "${app}" not found`);
    const md = analyzed(ws);
    expect(at(md, "image", "reference") ?? "").toBe("");
    expect(at(md, "run-image", "reference")).toBe(hex(runInspect.Id));
    expect(at(md, "run-image", "image")).toBe(runName);
    expect(at(md, "run-image", "target")).toMatchObject({ os: "linux", arch: "amd64" });

    await restore(ws);
    build(ws, spec("hello from the daemon", "modules v1", "assets v1"));
    const exporter = await ok("exporter", exportArgs(ws, app));
    expect(exporter.stdout).toContain("Adding layer 'acme/node:runtime'");
    expect(exporter.stdout).toContain("Adding layer 'buildpacksio/lifecycle:launch.sbom'");
    expect(exporter.stdout).toContain("Adding cache layer 'acme/node:tools'");
    const images = /\*\*\* Images \(([0-9a-f]{12})\):\n\s+(\S+)\n/.exec(exporter.stdout);
    expect(images?.[2]).toBe(app);

    // the registry the names point at was never contacted
    expect(regProxy().requests()).toEqual([]);

    first = await reader.image(app);
    expect(images?.[1]).toBe(hex(first.Id).slice(0, 12));
    const rep = report(ws);
    expect(at(rep, "image", "image-id")).toBe(hex(first.Id));
    expect(at(rep, "image", "tags")).toEqual([app]);
    expect(at(rep, "image", "digest")).toBeUndefined();
    expect(Number(at(rep, "image", "manifest-size"))).toBeGreaterThan(0);

    // the image through the API: the run image's layers at the bottom, the config and labels of a CNB app
    const runLayers = runInspect.RootFS.Layers ?? [];
    expect((first.RootFS.Layers ?? []).slice(0, runLayers.length)).toEqual(runLayers);
    expect(first.Config.Entrypoint).toEqual(["/cnb/process/web"]);
    expect(first.Config.Cmd ?? []).toEqual([]);
    expect(first.Config.WorkingDir).toBe(ws.app);
    expect(first.Config.User).toBe("1000:1000");
    expect(first.Config.Env).toEqual(expect.arrayContaining(["CNB_PLATFORM_API=0.14", `CNB_LAYERS_DIR=${ws.layers}`, `CNB_APP_DIR=${ws.app}`, "PATH=/cnb/process:/cnb/lifecycle:/bin:/usr/bin"]));
    const label = lifecycleLabel(first);
    expect(at(label, "runImage", "reference")).toBe(hex(runInspect.Id));
    expect(at(label, "runImage", "topLayer")).toBe(runLayers.at(-1));
    expect(at(label, "runImage", "image")).toBe(runName);
    expect(at(label, "buildpacks", 0, "key")).toBe("acme/node");
    expect(first.Config.Labels?.["io.buildpacks.base.id"]).toBe("io.buildpacks.harness.run");
    expect(JSON.parse(first.Config.Labels?.["io.buildpacks.build.metadata"] ?? "{}")).toMatchObject({ processes: [{ type: "web" }] });

    // every layer above the run image went into the launch cache, committed
    expect(await committedDiffIds(ws.launchCache)).toEqual([...new Set((first.RootFS.Layers ?? []).slice(runLayers.length))].sort());

    // podman runs it from the same storage: the launcher as the default process, in the app dir, as the CNB user
    const run = await podman().podman(["run", "--rm", app, "--flag"]);
    expect(run.stdout).toContain("entrypoint=/cnb/process/web");
    expect(run.stdout).toContain(`cwd=${ws.app}`);
    expect(run.stdout).toContain("user=1000:1000");
    expect(run.stdout).toContain("platform-api=0.14");
    expect(run.stdout).toContain("args=--flag");
    expect(run.stdout).toContain("hello from the daemon");
    // files and owners: buildpack layers and app as the CNB user, the launcher as root, the run image's files
    const stat = await podman().podman([
      "run", "--rm", "--entrypoint", "/bin/stat", app, "-c", "%u:%g %a %n",
      join(ws.layers, "acme_node", "runtime", "bin", "node"),
      join(ws.app, "message.txt"),
      join(ws.app, "static", "index.html"),
      "/cnb/lifecycle/launcher",
      "/etc/motd",
    ]);
    expect(stat.stdout.trim().split("\n")).toEqual([
      `1000:1000 644 ${join(ws.layers, "acme_node", "runtime", "bin", "node")}`,
      `1000:1000 644 ${join(ws.app, "message.txt")}`,
      `1000:1000 644 ${join(ws.app, "static", "index.html")}`,
      "0:0 755 /cnb/lifecycle/launcher",
      "0:0 644 /etc/motd",
    ]);
    const cat = await podman().podman(["run", "--rm", "--entrypoint", "/bin/cat", app, join(ws.layers, "acme_node", "runtime", "bin", "node"), "/etc/motd"]);
    expect(cat.stdout).toBe("runtime v20run image 1\n");
  });

  it("rebuilds through the counting proxy: the analyzer restores the SBOM from the launch cache, the load carries only the changed layers, no image save is asked for", async () => {
    engine().reset();
    const through = { dockerHost: engine().dockerHost };
    const analyzer = await analyze(ws, app, through);
    expect(analyzer.stdout).toContain("Restoring data for SBOM from previous image");
    expect(readFileSync(join(ws.layers, "sbom", "launch", "acme_node", "runtime", "sbom.cdx.json"), "utf8")).toContain("CycloneDX");
    expect(at(analyzed(ws), "image", "reference")).toBe(hex(first.Id));
    expect(at(analyzed(ws), "run-image", "reference")).toBe(hex(runInspect.Id));
    const restorer = await restore(ws, through);
    expect(restorer.stdout).toContain('Restoring data for "acme/node:runtime" from cache');

    build(ws, spec("second build", "modules v2"));
    const exporter = await ok("exporter", exportArgs(ws, app), through);
    expect(exporter.stdout).toContain("Reusing layer 'acme/node:assets'");
    expect(exporter.stdout).toContain("Reusing layer 'acme/node:runtime'");
    expect(exporter.stdout).toContain("Adding layer 'acme/node:modules'");
    expect(exporter.stdout).toContain("Reused 1/2 app layer(s)");
    expect(exporter.stdout).toContain("Added 1/2 app layer(s)");
    expect(exporter.stdout).toContain("Reusing layer 'buildpacksio/lifecycle:launcher'");

    const second = await reader.image(app);
    expect(second.Id).not.toBe(first.Id);
    const before = new Set(first.RootFS.Layers ?? []);
    const changed = [...new Set((second.RootFS.Layers ?? []).filter((d) => !before.has(d)))].sort();
    expect(changed.length).toBeGreaterThanOrEqual(2);
    const load = onlyLoad();
    // exactly the layers the daemon did not have were sent; every other layer was a placeholder
    expect(sentDiffIds(load)).toEqual(changed);
    const held = (second.RootFS.Layers ?? []).filter((d) => before.has(d));
    expect(layerEntries(load).filter((e) => e.size === 0)).toHaveLength(held.length);
    expect(held.length).toBeGreaterThan((runInspect.RootFS.Layers ?? []).length);
    expect(loadLayerBytes(load)).toBeLessThan(64 * 1024);
    expect(engine().imageSaves()).toBe(0);
    const run = await podman().podman(["run", "--rm", app]);
    expect(run.stdout).toContain("second build");
  });

  it("re-exports an unchanged build with no layer bytes sent", async () => {
    const through = { dockerHost: engine().dockerHost };
    await analyze(ws, app, through);
    await restore(ws, through);
    build(ws, spec("second build", "modules v2"));
    const previous = await reader.image(app);
    engine().reset();
    const exporter = await ok("exporter", exportArgs(ws, app), through);
    expect(exporter.stdout).not.toMatch(/Adding layer|Added \d+\/\d+ app layer/);
    const load = onlyLoad();
    expect(loadLayerBytes(load)).toBe(0);
    expect(layerEntries(load).every((e) => e.size === 0)).toBe(true);
    expect(engine().imageSaves()).toBe(0);
    // the same config (created time fixed at 1980): the same image ID
    expect((await reader.image(app)).Id).toBe(previous.Id);
    expect(layerEntries(load)).toHaveLength((previous.RootFS.Layers ?? []).length);
  });

  it("reads the SBOM layer with a partial image save when the launch cache does not have it", async () => {
    const empty = { ...ws, launchCache: join(ws.root, "empty-launch-cache") };
    mkdirSync(empty.launchCache);
    rmSync(join(ws.layers, "sbom"), { recursive: true, force: true });
    engine().reset();
    const analyzer = await analyze(empty, app, { dockerHost: engine().dockerHost });
    expect(analyzer.stdout).toContain("Restoring data for SBOM from previous image");
    expect(readFileSync(join(ws.layers, "sbom", "launch", "acme_node", "runtime", "sbom.cdx.json"), "utf8")).toContain("CycloneDX");
    expect(engine().imageSaves()).toBe(1);
    expect(engine().loads()).toEqual([]);
  });

  it("falls back to the launch cache when the daemon lost the previous image between restorer and exporter", async () => {
    const through = { dockerHost: engine().dockerHost };
    await analyze(ws, app, through);
    await restore(ws, through);
    const previous = await reader.image(app);
    await reader.remove(previous.Id);
    expect(await reader.inspect(app)).toBeUndefined();
    build(ws, spec("after the daemon lost it", "modules v2"));
    engine().reset();
    const exporter = await ok("exporter", exportArgs(ws, app), through);
    // the assets layer has no contents here: it can only come from the launch cache
    expect(exporter.stdout).toContain("Reusing layer 'acme/node:assets'");
    expect(exporter.stdout).toContain("Reusing layer 'acme/node:runtime'");
    const rebuilt = await reader.image(app);
    const runLayers = new Set(runInspect.RootFS.Layers ?? []);
    const above = [...new Set((rebuilt.RootFS.Layers ?? []).filter((d) => !runLayers.has(d)))].sort();
    // the run image's layers stayed placeholders; everything above it had to be sent, from the launch cache
    const sent = engine()
      .loads()
      .map((l) => sentDiffIds(l));
    expect(sent.at(-1)).toEqual(above);
    expect(engine().imageSaves()).toBe(0);
    const run = await podman().podman(["run", "--rm", "--entrypoint", "/bin/cat", app, join(ws.layers, "acme_node", "assets", "assets.txt"), join(ws.layers, "acme_node", "runtime", "bin", "node"), join(ws.app, "message.txt")]);
    expect(run.stdout).toBe("assets v1runtime v20after the daemon lost it\n");
  });
});

describe("the cache image lives in a registry with -daemon", () => {
  it("is written by the exporter and read by the next restorer; the app image stays in the daemon", async () => {
    const ws = newWorkspace(spec("cache image", "m1", "a"));
    const app = `${regProxy().host}/acme/app-cached:latest`;
    const cacheImage = `${reg().host}/acme/app-cache:latest`;
    const withCache = (args: string[]) => [...args.slice(0, -1), "-cache-image", cacheImage, ...args.slice(-1)];
    regProxy().resetCounters();
    await ok("analyzer", withCache(["-daemon", "-layers", ws.layers, "-run", ws.run, "-launch-cache", ws.launchCache, app]));
    await ok("restorer", ["-daemon", "-layers", ws.layers, "-cache-image", cacheImage]);
    build(ws, spec("cache image", "m1", "a"));
    const exporter = await ok("exporter", withCache(exportArgs(ws, app)));
    expect(exporter.stdout).toContain("Adding cache layer 'acme/node:tools'");
    const cacheConfig = await skopeoInspectConfig(reg(), "acme/app-cache:latest");
    expect(cacheConfig.config?.Labels?.["io.buildpacks.lifecycle.cache.metadata"]).toContain("acme/node");
    expect(await reader.inspect(app)).toBeDefined();
    expect(regProxy().requests()).toEqual([]);

    await ok("analyzer", withCache(["-daemon", "-layers", ws.layers, "-run", ws.run, "-launch-cache", ws.launchCache, app]));
    const restorer = await ok("restorer", ["-daemon", "-layers", ws.layers, "-cache-image", cacheImage]);
    expect(restorer.stdout).toContain('Restoring data for "acme/node:tools" from cache');
    expect(readFileSync(join(ws.layers, "acme_node", "tools", "tool.txt"), "utf8")).toBe("tool");
  });
});

describe("extension layers in daemon mode", () => {
  it("adds the extended run image's layer above the run image, starts from the extended config and keeps the original top layer", async () => {
    // pack pulls the run image into the daemon (podman records its digest); the restorer reads it from the registry for the extender
    const pulled = `${reg().host}/acme/run:ext`;
    await pushImage(runImage, reg(), "acme/run:ext");
    await podman().podman(["pull", "--tls-verify=false", "-q", pulled]);
    const ws = newWorkspace(spec("extended", "m1", "a"));
    // pack mounts the kaniko volume at /kaniko when extensions are used
    mkdirSync(join(ws.root, "kaniko"));
    writeFileSync(join(ws.run), `[[images]]\n  image = "${pulled}"\n  mirrors = []\n`);
    writeFileSync(join(ws.layers, "group.toml"), `${readFileSync(join(ws.layers, "group.toml"), "utf8")}\n[[group-extensions]]\n  id = "acme/curl-ext"\n  version = "0.1.0"\n  api = "0.10"\n`);
    const app = `${reg().host}/acme/app-ext:latest`;
    await ok("analyzer", ["-daemon", "-layers", ws.layers, "-run", ws.run, "-launch-cache", ws.launchCache, app]);
    const path = join(ws.layers, "analyzed.toml");
    const md = parse(readFileSync(path, "utf8")) as { "run-image": Record<string, unknown> };
    md["run-image"].extend = true;
    writeFileSync(path, stringify(md));
    await ok("restorer", ["-daemon", "-layers", ws.layers, "-cache-dir", ws.cache], { env: { CNB_KANIKO_DIR: join(ws.root, "kaniko") } });
    expect(String(at(analyzed(ws), "run-image", "reference"))).toMatch(new RegExp(`^${pulled.replace(/:ext$/, "")}@sha256:[0-9a-f]{64}$`.replaceAll(".", "\\.")));
    const layout = await writeExtendedLayout(runImage, join(ws.layers, "extended"), ws.root, {
      id: "acme/curl-ext",
      files: { "from-ext.txt": "added by the extension\n" },
      env: { EXT_RUN: "1" },
    });
    build(ws, spec("extended", "m1", "a"));
    const exporter = await ok("exporter", exportArgs(ws, app));
    const runLayers = runInspect.RootFS.Layers ?? [];
    expect(exporter.stdout).toContain(`Adding layer 'acme/curl-ext:extended-layer-${runLayers.length}'`);
    const image = await reader.image(app);
    expect((image.RootFS.Layers ?? []).slice(0, runLayers.length)).toEqual(runLayers);
    expect(image.Config.Env).toContain("EXT_RUN=1");
    expect(at(lifecycleLabel(image), "runImage", "topLayer")).toBe(runLayers.at(-1));
    expect(layout.createdBy).toContain("acme/curl-ext");
    const run = await podman().podman(["run", "--rm", "--entrypoint", "/bin/cat", app, "/from-ext.txt"]);
    expect(run.stdout).toBe("added by the extension\n");
  });
});

describe("rebaser -daemon", () => {
  it("swaps the run image's layers with no layer bytes sent: the load holds only placeholders, config and manifest", async () => {
    // the run image's tag gets a patched image, as a platform publishes one
    const runTag = `${regProxy().host}/acme/run:rebase`;
    await copyIntoDaemon(podman(), runImage.ociReference, runTag);
    const ws = newWorkspace(spec("to be rebased", "m1", "a"), runTag);
    const app = `${regProxy().host}/acme/app-rebase:latest`;
    await analyze(ws, app, { run: runTag });
    await restore(ws);
    build(ws, spec("to be rebased", "m1", "a"));
    await ok("exporter", exportArgs(ws, app));
    const before = await reader.image(app);

    const run2 = await buildRunImage(join(temp(), "run2"), {
      env: { PATH: "/bin:/usr/bin" },
      layers: [busyboxLayer(["sh", "cat", "env", "id", "ls", "stat", "pwd"]), userLayer(), { createdBy: "test: motd", files: [{ path: "etc/motd", content: "run image 2\n" }] }],
    });
    await copyIntoDaemon(podman(), run2.ociReference, runTag);
    const run2Inspect = await reader.image(runTag);
    engine().reset();
    regProxy().resetCounters();
    const r = await ok("rebaser", ["-daemon", "-report", join(ws.layers, "rebase-report.toml"), app], { dockerHost: engine().dockerHost });
    expect(r.stdout).toMatch(/\*\*\* Images \([0-9a-f]{12}\):/);
    const after = await reader.image(app);
    const oldRun = runInspect.RootFS.Layers ?? [];
    const newRun = run2Inspect.RootFS.Layers ?? [];
    expect((after.RootFS.Layers ?? []).slice(0, newRun.length)).toEqual(newRun);
    expect((after.RootFS.Layers ?? []).slice(newRun.length)).toEqual((before.RootFS.Layers ?? []).slice(oldRun.length));
    expect(at(lifecycleLabel(after), "runImage", "reference")).toBe(hex(run2Inspect.Id));
    const rep = parse(readFileSync(join(ws.layers, "rebase-report.toml"), "utf8"));
    expect(at(rep, "image", "image-id")).toBe(hex(after.Id));

    const load = onlyLoad();
    expect(loadLayerBytes(load)).toBe(0);
    expect(layerEntries(load)).toHaveLength((after.RootFS.Layers ?? []).length);
    expect(load.entries.filter((e) => e.size > 0).map((e) => e.name)).toEqual([expect.stringMatching(/^[0-9a-f]{64}\.json$/), "manifest.json"]);
    expect(engine().imageSaves()).toBe(0);
    expect(regProxy().requests()).toEqual([]);
    const run = await podman().podman(["run", "--rm", "--entrypoint", "/bin/cat", app, "/etc/motd", join(ws.app, "message.txt")]);
    expect(run.stdout).toBe("run image 2\nto be rebased\n");
    expect(existsSync(join(ws.layers, "rebase-report.toml"))).toBe(true);
  });
});
