// The exporter phase in-process, on a small in-memory image store (the registry, layout and daemon
// stores have their own tests, and acceptance tests run the binary against real ones).
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { gzipSync } from "node:zlib";
import { parse } from "smol-toml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildTar } from "../../acceptance/helpers/fixtures.js";
import type { Workspace } from "../../acceptance/helpers/workspace.js";
import type { Cache } from "../../src/cache/cache.js";
import { BufferLayer } from "../../src/image/file-layer.js";
import { MutableImage } from "../../src/image/mutable-image.js";
import { MemoryLogger } from "../../src/log/logger.js";
import { sha256Digest } from "../../src/oci/digest.js";
import { MediaType } from "../../src/oci/media-types.js";
import { NORMALIZED_TIME } from "../../src/oci/normalized-time.js";
import { analyze } from "../../src/phase/analyzer.js";
import { exportApp, openExportImages } from "../../src/phase/exporter/export.js";
import { SaveError } from "../../src/phase/save-image.js";
import { ApiVersion } from "../../src/platform/api-version.js";
import { platformFeatures } from "../../src/platform/features.js";
import { emptyCacheMetadata } from "../../src/platform/files/cache-metadata.js";
import type { Analyzed } from "../../src/platform/files/analyzed.js";
import { emptyLifecycleMetadata } from "../../src/platform/files/lifecycle-metadata.js";
import { MemoryStore } from "./memory-store.js";
import { buildWorkspace, exportOptions } from "./transcript-fixtures.js";

const RUN = "registry.test/acme/run:1";
const APP = "registry.test/acme/app:1";
const features = platformFeatures(ApiVersion.must("0.15"));

let root: string;
let ws: Workspace;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), "export-phase-"));
  ws = buildWorkspace(join(root, "ws"));
});

afterEach(() => {
  rmSync(root, { recursive: true, force: true });
});

/** A one-layer run image held in memory. */
async function runImage(): Promise<MutableImage> {
  const tar = await buildTar([{ path: "/etc/os-release", content: "ID=test\n" }]);
  const gz = gzipSync(tar);
  const image = MutableImage.scratch("linux", "amd64");
  image.addLayer(new BufferLayer(gz, sha256Digest(gz), sha256Digest(tar), MediaType.OciLayerGzip), { created: NORMALIZED_TIME, created_by: "run layer" });
  image.setEnv("PATH", "/usr/bin:/bin");
  return image;
}

async function storeWithRunImage(options?: ConstructorParameters<typeof MemoryStore>[0]): Promise<MemoryStore> {
  const store = new MemoryStore(options);
  await store.put(RUN, await runImage());
  return store;
}

function firstBuild(): Analyzed {
  return { previousImage: { reference: "" }, metadata: emptyLifecycleMetadata(), runImage: { reference: RUN, extend: false } };
}

/** analyze → export in-process, as the commands do. */
async function exportOnce(store: MemoryStore, analyzed: Analyzed, names: readonly string[] = [APP], cache?: Cache) {
  const logger = new MemoryLogger("info");
  const previousRef = analyzed.previousImage?.reference ?? "";
  const images = await openExportImages(store, RUN, previousRef, names[0] ?? "", logger);
  await exportApp(await exportOptions(ws, analyzed, { features, logger, store, images, cache, names, runImage: RUN, tmpRoot: root }));
  return logger;
}

function label(image: MutableImage | undefined): { runImage: { topLayer: string; reference: string }; buildpacks: { key: string; layers: Record<string, { sha: string }> }[] } {
  return JSON.parse(image?.labels()["io.buildpacks.lifecycle.metadata"] ?? "{}") as ReturnType<typeof label>;
}

describe("exportApp on an in-memory store", () => {
  it("stacks the layers in the contract's order on the run image, announcing each new one to the store", async () => {
    const store = await storeWithRunImage();
    await exportOnce(store, firstBuild());
    const saved = store.get(APP);
    expect(saved).toBeDefined();
    const history = (saved?.editableConfig.history ?? []).map((h) => h.created_by);
    expect(history).toEqual([
      "run layer",
      "Layer: 'node', Created by buildpack: acme/node@1.2.3",
      "Layer: 'modules', Created by buildpack: acme/npm@2.0.0",
      "Software Bill-of-Materials",
      "Application Slice: 1",
      "Application Slice: 2",
      "Buildpacks Application Launcher",
      "Buildpacks Launcher Config",
      "Buildpacks Process Types",
    ]);
    const run = await runImage();
    const layers = saved?.layerList ?? [];
    expect(layers[0]?.diffId).toBe(run.layerList[0]?.diffId);
    // every layer above the run image was handed to the store as soon as it was built
    expect(store.announced.map((a) => a.layer.diffId).sort()).toEqual(layers.slice(1).map((l) => l.diffId).sort());
    expect(store.announced.every((a) => a.name === APP)).toBe(true);
    const md = label(saved);
    expect(md.runImage.topLayer).toBe(run.layerList[0]?.diffId);
    expect(md.runImage.reference).toBe(await store.open(RUN).identifier());
    const report = parse(readFileSync(join(ws.layers, "report.toml"), "utf8")) as { image: { tags: string[]; digest: string } };
    expect(report.image).toMatchObject({ tags: [APP], digest: (await saved?.manifest())?.digest });
  });

  it("reuses every unchanged layer of the previous image and builds none again", async () => {
    const store = await storeWithRunImage();
    await exportOnce(store, firstBuild());
    const first = store.get(APP);
    const logger = new MemoryLogger("info");
    const analyzed = await analyze({
      features,
      logger,
      layersDir: ws.layers,
      skipLayers: true,
      previousImage: { name: APP, image: store.open(APP), display: APP },
      runImage: { name: RUN, image: store.open(RUN), display: RUN },
    });
    store.announced.length = 0;
    const second = await exportOnce(store, analyzed);
    expect(store.announced).toEqual([]);
    expect(second.text()).toContain("Reusing layer 'acme/node:node'");
    expect(second.text()).toContain("Reused 2/2 app layer(s)");
    expect(store.get(APP)?.layerList.map((l) => l.digest)).toEqual(first?.layerList.map((l) => l.digest));
  });

  it("attempts every name, fails on the refused one after saving the others, and writes no report", async () => {
    const store = await storeWithRunImage({ refuse: { "registry.test/other/app:1": "denied: requested access to the resource is denied" } });
    const names = [APP, "registry.test/other/app:1", "registry.test/acme/app:2"];
    const err = await exportOnce(store, firstBuild(), names).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SaveError);
    expect((err as SaveError).failures.map((f) => f.name)).toEqual(["registry.test/other/app:1"]);
    expect(store.get(APP)).toBeDefined();
    expect(store.get("registry.test/acme/app:2")).toBeDefined();
    expect(existsSync(join(ws.layers, "report.toml"))).toBe(false);
  });

  it("only warns when the cache cannot be written, after the image and report are done", async () => {
    const store = await storeWithRunImage();
    const failingCache: Cache = {
      kind: "image",
      name: () => "broken-cache",
      exists: () => Promise.resolve(false),
      metadata: () => Promise.resolve(emptyCacheMetadata()),
      retrieveLayer: () => Promise.reject(new Error("no layers")),
      verifyLayer: () => Promise.resolve(),
      addLayer: () => Promise.resolve(),
      reuseLayer: () => Promise.resolve(),
      setMetadata: () => Promise.resolve(),
      commit: () => Promise.reject(new Error("registry unavailable")),
      close: () => Promise.resolve(),
      takeNotices: () => [],
    };
    const logger = await exportOnce(store, firstBuild(), [APP], failingCache);
    expect(logger.text()).toContain("Warning: Failed to export cache: registry unavailable");
    expect(store.get(APP)).toBeDefined();
    expect(existsSync(join(ws.layers, "report.toml"))).toBe(true);
  });
});
