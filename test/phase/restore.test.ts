// The restorer in-process, with a small in-memory cache: which layer metadata it writes (contract
// §5.6's matrix), which cached layers it extracts, removes or skips.
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { Readable } from "node:stream";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { buildTar } from "../../acceptance/helpers/fixtures.js";
import type { Cache } from "../../src/cache/cache.js";
import { CacheReadError } from "../../src/cache/volume-errors.js";
import { MemoryLogger } from "../../src/log/logger.js";
import { sha256Digest } from "../../src/oci/digest.js";
import { restore } from "../../src/phase/restorer.js";
import { ApiVersion } from "../../src/platform/api-version.js";
import { platformFeatures } from "../../src/platform/features.js";
import type { BuildpackLayerMetadata } from "../../src/platform/files/buildpack-layers-metadata.js";
import type { CacheMetadata } from "../../src/platform/files/cache-metadata.js";
import { emptyLifecycleMetadata, type LifecycleMetadata } from "../../src/platform/files/lifecycle-metadata.js";

let layers: string;

beforeEach(() => {
  layers = join(mkdtempSync(join(tmpdir(), "restore-phase-")), "layers");
  mkdirSync(layers);
});

afterEach(() => {
  rmSync(join(layers, ".."), { recursive: true, force: true });
});

/** A cache held in memory: its metadata and layer tars by diffID; `unreadable` diffIDs fail to read. */
function memoryCache(metadata: CacheMetadata, tars: ReadonlyMap<string, Buffer>, unreadable: ReadonlySet<string> = new Set()): Cache {
  return {
    kind: "image",
    name: () => "memory-cache",
    exists: () => Promise.resolve(true),
    metadata: () => Promise.resolve(metadata),
    retrieveLayer: (diffId) => {
      const tar = tars.get(diffId);
      if (!tar || unreadable.has(diffId)) return Promise.reject(new CacheReadError(`failed to find cache layer with SHA '${diffId}'`));
      return Promise.resolve(Readable.from([tar]));
    },
    verifyLayer: () => Promise.resolve(),
    addLayer: () => Promise.reject(new Error("read-only")),
    reuseLayer: () => Promise.reject(new Error("read-only")),
    setMetadata: () => Promise.reject(new Error("read-only")),
    commit: () => Promise.reject(new Error("read-only")),
    close: () => Promise.resolve(),
    takeNotices: () => [],
  };
}

const types = (flags: string): Pick<BuildpackLayerMetadata, "build" | "cache" | "launch"> => ({
  build: flags[0] === "t",
  cache: flags[1] === "t",
  launch: flags[2] === "t",
});

function appMetadata(layerFlags: Record<string, string>, shaOf: (name: string) => string): LifecycleMetadata {
  const md = emptyLifecycleMetadata();
  const layersOf: Record<string, BuildpackLayerMetadata> = {};
  for (const [name, flags] of Object.entries(layerFlags)) layersOf[name] = { sha: shaOf(name), data: { from: "app" }, ...types(flags) };
  return { ...md, buildpacks: [{ key: "acme/node", version: "1.0.0", layers: layersOf }] };
}

async function run(app: LifecycleMetadata, cache: Cache | undefined, api = "0.14") {
  const logger = new MemoryLogger("info");
  await restore({
    features: platformFeatures(ApiVersion.must(api)),
    logger,
    layersDir: layers,
    group: [{ id: "acme/node", version: "1.0.0", api: "0.10", homepage: "", optional: false }],
    appMetadata: app,
    cache,
    skipLayers: false,
  });
  return logger;
}

const bp = () => join(layers, "acme_node");

describe("restore, with an in-memory cache", () => {
  it("writes layer metadata per the build/cache/launch matrix and extracts what the cache holds", async () => {
    // build/cache/launch → metadata restored, contents restored (contract §5.6)
    const matrix: Record<string, string> = { ttt: "ttt", ttf: "ttf", tft: "tft", tff: "tff", ftt: "ftt", ftf: "ftf", fft: "fft", fff: "fff" };
    const tars = new Map<string, Buffer>();
    const shas = new Map<string, string>();
    for (const name of Object.keys(matrix)) {
      const tar = await buildTar([{ path: `${layers}/acme_node/${name}`, dir: true }, { path: `${layers}/acme_node/${name}/file`, content: name }]);
      shas.set(name, sha256Digest(tar));
      tars.set(sha256Digest(tar), tar);
    }
    const sha = (name: string) => shas.get(name) ?? "";
    const cached: Record<string, BuildpackLayerMetadata> = {};
    for (const [name, flags] of Object.entries(matrix)) if (flags[1] === "t") cached[name] = { sha: sha(name), data: { from: "cache" }, ...types(flags) };
    const cacheMd: CacheMetadata = { sbom: { sha: "" }, buildpacks: [{ key: "acme/node", version: "1.0.0", layers: cached }] };
    const logger = await run(appMetadata(matrix, sha), memoryCache(cacheMd, tars));
    const restored = (name: string) => [existsSync(join(bp(), `${name}.toml`)), existsSync(join(bp(), name, "file"))];
    expect(Object.fromEntries(Object.keys(matrix).map((n) => [n, restored(n)]))).toEqual({
      ttt: [true, true],
      ttf: [true, true],
      tft: [false, false],
      tff: [false, false],
      ftt: [true, true],
      ftf: [true, true],
      fft: [true, false],
      fff: [false, false],
    });
    expect(readFileSync(join(bp(), "ftt", "file"), "utf8")).toBe("ftt");
    // the restored .toml has only [metadata]: the buildpack must opt in again
    expect(readFileSync(join(bp(), "ttt.toml"), "utf8")).not.toMatch(/launch|cache|build/);
    expect(logger.lines).toContain('Restoring metadata for "acme/node:fft" from app image');
    expect(logger.lines).toContain('Restoring data for "acme/node:ttt" from cache');
  });

  it("removes a layer whose app-image sha differs from the cache's, and skips an unreadable cached layer with a warning", async () => {
    const tar = await buildTar([{ path: `${layers}/acme_node/node/bin`, content: "node" }]);
    const good = sha256Digest(tar);
    const cacheMd: CacheMetadata = {
      sbom: { sha: "" },
      buildpacks: [
        {
          key: "acme/node",
          version: "1.0.0",
          layers: {
            node: { sha: good, data: null, ...types("ftt") },
            gone: { sha: `sha256:${"1".repeat(64)}`, data: null, ...types("ftf") },
          },
        },
      ],
    };
    // the app image remembers another sha for `node`
    const app = appMetadata({ node: "ftt" }, () => `sha256:${"2".repeat(64)}`);
    mkdirSync(join(bp(), "node"), { recursive: true });
    writeFileSync(join(bp(), "node", "stale"), "from an earlier build");
    const logger = await run(app, memoryCache(cacheMd, new Map([[good, tar]]), new Set([`sha256:${"1".repeat(64)}`])));
    expect(existsSync(join(bp(), "node"))).toBe(false);
    expect(existsSync(join(bp(), "node.toml"))).toBe(false);
    expect(logger.lines).toContain('Removing "acme/node:node", wrong sha');
    expect(logger.lines).toContain(`Warning: Skipping restore for layer acme/node:gone: failed to find cache layer with SHA 'sha256:${"1".repeat(64)}'`);
    // Go keeps the metadata of a layer whose data could not be read
    expect(existsSync(join(bp(), "gone.toml"))).toBe(true);
  });

  it("restores a cache-only launch layer's metadata on Platform API 0.14 but not on 0.13", async () => {
    const tar = await buildTar([{ path: `${layers}/acme_node/deps/x`, content: "x" }]);
    const sha = sha256Digest(tar);
    const cacheMd: CacheMetadata = { sbom: { sha: "" }, buildpacks: [{ key: "acme/node", version: "1.0.0", layers: { deps: { sha, data: null, ...types("ftt") } } }] };
    await run(emptyLifecycleMetadata(), memoryCache(cacheMd, new Map([[sha, tar]])), "0.13");
    expect(existsSync(join(bp(), "deps.toml"))).toBe(false);
    await run(emptyLifecycleMetadata(), memoryCache(cacheMd, new Map([[sha, tar]])), "0.14");
    expect(existsSync(join(bp(), "deps.toml"))).toBe(true);
    expect(readFileSync(join(bp(), "deps", "x"), "utf8")).toBe("x");
  });
});
