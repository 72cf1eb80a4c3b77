// What users read: the phases' output line for line, as the Go lifecycle prints it
// (../shared/reference/go-transcript.md), for a first build and a rebuild in registry and OCI layout
// mode; Go's save semantics with several names when one repository refuses the push; and the
// progress lines this project adds for long transfers (an upload and a download slowed by the proxy).
import { createHash, randomBytes } from "node:crypto";
import { cpSync, existsSync, mkdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildRunImage,
  expectNoLeakedProcesses,
  faults,
  pushImage,
  skopeoCopyToLayout,
  skopeoInspectRaw,
  type BuiltImage,
  type RegistryEndpoint,
} from "../test/harness/index.js";
import { useFaultProxy } from "../test/harness/vitest/use-fault-proxy.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { layoutPathForReference } from "../src/image/layout-path.js";
import { registryAuth } from "./helpers/fixtures.js";
import { runLifecycle, type RunResult } from "./helpers/lifecycle.js";
import { createWorkspace, exporterArgs, TRANSCRIPT_BUILD, writeBuildOutput, type BuildSpec, type Workspace } from "./helpers/workspace.js";

expectNoLeakedProcesses();
const reg = useRegistry("plain");
const proxy = useFaultProxy(reg);
// "writer" may push only to acme/app; it may pull everything
const tokenReg = useRegistry("token", {
  token: { users: [{ username: "writer", password: "writer-pass", access: [{ name: "acme/app", actions: ["*"] }, { name: /.*/, actions: ["pull"] }] }] },
});
const temp = useTempDir("transcript-acceptance");

let runImage: BuiltImage;
let n = 0;

const SPEC = TRANSCRIPT_BUILD;

/** The builder's output: layers, metadata.toml and the launch and cache SBOMs. */
function build(ws: Workspace, spec: BuildSpec = SPEC): void {
  writeBuildOutput(ws, spec);
  for (const kind of ["launch", "cache"]) {
    const dir = join(ws.layers, "sbom", kind, "acme_node", "node");
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, "sbom.cdx.json"), `{"kind":"${kind}"}`);
  }
}

/** A new build container: only group.toml (and analyzed.toml later) in the layers dir. */
function freshLayers(ws: Workspace): void {
  for (const dir of ["acme_node", "acme_npm", "acme_big", "sbom", "config", "analyzed.toml", "report.toml"]) {
    rmSync(join(ws.layers, dir), { recursive: true, force: true });
  }
}

function workspace(runImageName: string, spec: BuildSpec = SPEC): Workspace {
  const ws = createWorkspace(join(temp(), `ws-${++n}`), spec, `[[images]]\n  image = "${runImageName}"\n`);
  freshLayers(ws);
  return ws;
}

/** The lines of a run, with registry hosts, the temp dir and digests masked. */
function transcript(r: RunResult, hosts: readonly string[] = []): string[] {
  let text = r.stdout.replaceAll(temp(), "<tmp>");
  for (const host of hosts) text = text.replaceAll(host, "<registry>");
  return text
    .replace(/sha256:[0-9a-f]{64}/g, "sha256:<digest>")
    .split("\n")
    .filter((l) => l !== "");
}

async function phase(bin: "analyzer" | "restorer" | "exporter", args: string[], env: Record<string, string> = {}): Promise<RunResult> {
  const r = await runLifecycle(bin, ["-no-color", ...args], { platformApi: "0.15", env });
  expect(r.code, `${bin}: ${r.output}`).toBe(0);
  return r;
}

/** The app layers and labels part of the exporter's transcript, the same in every mode. */
function exportedLayers(verb: "Adding" | "Reusing"): string[] {
  return [
    `${verb} layer 'acme/node:node'`,
    `${verb} layer 'acme/npm:modules'`,
    `${verb} layer 'buildpacksio/lifecycle:launch.sbom'`,
    verb === "Adding" ? "Added 2/2 app layer(s)" : "Reused 2/2 app layer(s)",
    `${verb} layer 'buildpacksio/lifecycle:launcher'`,
    `${verb} layer 'buildpacksio/lifecycle:config'`,
    `${verb} layer 'buildpacksio/lifecycle:process-types'`,
    "Adding label 'io.buildpacks.lifecycle.metadata'",
    "Adding label 'io.buildpacks.build.metadata'",
    "Adding label 'io.buildpacks.project.metadata'",
    "Adding label 'org.acme.team'",
    "Adding label 'io.buildpacks.exec-env'",
    "Setting default process type 'web'",
  ];
}

const CACHE_LAYERS = ["acme/node:buildtools", "acme/node:node", "buildpacksio/lifecycle:cache.sbom"];

const RESTORED = [
  'Restoring metadata for "acme/node:node" from app image',
  'Restoring metadata for "acme/node:buildtools" from cache',
  'Restoring metadata for "acme/npm:modules" from app image',
  'Restoring data for "acme/node:buildtools" from cache',
  'Restoring data for "acme/node:node" from cache',
  "Restoring data for SBOM from cache",
];

beforeAll(async () => {
  runImage = await buildRunImage(join(temp(), "run-layout"), { baseId: "io.acme.base" });
  await Promise.all([pushImage(runImage, reg(), "acme/run:1"), pushImage(runImage, tokenReg(), "acme/run:1")]);
});

describe("transcript in registry mode (image cache)", () => {
  it("reads like Go's for a first build and a rebuild, line for line", async () => {
    const host = reg().host;
    const image = `${host}/acme/app:main`;
    const tag = `${host}/acme/app:v1`;
    const cache = `${host}/acme/cache:1`;
    const ws = workspace(`${host}/acme/run:1`);
    const cycle = async () => {
      const analyzer = await phase("analyzer", ["-layers", ws.layers, "-run", ws.run, "-cache-image", cache, image]);
      const restorer = await phase("restorer", ["-layers", ws.layers, "-run", ws.run, "-cache-image", cache]);
      build(ws);
      const exporter = await phase("exporter", [...exporterArgs(ws), "-cache-image", cache, image, tag]);
      freshLayers(ws);
      return { analyzer: transcript(analyzer, [host]), restorer: transcript(restorer, [host]), exporter: transcript(exporter, [host]) };
    };

    const first = await cycle();
    expect(first.analyzer).toEqual(['Image with name "<registry>/acme/app:main" not found']);
    expect(first.restorer).toEqual(["Layer cache not found"]);
    expect(first.exporter).toEqual([
      ...exportedLayers("Adding"),
      "Saving <registry>/acme/app:main...",
      "*** Images (sha256:<digest>):",
      "      <registry>/acme/app:main",
      "      <registry>/acme/app:v1",
      "Layer cache not found",
      ...CACHE_LAYERS.map((id) => `Adding cache layer '${id}'`),
    ]);

    const again = await cycle();
    expect(again.analyzer).toEqual(["Restoring data for SBOM from previous image"]);
    expect(again.restorer).toEqual(RESTORED);
    expect(again.exporter).toEqual([
      "Reusing layers from image '<registry>/acme/app@sha256:<digest>'",
      ...exportedLayers("Reusing"),
      "Saving <registry>/acme/app:main...",
      "*** Images (sha256:<digest>):",
      "      <registry>/acme/app:main",
      "      <registry>/acme/app:v1",
      ...CACHE_LAYERS.map((id) => `Reusing cache layer '${id}'`),
    ]);
  });
});

describe("transcript in OCI layout mode (volume cache)", () => {
  it("names images by their layout paths, as Go does, for a first build and a rebuild", async () => {
    const layoutDir = join(temp(), "layouts");
    const runRef = "registry.test/acme/run:1";
    const src = join(temp(), "layout-src");
    await skopeoCopyToLayout(reg(), "acme/run:1", src, "latest");
    cpSync(src, layoutPathForReference(layoutDir, runRef), { recursive: true });
    const image = "registry.test/acme/app:main";
    const ws = workspace(runRef);
    const layout = ["-layout", "-layout-dir", layoutDir];
    const env = { CNB_EXPERIMENTAL_MODE: "warn" };
    const cycle = async () => {
      const analyzer = await phase("analyzer", ["-layers", ws.layers, "-run", ws.run, ...layout, image], env);
      const restorer = await phase("restorer", ["-layers", ws.layers, "-run", ws.run, "-cache-dir", ws.cache, ...layout], env);
      build(ws);
      const exporter = await phase("exporter", [...exporterArgs(ws), "-cache-dir", ws.cache, ...layout, image], env);
      freshLayers(ws);
      return { analyzer: transcript(analyzer), restorer: transcript(restorer), exporter: transcript(exporter) };
    };
    const experimental = "Warning: Platform requested experimental feature 'export to OCI layout format'";
    const app = "<tmp>/layouts/registry.test/acme/app/main";

    const first = await cycle();
    expect(first.analyzer).toEqual([experimental, `Image with name "${app}" not found`]);
    // a volume cache always exists (its directory is the cache): Go prints nothing here
    expect(first.restorer).toEqual([]);
    expect(first.exporter).toEqual([
      experimental,
      `Using app image: ${app}`,
      ...exportedLayers("Adding"),
      `Saving ${app}...`,
      `*** Images (${app}@sha256:<digest>):`,
      `      ${app}`,
      ...CACHE_LAYERS.map((id) => `Adding cache layer '${id}'`),
    ]);

    const again = await cycle();
    expect(again.analyzer).toEqual([experimental, "Restoring data for SBOM from previous image"]);
    expect(again.restorer).toEqual(RESTORED);
    expect(again.exporter).toEqual([
      experimental,
      `Reusing layers from image '${app}'`,
      `Using app image: ${app}`,
      ...exportedLayers("Reusing"),
      `Saving ${app}...`,
      `*** Images (${app}@sha256:<digest>):`,
      `      ${app}`,
      ...CACHE_LAYERS.map((id) => `Reusing cache layer '${id}'`),
    ]);
  });
});

describe("saving under several names (Go's save semantics)", () => {
  it("attempts every name, lists the one whose repository refuses the push with its cause, saves the others, exits 62 without a report", async () => {
    const host = tokenReg().host;
    const writer: RegistryEndpoint = { ...tokenReg(), credentials: { username: "writer", password: "writer-pass" } };
    const env = { CNB_REGISTRY_AUTH: registryAuth(writer) };
    const ws = workspace(`${host}/acme/run:1`);
    await phase("analyzer", ["-layers", ws.layers, "-run", ws.run, `${host}/acme/app:main`], env);
    build(ws);
    // the refused name first: the names after it are still saved
    const names = [`${host}/acme/locked:main`, `${host}/acme/app:main`, `${host}/acme/app:v2`];
    const r = await runLifecycle("exporter", ["-no-color", ...exporterArgs(ws), ...names], { platformApi: "0.15", env });
    expect(r.code, r.output).toBe(62);
    const lines = transcript(r, [host]);
    const saving = lines.indexOf("Saving <registry>/acme/locked:main...");
    expect(saving, r.stdout).toBeGreaterThan(0);
    expect(lines.slice(saving)).toEqual([
      "Saving <registry>/acme/locked:main...",
      "*** Images (sha256:<digest>):",
      expect.stringMatching(/^ {6}<registry>\/acme\/locked:main - \S.*/),
      "      <registry>/acme/app:main",
      "      <registry>/acme/app:v2",
      expect.stringMatching(/^ERROR: failed to export: failed to write image to the following tags: \[<registry>\/acme\/locked:main: \S.*\]$/),
    ]);
    expect(existsSync(join(ws.layers, "report.toml"))).toBe(false);
    // the other names are in the registry with the digest the transcript showed; the refused one is not
    const shown = /\*\*\* Images \((sha256:[0-9a-f]{64})\)/.exec(r.stdout)?.[1];
    const digestOf = async (ref: string) => `sha256:${createHash("sha256").update((await skopeoInspectRaw(tokenReg(), ref)).raw).digest("hex")}`;
    expect(await digestOf("acme/app:main")).toBe(shown);
    expect(await digestOf("acme/app:v2")).toBe(shown);
    await expect(skopeoInspectRaw(tokenReg(), "acme/locked:main")).rejects.toThrow();
  });
});

describe("progress on long transfers", () => {
  it("prints a line every 5 s for a slowed upload and a slowed download, and nothing for short transfers", async () => {
    const host = proxy().host;
    const big: BuildSpec = {
      ...SPEC,
      group: [...SPEC.group, { id: "acme/big", version: "1.0.0" }],
      layers: [...SPEC.layers, { bp: "acme/big", name: "blob", types: { launch: true, cache: true } }],
    };
    const ws = workspace(`${reg().host}/acme/run:1`, big);
    const image = `${host}/acme/slow:1`;
    const cache = `${host}/acme/slow-cache:1`;
    await phase("analyzer", ["-layers", ws.layers, "-run", ws.run, "-cache-image", cache, image]);
    build(ws, big);
    // 15 MB that gzip cannot shrink, uploaded at 1.5 MB/s: about 10 s
    mkdirSync(join(ws.layers, "acme_big", "blob"), { recursive: true });
    writeFileSync(join(ws.layers, "acme_big", "blob", "data.bin"), randomBytes(15_000_000));
    proxy().addRule({ method: ["PATCH", "PUT"], path: /^\/v2\/acme\/slow\/blobs\/uploads\//, fault: faults.throttle(1_500_000, "request") });
    const started = Date.now();
    const exported = await phase("exporter", [...exporterArgs(ws), "-cache-image", cache, image]);
    const exportSeconds = (Date.now() - started) / 1000;
    const uploads = transcript(exported, [host]).filter((l) => l.startsWith("Uploading "));
    expect(uploads.length, exported.stdout).toBeGreaterThanOrEqual(1);
    for (const line of uploads) expect(line).toMatch(/^Uploading layer 'acme\/big:blob': \d+\.\d MB of 15\.0 MB \(\d{1,3}%, \d+\.\d MB\/s\)$/);
    // never more than one line per layer per 5 s
    expect(uploads.length).toBeLessThanOrEqual(Math.floor(exportSeconds / 5));
    // the rest reads like Go's
    expect(transcript(exported, [host]).filter((l) => !l.startsWith("Uploading "))).toContain("Adding layer 'acme/big:blob'");

    freshLayers(ws);
    proxy().clearRules();
    await phase("analyzer", ["-layers", ws.layers, "-run", ws.run, "-cache-image", cache, image]);
    proxy().addRule({ method: "GET", path: /^\/v2\/acme\/(slow|slow-cache)\/blobs\/sha256:/, fault: faults.throttle(1_500_000, "response") });
    const restored = await phase("restorer", ["-layers", ws.layers, "-run", ws.run, "-cache-image", cache]);
    const downloads = transcript(restored, [host]).filter((l) => l.startsWith("Downloading "));
    expect(downloads.length, restored.stdout).toBeGreaterThanOrEqual(1);
    for (const line of downloads) expect(line).toMatch(/^Downloading layer 'acme\/big:blob': \d+\.\d MB of 15\.0 MB \(\d{1,3}%, \d+\.\d MB\/s\)$/);
    expect(transcript(restored, [host]).filter((l) => !l.startsWith("Downloading "))).toEqual([
      ...RESTORED.slice(0, 3),
      'Restoring metadata for "acme/big:blob" from app image',
      ...RESTORED.slice(3, 5),
      'Restoring data for "acme/big:blob" from cache',
      RESTORED[5],
    ]);
    expect(existsSync(join(ws.layers, "acme_big", "blob", "data.bin"))).toBe(true);
  });
});
