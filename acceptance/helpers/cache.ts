import { createHash } from "node:crypto";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { MutableImage } from "../../src/image/mutable-image.js";
import { pushImage } from "../../src/image/registry-writer.js";
import { Reference } from "../../src/registry/reference.js";
import type { RegistryEndpoint } from "../../test/harness/index.js";
import { buildTar, fixtureClient, layerFromTar, type TarFile } from "./fixtures.js";

/** One cached layer for a fixture cache. */
export interface CachedLayer {
  readonly buildpack: string;
  readonly name: string;
  readonly files: readonly TarFile[];
  readonly types: { launch?: boolean; build?: boolean; cache?: boolean };
  readonly data?: Record<string, unknown>;
  /** Bytes to store instead of the real tar (a tampered cache); the metadata keeps the real diffID. */
  readonly tamper?: (tar: Buffer) => Buffer;
}

/** A built fixture layer: its tar and diffID. */
export interface BuiltCacheLayer extends CachedLayer {
  readonly tar: Buffer;
  readonly diffId: string;
}

const sha256 = (b: Buffer) => `sha256:${createHash("sha256").update(b).digest("hex")}`;

/** Tar entries for a layer directory `<layers>/<bp>/<name>` with its ancestors, like the exporter writes them. */
export function layerEntries(layersDir: string, bpDir: string, name: string, files: Record<string, string>): TarFile[] {
  const root = `${layersDir}/${bpDir}/${name}`;
  return [
    { path: layersDir, dir: true },
    { path: `${layersDir}/${bpDir}`, dir: true },
    { path: root, dir: true },
    ...Object.entries(files).map(([rel, content]) => ({ path: `${root}/${rel}`, content })),
  ];
}

/** Builds the layers' tars and the cache metadata JSON (with an optional SBOM layer sha). */
export async function buildCacheLayers(layers: readonly CachedLayer[]): Promise<BuiltCacheLayer[]> {
  return Promise.all(
    layers.map(async (l) => {
      const tar = await buildTar(l.files);
      return { ...l, tar, diffId: sha256(tar) };
    }),
  );
}

/** The `io.buildpacks.lifecycle.cache.metadata` JSON for built layers. */
export function cacheMetadataJson(layers: readonly BuiltCacheLayer[], sbomSha = "", versions: Record<string, string> = {}): string {
  const byBp = new Map<string, Record<string, unknown>>();
  for (const l of layers) {
    const entry = byBp.get(l.buildpack) ?? {};
    entry[l.name] = { sha: l.diffId, data: l.data ?? null, build: !!l.types.build, launch: !!l.types.launch, cache: !!l.types.cache };
    byBp.set(l.buildpack, entry);
  }
  return JSON.stringify({
    sbom: { sha: sbomSha },
    buildpacks: [...byBp].map(([key, ls]) => ({ key, version: versions[key] ?? "1.0.0", layers: ls })),
  });
}

/** Writes a committed volume cache: `committed/<diffID>.tar` plus the metadata file. */
export function writeVolumeCache(cacheDir: string, layers: readonly BuiltCacheLayer[], metadata: string): void {
  const committed = join(cacheDir, "committed");
  mkdirSync(committed, { recursive: true });
  for (const l of layers) writeFileSync(join(committed, `${l.diffId}.tar`), l.tamper ? l.tamper(l.tar) : l.tar);
  writeFileSync(join(committed, "io.buildpacks.lifecycle.cache.metadata"), `${metadata}\n`);
}

/** Pushes a cache image (no base, OCI, metadata label) with our client; returns its digest. */
export async function pushCacheImage(endpoint: RegistryEndpoint, repo: string, blobDir: string, layers: readonly BuiltCacheLayer[], metadata: string): Promise<string> {
  const image = MutableImage.scratch("linux", "");
  layers.forEach((l, i) => image.addLayer(layerFromTar(blobDir, `cache-${repo.replace(/\W/g, "_")}-${i}`, l.tamper ? l.tamper(l.tar) : l.tar), {}));
  image.setLabel("io.buildpacks.lifecycle.cache.metadata", metadata);
  const client = fixtureClient(endpoint);
  try {
    return (await pushImage(client, image, [Reference.parse(`${endpoint.host}/${repo}`)])).digest;
  } finally {
    await client.close();
  }
}
