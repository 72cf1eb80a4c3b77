import { chmodSync, mkdirSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildRunImage,
  expectNoLeakedProcesses,
  faults,
  pushImage,
  skopeoCopyToLayout,
  skopeoInspectConfig,
  skopeoInspectRaw,
  statTree,
  umociUnpack,
  type BuiltImage,
  type RegistryEndpoint,
} from "../test/harness/index.js";
import { useFaultProxy } from "../test/harness/vitest/use-fault-proxy.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { at, registryAuth } from "./helpers/fixtures.js";
import { runLifecycle, type RunOptions } from "./helpers/lifecycle.js";
import { createWorkspace, exporterArgs, writeBuildOutput, type BuildSpec, type Workspace } from "./helpers/workspace.js";

expectNoLeakedProcesses();
const reg = useRegistry("plain");
const regH = useRegistry("htpasswd");
const proxy = useFaultProxy(reg);
const temp = useTempDir("exporter-acceptance");

const EMPTY_DIFF_ID = "sha256:5f70bf18a086007016e948b04aed3b82103a36bea41755b6cddfaf10ace3c6ef";
let runImage: BuiltImage;
let n = 0;

const SPEC: BuildSpec = {
  group: [
    { id: "acme/node", version: "1.2.3" },
    { id: "acme/npm", version: "2.0.0" },
  ],
  layers: [
    { bp: "acme/node", name: "node", types: { launch: true, cache: true }, metadata: { version: "20.11.0" }, files: { "bin/node": "node binary", "lib/x.js": "x" } },
    { bp: "acme/node", name: "buildtools", types: { build: true, cache: true }, files: { "gcc": "gcc" } },
    { bp: "acme/npm", name: "modules", types: { launch: true }, files: { "node_modules/a/index.js": "a" } },
  ],
  app: { "server.js": "console.log('hi')", "public/index.html": "<html/>", "README.md": "readme" },
  processes: [
    { type: "web", command: ["node", "server.js"], default: true },
    { type: "worker", command: ["node", "worker.js"] },
  ],
  defaultProcess: "web",
  labels: [{ key: "org.acme.team", value: "web" }],
  stores: { "acme/node": "[metadata]\n  counter = 3\n" },
};

function workspace(spec: BuildSpec = SPEC, runEntries = `[[images]]\n  image = "${reg().host}/acme/run:1"\n`): Workspace {
  const root = join(temp(), `ws-${++n}`);
  return createWorkspace(root, spec, runEntries);
}

function lifecycle(bin: "analyzer" | "exporter" | "restorer", args: string[], options: RunOptions = {}) {
  return runLifecycle(bin, ["-no-color", ...args], options);
}

/** Runs the analyzer for the workspace (analyzed.toml), like a platform would. */
async function analyze(ws: Workspace, image: string, options: RunOptions = {}, extra: string[] = []) {
  const r = await lifecycle("analyzer", ["-layers", ws.layers, "-run", ws.run, ...extra, image], options);
  expect(r.code, r.stdout).toBe(0);
}

async function exportImage(ws: Workspace, images: string[], extra: string[] = [], options: RunOptions = {}) {
  return lifecycle("exporter", [...exporterArgs(ws), ...extra, ...images], options);
}

function label(config: { config?: { Labels?: Record<string, string> | null } }, key: string): unknown {
  const raw = config.config?.Labels?.[key];
  return raw === undefined ? undefined : (JSON.parse(raw) as unknown);
}

beforeAll(async () => {
  runImage = await buildRunImage(join(temp(), "run-layout"), {
    user: "1000:1000",
    env: { PATH: "/usr/bin:/bin" },
    baseId: "io.acme.base",
    labels: { "io.buildpacks.rebasable": "true" },
  });
  await Promise.all([pushImage(runImage, reg(), "acme/run:1"), pushImage(runImage, reg(), "acme/run-mirror:1")]);
});

describe("the exported image (F40, F43, F49-F53, F55-F58)", () => {
  let ws: Workspace;
  let config: Awaited<ReturnType<typeof skopeoInspectConfig>>;
  let stdout = "";
  const image = () => `${reg().host}/acme/app:main`;

  beforeAll(async () => {
    ws = workspace({ ...SPEC, slices: [["public/*"], ["nothing-matches*"]], projectMetadata: '[source]\n  type = "git"\n  [source.version]\n    commit = "abc"\n' });
    // the phases drop to uid 1234 like pack's CNB user: the workspace must be reachable for it
    chmodSync(temp(), 0o755);
    chmodSync(ws.root, 0o755);
    await analyze(ws, image(), { platformApi: "0.15" }, ["-uid", "1234", "-gid", "2345"]);
    const r = await exportImage(ws, [image(), `${reg().host}/acme/app:t2`, `${reg().host}/acme/app:t3`], ["-uid", "1234", "-gid", "2345"], {
      platformApi: "0.15",
      env: { SOURCE_DATE_EPOCH: "1700000000", CNB_EXEC_ENV: "test" },
    });
    stdout = r.stdout;
    expect(r.code, r.stdout).toBe(0);
    config = await skopeoInspectConfig(reg(), "acme/app:main");
  });

  it("pushes every name and reports them (F40, F58)", async () => {
    const report = parse(readFileSync(join(ws.layers, "report.toml"), "utf8"));
    expect(at(report, "image", "tags")).toEqual([image(), `${reg().host}/acme/app:t2`, `${reg().host}/acme/app:t3`]);
    const raw = await skopeoInspectRaw(reg(), "acme/app:t3");
    expect(at(report, "image", "manifest-size")).toBe(Buffer.byteLength(raw.raw));
    expect(String(at(report, "image", "digest"))).toMatch(/^sha256:[a-f0-9]{64}$/);
    expect(at(report, "build")).toBeUndefined();
    expect(stdout).toContain(`*** Images (`);
  });

  it("orders layers as the contract says, with history created_by (F43, F55)", () => {
    const createdBy = (config.history ?? []).map((h) => h.created_by ?? "");
    const base = runImage.manifest.layers.length;
    expect(createdBy.slice(base)).toEqual([
      "Layer: 'node', Created by buildpack: acme/node@1.2.3",
      "Layer: 'modules', Created by buildpack: acme/npm@2.0.0",
      "Application Slice: 1",
      "Application Slice: 2",
      "Application Slice: 3",
      "Buildpacks Application Launcher",
      "Buildpacks Launcher Config",
      "Buildpacks Process Types",
    ]);
    expect(config.rootfs.diff_ids.length).toBe(base + 8);
    expect(config.rootfs.diff_ids[base + 3]).toBe(EMPTY_DIFF_ID);
    expect((config.history ?? []).every((h) => h.created === "2023-11-14T22:13:20Z")).toBe(true);
    expect(config.created).toBe("2023-11-14T22:13:20Z");
  });

  it("sets env, entrypoint, working dir and keeps the run image's user (F51, F52)", () => {
    const env = config.config?.Env ?? [];
    expect(env).toContain(`CNB_LAYERS_DIR=${ws.layers}`);
    expect(env).toContain(`CNB_APP_DIR=${ws.app}`);
    expect(env).toContain("CNB_PLATFORM_API=0.15");
    expect(env).toContain("CNB_DEPRECATION_MODE=quiet");
    expect(env).toContain("PATH=/cnb/process:/cnb/lifecycle:/usr/bin:/bin");
    expect(config.config?.Entrypoint).toEqual(["/cnb/process/web"]);
    expect(config.config?.Cmd ?? []).toEqual([]);
    expect(config.config?.WorkingDir).toBe(ws.app);
    expect(config.config?.User).toBe("1000:1000");
  });

  it("carries the lifecycle, build, project, buildpack and exec-env labels (F56, F57)", () => {
    const md = label(config, "io.buildpacks.lifecycle.metadata");
    expect(at(md, "buildpacks", 0, "key")).toBe("acme/node");
    expect(at(md, "buildpacks", 0, "layers", "node", "data")).toEqual({ version: "20.11.0" });
    expect(at(md, "buildpacks", 0, "layers", "node", "launch")).toBe(true);
    expect(at(md, "buildpacks", 0, "layers", "buildtools")).toBeUndefined();
    expect(at(md, "buildpacks", 0, "store", "metadata", "counter")).toBe(3);
    expect(at(md, "buildpacks", 1, "layers", "modules", "sha")).toMatch(/^sha256:/);
    expect(at(md, "app")).toHaveLength(3);
    expect(at(md, "runImage", "image")).toBe(`${reg().host}/acme/run:1`);
    expect(at(md, "runImage", "topLayer")).toBe(runImage.config.rootfs.diff_ids.at(-1));
    expect(at(md, "runImage", "reference")).toMatch(new RegExp(`^${reg().host}/acme/run@sha256:`));
    expect(at(md, "stack", "runImage", "image")).toBe(`${reg().host}/acme/run:1`);
    const build = label(config, "io.buildpacks.build.metadata");
    expect(at(build, "buildpacks", 0)).toEqual({ id: "acme/node", version: "1.2.3" });
    expect(at(build, "processes", 0, "type")).toBe("web");
    expect(at(build, "buildpack-default-process-type")).toBe("web");
    expect(label(config, "io.buildpacks.project.metadata")).toEqual({ source: { type: "git", version: { commit: "abc" } } });
    expect(config.config?.Labels?.["org.acme.team"]).toBe("web");
    expect(config.config?.Labels?.["io.buildpacks.exec-env"]).toBe("test");
    expect(config.config?.Labels?.["io.buildpacks.base.id"]).toBe("io.acme.base");
  });

  it("writes files with absolute paths, fixed mtimes and -uid/-gid owners, unpacked by umoci (F49, F50, F53)", async () => {
    const layout = join(temp(), `layout-${++n}`);
    await skopeoCopyToLayout(reg(), "acme/app:main", layout, "latest");
    const { rootfs } = await umociUnpack(layout, "latest", join(temp(), `bundle-${n}`));
    const tree = await statTree(rootfs);
    const rel = (p: string) => p.slice(1);
    const node = tree.get(rel(`${ws.layers}/acme_node/node/bin/node`));
    expect(node).toMatchObject({ type: "file", uid: 1234, gid: 2345, mtime: Date.UTC(1980, 0, 1, 0, 0, 1) / 1000 });
    expect(readFileSync(join(rootfs, rel(`${ws.layers}/acme_node/node/bin/node`)), "utf8")).toBe("node binary");
    expect(tree.get(rel(`${ws.layers}/acme_node/buildtools/gcc`))).toBeUndefined();
    expect(tree.get("cnb/lifecycle/launcher")).toMatchObject({ type: "file", uid: 0, gid: 0, mode: 0o755 });
    expect(tree.get("cnb/process/web")).toMatchObject({ type: "symlink", link: "/cnb/lifecycle/launcher", uid: 0 });
    expect(tree.get("cnb/process/worker")).toMatchObject({ type: "symlink" });
    expect(readFileSync(join(rootfs, rel(`${ws.app}/public/index.html`)), "utf8")).toBe("<html/>");
    expect(tree.get(rel(`${ws.app}/server.js`))).toMatchObject({ uid: 1234, gid: 2345 });
    expect(tree.get(rel(`${ws.layers}/config/metadata.toml`))).toMatchObject({ type: "file", uid: 1234 });
  });
});

describe("reuse and reproducibility (F44, F45, F48)", () => {
  it("produces identical digests for identical inputs and uploads nothing on re-export", async () => {
    const ws = workspace();
    const host = proxy().host;
    const runToml = `[[images]]\n  image = "${host}/acme/run:1"\n`;
    writeFileSync(ws.run, runToml);
    await analyze(ws, `${host}/acme/repro:1`);
    const first = await exportImage(ws, [`${host}/acme/repro:1`]);
    expect(first.code, first.stdout).toBe(0);
    const digest1 = at(parse(readFileSync(join(ws.layers, "report.toml"), "utf8")), "image", "digest");
    // second export of the same inputs: previous image has the same layers
    await analyze(ws, `${host}/acme/repro:1`);
    proxy().resetCounters();
    const second = await exportImage(ws, [`${host}/acme/repro:1`]);
    expect(second.code, second.stdout).toBe(0);
    expect(second.stdout).toContain("Reusing layer 'acme/node:node'");
    expect(second.stdout).toContain("Reused 1/1 app layer(s)");
    expect(at(parse(readFileSync(join(ws.layers, "report.toml"), "utf8")), "image", "digest")).toBe(digest1);
    expect(proxy().count({ method: "POST", path: /\/blobs\/uploads\// })).toBe(0);
    expect(proxy().count({ method: "PATCH" })).toBe(0);
    // the same content gives the same digest in another repository
    await analyze(ws, `${reg().host}/acme/repro-other:1`);
    const third = await exportImage(ws, [`${reg().host}/acme/repro-other:1`]);
    expect(third.code, third.stdout).toBe(0);
    expect(at(parse(readFileSync(join(ws.layers, "report.toml"), "utf8")), "image", "digest")).toBe(digest1);
  });

  it("reuses a launch toml-only layer from the previous image, and fails without previous metadata", async () => {
    const ws = workspace();
    const image = `${reg().host}/acme/tomlonly:1`;
    await analyze(ws, image);
    expect((await exportImage(ws, [image])).code).toBe(0);
    await analyze(ws, image);
    const spec: BuildSpec = { ...SPEC, layers: [{ bp: "acme/node", name: "node", types: { launch: true }, metadata: { version: "20.11.0" } }] };
    rmSync(join(ws.layers, "acme_node", "node"), { recursive: true });
    writeBuildOutput(ws, spec);
    const r = await exportImage(ws, [image]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain("Reusing layer 'acme/node:node'");
    const ws2 = workspace(spec);
    await analyze(ws2, `${reg().host}/acme/tomlonly-new:1`);
    const fail = await exportImage(ws2, [`${reg().host}/acme/tomlonly-new:1`]);
    expect(fail.code).toBe(62);
    expect(fail.stdout).toContain("cannot reuse 'acme/node:node', previous image has no metadata for layer 'acme/node:node'");
  });
});

describe("input errors (F41, F42, F46, F47, F52, F53, F54)", () => {
  const image = () => `${reg().host}/acme/errors:1`;

  it("rejects -run-image unless it equals CNB_RUN_IMAGE, and needs run-image.reference", async () => {
    const ws = workspace();
    await analyze(ws, image());
    const bad = await exportImage(ws, [image()], ["-run-image", `${reg().host}/acme/run:1`]);
    expect(bad.code).toBe(3);
    expect(bad.stdout).toContain("-run-image is unsupported");
    const kpack = await exportImage(ws, [image()], ["-run-image", `${reg().host}/acme/run:1`], { env: { CNB_RUN_IMAGE: `${reg().host}/acme/run:1` } });
    expect(kpack.code, kpack.stdout).toBe(0);
    const ws2 = workspace();
    const none = await exportImage(ws2, [image()]);
    expect(none.code).toBe(3);
    expect(none.stdout).toContain("run image not found in analyzed metadata");
    expect((await exportImage(ws2, [])).code).toBe(3);
  });

  it("fails with exit 62 for unusable layers and process types", async () => {
    const cases: [BuildSpec, string[], string][] = [
      [{ ...SPEC, layers: [{ bp: "acme/node", name: "ghost", types: { launch: true, cache: true } }] }, [], "layer 'acme/node:ghost' is cache=true but has no contents"],
      [{ ...SPEC, layers: [{ bp: "acme/node", name: "flat", types: { launch: true }, files: { x: "y" }, topLevelFlags: true }] }, [], "failed to parse metadata for layers '[acme/node:flat]'"],
      [SPEC, ["-process-type", "nope"], "tried to set nope to default but it doesn't exist"],
      [{ ...SPEC, processes: [{ type: "bad/type", command: ["x"] }], defaultProcess: undefined }, [], "bad/type"],
    ];
    for (const [spec, extra, message] of cases) {
      const ws = workspace(spec);
      await analyze(ws, image());
      const r = await exportImage(ws, [image()], extra);
      expect(r.code, message).toBe(62);
      expect(r.stdout).toContain(message);
    }
  });

  it("uses -process-type, the launcher without a default, and warns about a bad SOURCE_DATE_EPOCH", async () => {
    const ws = workspace({ ...SPEC, defaultProcess: undefined });
    await analyze(ws, image());
    const r = await exportImage(ws, [image()], [], { env: { SOURCE_DATE_EPOCH: "soon" } });
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain("Warning: Ignoring invalid SOURCE_DATE_EPOCH");
    const config = await skopeoInspectConfig(reg(), "acme/errors:1");
    expect(config.config?.Entrypoint).toEqual(["/cnb/lifecycle/launcher"]);
    expect(config.created).toBe("1980-01-01T00:00:01Z");
    const typed = await exportImage(ws, [image()], ["-process-type", "worker"]);
    expect(typed.code, typed.stdout).toBe(0);
    expect((await skopeoInspectConfig(reg(), "acme/errors:1")).config?.Entrypoint).toEqual(["/cnb/process/worker"]);
  });

  it("writes no created_by on Platform API 0.11", async () => {
    const ws = workspace(SPEC, `[run-image]\n  image = "${reg().host}/acme/run:1"\n`);
    const stack = ws.run;
    const r0 = await lifecycle("analyzer", ["-layers", ws.layers, "-stack", stack, `${reg().host}/acme/old:1`], { platformApi: "0.11" });
    expect(r0.code, r0.stdout).toBe(0);
    const r = await lifecycle("exporter", ["-layers", ws.layers, "-app", ws.app, "-launcher", ws.launcher, "-stack", stack, `${reg().host}/acme/old:1`], { platformApi: "0.11" });
    expect(r.code, r.stdout).toBe(0);
    const config = await skopeoInspectConfig(reg(), "acme/old:1");
    expect((config.history ?? []).every((h) => h.created_by === undefined)).toBe(true);
    const md = label(config, "io.buildpacks.lifecycle.metadata");
    expect(at(md, "runImage", "image")).toBeUndefined();
    expect(at(md, "stack", "runImage", "image")).toBe(`${reg().host}/acme/run:1`);
  });
});

describe("legacy Platform APIs", () => {
  it("reports the build bill of materials from build.toml on Platform API 0.8", async () => {
    const ws = workspace(SPEC, `[run-image]\n  image = "${reg().host}/acme/run:1"\n`);
    writeFileSync(join(ws.layers, "acme_node", "build.toml"), '[[bom]]\n  name = "node"\n  version = "20.11.0"\n  [bom.metadata]\n    arch = "x64"\n');
    const image = `${reg().host}/acme/legacy:1`;
    const a = await lifecycle("analyzer", ["-layers", ws.layers, "-stack", ws.run, image], { platformApi: "0.8" });
    expect(a.code, a.stdout).toBe(0);
    const r = await lifecycle("exporter", ["-layers", ws.layers, "-app", ws.app, "-launcher", ws.launcher, "-stack", ws.run, image], { platformApi: "0.8" });
    expect(r.code, r.stdout).toBe(0);
    const report = parse(readFileSync(join(ws.layers, "report.toml"), "utf8"));
    expect(at(report, "build", "bom", 0, "name")).toBe("node");
    expect(at(report, "build", "bom", 0, "buildpack", "id")).toBe("acme/node");
    const config = await skopeoInspectConfig(reg(), "acme/legacy:1");
    expect(at(label(config, "io.buildpacks.build.metadata"), "processes", 0, "command")).toBe("node");
  });
});

describe("run image mirror and retry (F56, F63, F64)", () => {
  it("labels the run.toml primary and mirrors while using the mirror's digest", async () => {
    const primary = `${regH().host}/acme/run:1`;
    const mirror = `${reg().host}/acme/run-mirror:1`;
    const ws = workspace(SPEC, `[[images]]\n  image = "${primary}"\n  mirrors = ["${mirror}"]\n`);
    const image = `${reg().host}/acme/mirrored:1`;
    await analyze(ws, image);
    const r = await exportImage(ws, [image]);
    expect(r.code, r.stdout).toBe(0);
    const md = label(await skopeoInspectConfig(reg(), "acme/mirrored:1"), "io.buildpacks.lifecycle.metadata");
    expect(at(md, "runImage", "image")).toBe(primary);
    expect(at(md, "runImage", "mirrors")).toEqual([mirror]);
    expect(at(md, "runImage", "reference")).toMatch(new RegExp(`^${reg().host}/acme/run-mirror@sha256:`));
    expect(at(md, "stack", "runImage")).toEqual({ image: primary, mirrors: [mirror] });
  });

  it("retries opening the run image on 503 and on a manifest with no layers, not on 401 or 429", async () => {
    const host = proxy().host;
    const ws = workspace(SPEC, `[[images]]\n  image = "${host}/acme/run:1"\n`);
    const image = `${host}/acme/retry:1`;
    await analyze(ws, image);
    const manifests = /\/v2\/acme\/run\/manifests\/sha256:/;
    proxy().addRule({ method: "GET", path: manifests, times: 2, fault: faults.serverError(503) });
    const r = await exportImage(ws, [image]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout.match(/Failed to open remote image \(attempt \d\/6\)/g)?.length).toBe(2);
    expect(r.stdout).toContain("Successfully opened remote image after 2 retries");
    expect(proxy().count({ method: "GET", path: manifests })).toBe(3);
    for (const fault of [faults.plainTextUnauthorized(), faults.tooManyRequests(1)]) {
      proxy().clearRules();
      proxy().resetCounters();
      proxy().addRule({ method: "GET", path: manifests, fault });
      const denied = await exportImage(ws, [image]);
      expect(denied.code).toBe(1);
      expect(denied.stdout).toContain("failed to create new app image");
      expect(proxy().count({ method: "GET", path: manifests })).toBe(1);
    }
    proxy().clearRules();
    proxy().resetCounters();
    proxy().addRule({ method: "GET", path: manifests, times: 2, fault: faults.emptyLayers() });
    // the exporter opens the run image by digest, so a mirror's truncated manifest shows up as a
    // digest mismatch (verified before anything else is read); by tag it is "image has no layers"
    const mirrorFault = await exportImage(ws, [image]);
    expect(mirrorFault.code, mirrorFault.stdout).toBe(0);
    expect(mirrorFault.stdout).toMatch(/Failed to open remote image \(attempt 1\/6\): .*(image has no layers|has digest sha256:).*, retrying in 100ms/);
    expect(mirrorFault.stdout).toMatch(/Failed to open remote image \(attempt 2\/6\): .*, retrying in 200ms/);
    expect(mirrorFault.stdout).toContain("Successfully opened remote image after 2 retries");
    proxy().clearRules();
    proxy().resetCounters();
    proxy().addRule({ method: "GET", path: manifests, fault: faults.emptyLayers() });
    const persistent = await exportImage(ws, [image]);
    expect(persistent.code).toBe(1);
    expect(persistent.stdout).toMatch(/Failed to open remote image \(attempt 5\/6\): .*, retrying in 2s/);
    expect(proxy().count({ method: "GET", path: manifests })).toBe(6);
  });
});

describe("caches (F59-F62, F65) and layout", () => {
  async function buildWithCache(ws: Workspace, image: string, cacheArgs: string[], options: RunOptions = {}, spec: BuildSpec = SPEC) {
    await analyze(ws, image, options, cacheArgs.filter((a, i) => a === "-cache-image" || cacheArgs[i - 1] === "-cache-image"));
    const restored = await lifecycle("restorer", ["-layers", ws.layers, ...cacheArgs], options);
    expect(restored.code, restored.stdout).toBe(0);
    writeBuildOutput(ws, spec); // the builder rewrites layer metadata (and changed layers)
    return exportImage(ws, [image], cacheArgs, options);
  }

  it("keeps exactly the current cache layers in a volume cache and reuses unchanged ones", async () => {
    const ws = workspace();
    const image = `${reg().host}/acme/vcache:1`;
    const first = await buildWithCache(ws, image, ["-cache-dir", ws.cache]);
    expect(first.code, first.stdout).toBe(0);
    expect(first.stdout).toContain("Adding cache layer 'acme/node:buildtools'");
    const committed = () => readdirSync(join(ws.cache, "committed")).sort();
    expect(committed()).toHaveLength(3);
    const md = JSON.parse(readFileSync(join(ws.cache, "committed", "io.buildpacks.lifecycle.cache.metadata"), "utf8")) as unknown;
    expect(Object.keys(at(md, "buildpacks", 0, "layers") as object).sort()).toEqual(["buildtools", "node"]);
    const changed: BuildSpec = { ...SPEC, layers: [{ ...SPEC.layers[1]!, files: { gcc: "gcc v2" } }, SPEC.layers[0]!] };
    const second = await buildWithCache(ws, image, ["-cache-dir", ws.cache], {}, changed);
    expect(second.code, second.stdout).toBe(0);
    expect(second.stdout).toContain("Reusing cache layer 'acme/node:node'");
    expect(second.stdout).toContain("Adding cache layer 'acme/node:buildtools'");
    expect(committed()).toHaveLength(3);
    expect(readFileSync(join(ws.layers, "acme_node", "buildtools", "gcc"), "utf8")).toBe("gcc v2");
  });

  it("writes an image cache with the metadata label, each layer once, and deletes the old one only below 0.13", async () => {
    const ws = workspace();
    const image = `${reg().host}/acme/icache:1`;
    const cache = `${reg().host}/acme/icache-cache:1`;
    const first = await buildWithCache(ws, image, ["-cache-image", cache, "-cache-dir", ws.cache], { platformApi: "0.12" });
    expect(first.code, first.stdout).toBe(0);
    const firstDigest = (await skopeoInspectRaw(reg(), "acme/icache-cache:1")).raw;
    const config = await skopeoInspectConfig(reg(), "acme/icache-cache:1");
    expect(label(config, "io.buildpacks.lifecycle.cache.metadata")).toBeDefined();
    expect(config.rootfs.diff_ids).toHaveLength(2);
    expect(readdirSync(ws.cache)).toEqual([]);
    const changed: BuildSpec = { ...SPEC, layers: [{ ...SPEC.layers[1]!, files: { gcc: "gcc v3" } }, SPEC.layers[0]!] };
    const second = await buildWithCache(ws, image, ["-cache-image", cache], { platformApi: "0.12" }, changed);
    expect(second.code, second.stdout).toBe(0);
    expect(second.stdout).toContain("Reusing cache layer 'acme/node:node'");
    const ids = (await skopeoInspectConfig(reg(), "acme/icache-cache:1")).rootfs.diff_ids;
    expect(new Set(ids).size).toBe(ids.length);
    const { createHash } = await import("node:crypto");
    const oldDigest = `sha256:${createHash("sha256").update(firstDigest).digest("hex")}`;
    const old = await fetch(`${reg().url}/v2/acme/icache-cache/manifests/${oldDigest}`, { method: "HEAD", headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
    expect(old.status).toBe(404);
    // Platform API 0.13+: the previous cache manifest is left in place (untagged)
    const before = (await skopeoInspectRaw(reg(), "acme/icache-cache:1")).raw;
    const keep: BuildSpec = { ...SPEC, layers: [{ ...SPEC.layers[1]!, files: { gcc: "gcc v4" } }, SPEC.layers[0]!] };
    const third = await buildWithCache(ws, image, ["-cache-image", cache], { platformApi: "0.13" }, keep);
    expect(third.code, third.stdout).toBe(0);
    const beforeDigest = `sha256:${createHash("sha256").update(before).digest("hex")}`;
    const kept = await fetch(`${reg().url}/v2/acme/icache-cache/manifests/${beforeDigest}`, { method: "HEAD", headers: { accept: "application/vnd.oci.image.manifest.v1+json" } });
    expect(kept.status).toBe(200);
  });

  it("pushes an empty cache image with one empty layer", async () => {
    const ws = workspace({ ...SPEC, layers: [SPEC.layers[2]!] });
    const cache = `${reg().host}/acme/empty-cache:1`;
    await analyze(ws, `${reg().host}/acme/ec:1`);
    const r = await exportImage(ws, [`${reg().host}/acme/ec:1`], ["-cache-image", cache]);
    expect(r.code, r.stdout).toBe(0);
    expect((await skopeoInspectConfig(reg(), "acme/empty-cache:1")).rootfs.diff_ids).toEqual([EMPTY_DIFF_ID]);
  });

  it("warns and exits 0 when the cache cannot be written (F59)", async () => {
    const ws = workspace();
    await analyze(ws, `${reg().host}/acme/cachefail:1`);
    const r = await exportImage(ws, [`${reg().host}/acme/cachefail:1`], ["-cache-image", `${regH().host}/acme/cache:1`]);
    expect(r.code, r.stdout).toBe(0);
    expect(r.stdout).toContain("Warning: Failed to export cache:");
  });

  it("gives the same image and cache with -parallel (F65)", async () => {
    // layer contents carry absolute paths, so both images are built from one workspace
    const a = workspace();
    await analyze(a, `${reg().host}/acme/seq:1`);
    const seq = await exportImage(a, [`${reg().host}/acme/seq:1`], ["-cache-dir", a.cache]);
    const par = await exportImage(a, [`${reg().host}/acme/par:1`], ["-cache-dir", a.cache, "-parallel"]);
    expect(seq.code, seq.stdout).toBe(0);
    expect(par.code, par.stdout).toBe(0);
    const d1 = (await skopeoInspectRaw(reg(), "acme/seq:1")).raw;
    const d2 = (await skopeoInspectRaw(reg(), "acme/par:1")).raw;
    expect(d2).toBe(d1);
  });

  it("exports to an OCI layout", async () => {
    const layoutDir = join(temp(), "layout-repo");
    const ws = workspace();
    const runRef = `${reg().host}/acme/run:1`;
    const { layoutPathForReference } = await import("../src/image/layout-path.js");
    mkdirSync(join(temp(), "layout-src"), { recursive: true });
    await skopeoCopyToLayout(reg(), "acme/run:1", join(temp(), "layout-src", "run"), "latest");
    const { cpSync } = await import("node:fs");
    cpSync(join(temp(), "layout-src", "run"), layoutPathForReference(layoutDir, runRef), { recursive: true });
    const env = { CNB_EXPERIMENTAL_MODE: "warn" };
    const app = `${reg().host}/acme/layout-app:1`;
    const a = await lifecycle("analyzer", ["-layout", "-layout-dir", layoutDir, "-layers", ws.layers, "-run-image", runRef, app], { env });
    expect(a.code, a.stdout).toBe(0);
    const r = await exportImage(ws, [app], ["-layout", "-layout-dir", layoutDir], { env });
    expect(r.code, r.stdout).toBe(0);
    const out = layoutPathForReference(layoutDir, app);
    const index = JSON.parse(readFileSync(join(out, "index.json"), "utf8")) as unknown;
    expect(at(index, "manifests", 0, "digest")).toBe(at(parse(readFileSync(join(ws.layers, "report.toml"), "utf8")), "image", "digest"));
    expect(at(index, "manifests", 0, "annotations", "org.opencontainers.image.ref.name")).toBe("1");
  });
});

describe("pack's invocation", () => {
  it("works with -cache-dir and -cache-image together (the image wins) and CNB_REGISTRY_AUTH", async () => {
    const ws = workspace();
    const image = `${regH().host}/acme/pack:1`;
    const auth = { CNB_REGISTRY_AUTH: registryAuth(regH()), CNB_USER_ID: "0", CNB_GROUP_ID: "0" };
    await analyze(ws, image, { env: auth });
    const r = await lifecycle(
      "exporter",
      ["-app", ws.app, "-cache-dir", ws.cache, "-run", ws.run, "-layers", ws.layers, "-launcher", ws.launcher, "-cache-image", `${regH().host}/acme/pack-cache:1`, image],
      { env: auth, platformApi: "0.15" },
    );
    expect(r.code, r.stdout).toBe(0);
    expect(readdirSync(ws.cache)).toEqual([]);
    const endpoint: RegistryEndpoint = regH();
    expect((await skopeoInspectConfig(endpoint, "acme/pack-cache:1", { credentials: regH().credentials })).rootfs.diff_ids.length).toBeGreaterThan(0);
  });
});
