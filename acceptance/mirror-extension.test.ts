// The scenario this project exists for (buildpacks/lifecycle issue 1590): the run.toml primary is
// unreadable (401) or unreachable (black-holed), a mirror on the output registry is used instead,
// and an extension extends the run image. analyzer → restorer -run → (extender, simulated with umoci)
// → exporter → rebaser, with the proxies' request counts proving which registries were contacted.
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import { mkdir, rm, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parse, stringify } from "smol-toml";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  buildRunImage,
  expectNoLeakedProcesses,
  pushImage,
  skopeoCopyToLayout,
  skopeoInspectConfig,
  skopeoInspectRaw,
  umociUnpack,
  type BuiltImage,
} from "../test/harness/index.js";
import { useFaultProxy } from "../test/harness/vitest/use-fault-proxy.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { startBlackHole, type BlackHole } from "./helpers/black-hole.js";
import { writeExtendedLayout } from "./helpers/extended-layout.js";
import { at } from "./helpers/fixtures.js";
import { runLifecycle, type RunOptions } from "./helpers/lifecycle.js";
import { createWorkspace, exporterArgs, type BuildSpec, type Workspace } from "./helpers/workspace.js";

expectNoLeakedProcesses();
const out = useRegistry("plain"); // the output registry, which also holds the mirror
const outProxy = useFaultProxy(out);
const locked = useRegistry("htpasswd"); // a primary the build has no credentials for (401)
const lockedProxy = useFaultProxy(locked);
const third = useRegistry("plain"); // another registry, for a mirror that is not on the output registry
const thirdProxy = useFaultProxy(third);
const temp = useTempDir("mirror-extension");

let runImage: BuiltImage;
let run2: BuiltImage;
let hole: BlackHole;
let n = 0;

const EXT_ID = "acme/curl-ext";
const SPEC: BuildSpec = {
  group: [{ id: "acme/node", version: "1.0.0" }],
  layers: [{ bp: "acme/node", name: "runtime", types: { launch: true, cache: true }, files: { "bin/node": "runtime" } }],
  app: { "index.js": "console.log(1)" },
  processes: [{ type: "web", command: ["node", "index.js"], default: true }],
  defaultProcess: "web",
};

beforeAll(async () => {
  hole = await startBlackHole();
  runImage = await buildRunImage(join(temp(), "run"), { env: { PATH: "/bin" }, baseId: "io.acme.jammy" });
  run2 = await buildRunImage(join(temp(), "run2"), { env: { PATH: "/bin" }, baseId: "io.acme.jammy", labels: { "org.acme.patch": "2" } });
  await Promise.all([pushImage(runImage, out(), "acme/run:mirror"), pushImage(runImage, locked(), "acme/run:1"), pushImage(runImage, third(), "acme/run:mirror")]);
});

afterAll(async () => {
  await hole.close();
});

async function phase(bin: "analyzer" | "restorer" | "exporter" | "rebaser", args: string[], options: RunOptions = {}) {
  const started = Date.now();
  const r = await runLifecycle(bin, ["-no-color", ...args], { platformApi: "0.14", ...options });
  return { ...r, ms: Date.now() - started };
}

function newWorkspace(runEntry: { image: string; mirrors: string[] }): Workspace {
  const ws = createWorkspace(join(temp(), `ws-${++n}`), SPEC, `[[images]]\n  image = ${JSON.stringify(runEntry.image)}\n  mirrors = [${runEntry.mirrors.map((m) => JSON.stringify(m)).join(", ")}]\n`);
  writeFileSync(join(ws.layers, "group.toml"), `${readFileSync(join(ws.layers, "group.toml"), "utf8")}\n[[group-extensions]]\n  id = "${EXT_ID}"\n  version = "0.1.0"\n  api = "0.10"\n`);
  return ws;
}

async function manifestOf(repoTag: string) {
  const raw = await skopeoInspectRaw(out(), repoTag);
  if (!raw.manifest) throw new Error(`${repoTag} is not an image manifest`);
  return raw.manifest;
}

/** What the detector leaves after generation: `run-image.extend = true`. */
function markExtend(ws: Workspace): void {
  const path = join(ws.layers, "analyzed.toml");
  const analyzed = parse(readFileSync(path, "utf8")) as { "run-image": Record<string, unknown> };
  analyzed["run-image"].extend = true;
  writeFileSync(path, stringify(analyzed));
}

function analyzedRunImage(ws: Workspace): Record<string, unknown> {
  return (parse(readFileSync(join(ws.layers, "analyzed.toml"), "utf8")) as { "run-image": Record<string, unknown> })["run-image"];
}

/** analyzer → restorer -run → extender (umoci) → exporter, for an app on the output registry. */
async function buildWithExtension(ws: Workspace, app: string, ext: { labels?: Record<string, string> } = {}) {
  const env = { CNB_KANIKO_DIR: join(ws.root, "kaniko") };
  const analyzed = await phase("analyzer", ["-layers", ws.layers, "-run", ws.run, "-log-level", "debug", app]);
  expect(analyzed.code, analyzed.stdout).toBe(0);
  markExtend(ws);
  const restored = await phase("restorer", ["-layers", ws.layers, "-run", ws.run, "-cache-dir", ws.cache], { env });
  expect(restored.code, restored.stdout).toBe(0);
  const layout = await writeExtendedLayout(runImage, join(ws.layers, "extended"), ws.root, {
    id: EXT_ID,
    files: { "from-ext.txt": "added by the extension\n" },
    env: { EXT_RUN: "1" },
    labels: ext.labels,
  });
  const exported = await phase("exporter", [...exporterArgs(ws), "-cache-dir", ws.cache, "-log-level", "debug", app]);
  return { analyzed, restored, exported, layout };
}

describe("a mirror on the output registry with an extended run image", () => {
  it("builds from the mirror when the primary is black-holed, never contacting it, and the analyzer does not wait", async () => {
    const mirror = `${outProxy().host}/acme/run:mirror`;
    const ws = newWorkspace({ image: `${hole.host}/acme/run:1`, mirrors: [mirror] });
    const app = `${outProxy().host}/acme/app-hole:latest`;
    const before = hole.connections();
    const { analyzed, restored, exported, layout } = await buildWithExtension(ws, app);
    expect(analyzed.ms).toBeLessThan(2000);
    expect(analyzed.stdout).toMatch(/skipped, a higher-priority candidate is readable/);
    expect(restored.stdout).not.toContain("not accessible");
    expect(exported.code, exported.stdout).toBe(0);
    expect(hole.connections()).toBe(before);
    expect(analyzedRunImage(ws).image).toBe(mirror);
    expect(existsSync(join(ws.root, "kaniko", "cache", "base", runImage.descriptor.digest, "index.json"))).toBe(true);

    // the image: run image layers, the extension's layer, then the buildpack's, with the extended config
    expect(exported.stdout).toContain(`Adding layer '${EXT_ID}:extended-layer-${runImage.manifest.layers.length}'`);
    const raw = await manifestOf("acme/app-hole:latest");
    const runLayers = runImage.manifest.layers.map((l) => l.digest);
    expect(raw.layers.slice(0, runLayers.length).map((l) => l.digest)).toEqual(runLayers);
    const config = await skopeoInspectConfig(out(), "acme/app-hole:latest");
    expect(config.config?.Env).toContain("EXT_RUN=1");
    expect(config.config?.Env).toContain("PATH=/cnb/process:/cnb/lifecycle:/bin");
    const history = (config.history ?? []).filter((h) => !h.empty_layer);
    expect(history[runLayers.length]?.created_by).toBe(layout.createdBy);
    expect(history[runLayers.length + 1]?.created_by).toBe("Layer: 'runtime', Created by buildpack: acme/node@1.0.0");
    const label = JSON.parse(config.config?.Labels?.["io.buildpacks.lifecycle.metadata"] ?? "{}") as Record<string, unknown>;
    expect(at(label, "runImage", "topLayer")).toBe(runImage.config.rootfs.diff_ids.at(-1));
    expect(at(label, "runImage", "reference")).toBe(`${outProxy().host}/acme/run@${runImage.descriptor.digest}`);
    expect(at(label, "runImage", "image")).toBe(`${hole.host}/acme/run:1`);
    expect(at(label, "runImage", "mirrors")).toEqual([mirror]);

    // independent check of the files: umoci unpacks the app image
    const local = join(ws.root, "app-layout");
    await skopeoCopyToLayout(out(), "acme/app-hole:latest", local, "app");
    const unpacked = await umociUnpack(local, "app", join(ws.root, "bundle"));
    expect(readFileSync(join(unpacked.rootfs, "from-ext.txt"), "utf8")).toBe("added by the extension\n");
    expect(existsSync(join(unpacked.rootfs, ws.layers.slice(1), "acme_node", "runtime", "bin", "node"))).toBe(true);

    // rebase with the label's mirror: the new base replaces the run layers, the extension layer stays above it
    await pushImage(run2, out(), "acme/run:mirror");
    const rebased = await phase("rebaser", ["-log-level", "debug", app]);
    expect(rebased.code, rebased.stdout).toBe(0);
    expect(hole.connections()).toBe(before);
    const after = await manifestOf("acme/app-hole:latest");
    const newRun = run2.manifest.layers.map((l) => l.digest);
    expect(after.layers.slice(0, newRun.length).map((l) => l.digest)).toEqual(newRun);
    expect(after.layers[newRun.length]?.digest).toBe(raw.layers[runLayers.length]?.digest);
    expect(after.layers.length).toBe(raw.layers.length - runLayers.length + newRun.length);
    await pushImage(runImage, out(), "acme/run:mirror");
  });

  it("probes a 401 primary once when no mirror is on the output registry, then builds from the readable mirror", async () => {
    const mirror = `${thirdProxy().host}/acme/run:mirror`;
    const primary = `${lockedProxy().host}/acme/run:1`;
    const ws = newWorkspace({ image: primary, mirrors: [mirror] });
    lockedProxy().resetCounters();
    thirdProxy().resetCounters();
    const app = `${outProxy().host}/acme/app-401:latest`;
    const { analyzed, exported } = await buildWithExtension(ws, app);
    expect(analyzedRunImage(ws).image).toBe(mirror);
    expect(analyzed.stdout).toMatch(/acme\/run:1 \(registry [^)]+\): not readable \(\d+ ms\)/);
    // the primary got its one probe (no retries of a 401), nothing after the choice
    expect(lockedProxy().count({ method: "HEAD", path: "/v2/acme/run/manifests/1" })).toBe(1);
    expect(lockedProxy().count({ method: "GET", path: /\/manifests\// })).toBe(0);
    expect(exported.code, exported.stdout).toBe(0);
    expect(thirdProxy().count({ method: "GET", path: /\/manifests\// })).toBeGreaterThan(0);
    const config = await skopeoInspectConfig(out(), "acme/app-401:latest");
    expect(config.config?.Env).toContain("EXT_RUN=1");
  });

  it("refuses to rebase an app whose extensions did not declare it rebasable, unless forced, and keeps the extension layer", async () => {
    const mirror = `${outProxy().host}/acme/run:mirror`;
    const ws = newWorkspace({ image: `${hole.host}/acme/run:1`, mirrors: [mirror] });
    const app = `${outProxy().host}/acme/app-unrebasable:latest`;
    const { exported } = await buildWithExtension(ws, app, { labels: { "io.buildpacks.rebasable": "false" } });
    expect(exported.code, exported.stdout).toBe(0);
    const config = await skopeoInspectConfig(out(), "acme/app-unrebasable:latest");
    expect(config.config?.Labels?.["io.buildpacks.rebasable"]).toBe("false");
    const refused = await phase("rebaser", [app]);
    expect(refused.code).toBe(72);
    expect(refused.stdout).toContain("app image is not marked as rebasable; please provide -force to override");
    const forced = await phase("rebaser", ["-force", app]);
    expect(forced.code, forced.stdout).toBe(0);
    expect(forced.stdout).toContain("Warning: app image is not marked as rebasable");
    const local = join(ws.root, "forced-layout");
    await skopeoCopyToLayout(out(), "acme/app-unrebasable:latest", local, "app");
    const unpacked = await umociUnpack(local, "app", join(ws.root, "forced-bundle"));
    expect(readFileSync(join(unpacked.rootfs, "from-ext.txt"), "utf8")).toBe("added by the extension\n");
  });
});

describe("a bad extended layout fails the export with exit 62 and pushes nothing", () => {
  async function prepared(name: string) {
    const mirror = `${outProxy().host}/acme/run:mirror`;
    const ws = newWorkspace({ image: `${hole.host}/acme/run:1`, mirrors: [mirror] });
    const app = `${outProxy().host}/acme/app-bad-${name}:latest`;
    expect((await phase("analyzer", ["-layers", ws.layers, "-run", ws.run, app])).code).toBe(0);
    markExtend(ws);
    expect((await phase("restorer", ["-layers", ws.layers, "-run", ws.run], { env: { CNB_KANIKO_DIR: join(ws.root, "kaniko") } })).code).toBe(0);
    const layout = await writeExtendedLayout(runImage, join(ws.layers, "extended"), ws.root, { id: EXT_ID, files: { "x.txt": "x" } });
    return { ws, app, layout, repo: `acme/app-bad-${name}` };
  }

  async function expectFailedExport(ws: Workspace, app: string, repo: string, message: RegExp) {
    const r = await phase("exporter", [...exporterArgs(ws), app]);
    console.log("EXPORT-OUT", r.stdout.split("\n").filter((l) => l.startsWith("ERROR")).join("\n"));
    expect(r.code, r.stdout).toBe(62);
    expect(r.stdout).toMatch(message);
    expect(r.stdout.match(/ERROR: /g)).toHaveLength(1);
    const tags = await fetch(`http://${out().host}/v2/${repo}/tags/list`);
    expect(tags.status).toBe(404);
  }

  it("a layout blob that is present but corrupt", async () => {
    const { ws, app, layout, repo } = await prepared("corrupt");
    const blob = join(layout.path, "blobs", "sha256", layout.layerDigest.slice(7));
    const bytes = readFileSync(blob);
    bytes[bytes.length - 20] = (bytes[bytes.length - 20] ?? 0) ^ 0xff;
    writeFileSync(blob, bytes);
    await expectFailedExport(ws, app, repo, /ERROR: failed to export: .*(digest|gzip|invalid|checksum)/i);
  });

  it("more than one image in <extended>/run", async () => {
    const { ws, app, repo } = await prepared("two");
    await mkdir(join(ws.layers, "extended", "run", "sha256:other"), { recursive: true });
    await expectFailedExport(ws, app, repo, /ERROR: failed to export: expected directory ".*run" to have only 1 item; found 2/);
  });

  it("an index with two manifests", async () => {
    const { ws, app, layout, repo } = await prepared("index");
    const index = JSON.parse(readFileSync(join(layout.path, "index.json"), "utf8")) as { manifests: unknown[] };
    index.manifests.push(index.manifests[0]);
    writeFileSync(join(layout.path, "index.json"), JSON.stringify(index));
    await expectFailedExport(ws, app, repo, /ERROR: failed to export: expected image index at ".*" to have only 1 manifest; found 2/);
  });

  it("a malformed layout", async () => {
    const { ws, app, layout, repo } = await prepared("malformed");
    await writeFile(join(layout.path, "index.json"), "{ not json");
    await expectFailedExport(ws, app, repo, /ERROR: failed to export: index\.json of .* is not valid JSON/);
  });

  it("extend = true without an extended image", async () => {
    const { ws, app, repo } = await prepared("missing");
    await rm(join(ws.layers, "extended"), { recursive: true, force: true });
    await expectFailedExport(ws, app, repo, /ERROR: failed to export: missing extended run image/);
  });
});
