// What the exporter benchmark compares against: the gzip limit of node:zlib on all cores, a plain
// read-and-hash loop, and an OCI layout of the same uncompressed layer tars for `skopeo copy`.
import { createHash } from "node:crypto";
import { mkdir, rename, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { appSliceSources } from "../src/layers/app-slices.js";
import { directoryLayerSource } from "../src/layers/directory-layer.js";
import type { LayerSource, Owner } from "../src/layers/layer-source.js";
import { launcherLayerSource, processTypesLayerSource } from "../src/layers/lifecycle-layers.js";
import { writeLayerTar } from "../src/layers/pipeline.js";
import type { BuildOutput } from "./_exporter-data.js";
import { timedRun } from "./_exporter-measure.js";

// The two baselines run as plain Node scripts in a child process of their own (a fresh isolate:
// this process's large heap and proxy worker would slow them down). Each gets a file listing the
// paths, times only its loop and prints JSON.

/**
 * The files split into `streams` shares (argv[2], default one per core), each gzipped at level 1 by
 * its own node:zlib stream (1 MiB pieces and output chunks), all at once.
 */
const GZIP_LIMIT_SCRIPT = `
import { readFileSync } from "node:fs";
import { availableParallelism } from "node:os";
import { createGzip } from "node:zlib";
const PIECE = 1 << 20;
const buffers = readFileSync(process.argv[1], "utf8").split("\\n").filter(Boolean).map((f) => readFileSync(f));
const streams = Number(process.argv[2]) || availableParallelism();
const total = buffers.reduce((n, b) => n + b.length, 0);
const shares = Array.from({ length: streams }, () => []);
let seen = 0;
for (const b of buffers) { shares[Math.min(streams - 1, Math.floor((seen / total) * streams))].push(b); seen += b.length; }
let out = 0;
const started = performance.now();
await Promise.all(shares.map(async (share) => {
  const gzip = createGzip({ level: 1, chunkSize: PIECE });
  const done = new Promise((resolve, reject) => { gzip.on("data", (c) => (out += c.length)); gzip.once("end", resolve); gzip.once("error", reject); });
  for (const b of share) for (let i = 0; i < b.length; i += PIECE) if (!gzip.write(b.subarray(i, i + PIECE))) await new Promise((r) => gzip.once("drain", r));
  gzip.end();
  await done;
}));
console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000, streams, compressedBytes: out }));
`;

/** Every file read and sha256'd, one after the other. */
const READ_AND_HASH_SCRIPT = `
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
const files = readFileSync(process.argv[1], "utf8").split("\\n").filter(Boolean);
const started = performance.now();
for (const f of files) createHash("sha256").update(await readFile(f)).digest("hex");
console.log(JSON.stringify({ seconds: (performance.now() - started) / 1000 }));
`;

/** What a baseline script printed. */
export interface BaselineResult {
  /** Wall time of the script's loop (not of the process). */
  readonly seconds: number;
  readonly streams?: number;
  readonly compressedBytes?: number;
  /** CPU of the whole child process (startup and, for the gzip limit, reading the files in). */
  readonly toolCpu: number;
}

async function runScript(script: string, args: readonly string[], timeFile: string): Promise<BaselineResult> {
  const run = await timedRun(process.execPath, ["--input-type=module", "-e", script, ...args], { PATH: process.env.PATH ?? "/usr/bin:/bin" }, timeFile);
  const parsed = JSON.parse(run.stdout) as { seconds: number; streams?: number; compressedBytes?: number };
  return { ...parsed, toolCpu: run.toolCpu };
}

/** Writes the list of files the baselines read. */
export async function writeFileList(path: string, files: readonly string[]): Promise<string> {
  await writeFile(path, `${files.join("\n")}\n`);
  return path;
}

/** (b) The compression limit over the files with `streams` zlib streams (see {@link GZIP_LIMIT_SCRIPT}). */
export function gzipLimit(listFile: string, streams: number, timeFile: string): Promise<BaselineResult> {
  return runScript(GZIP_LIMIT_SCRIPT, [listFile, String(streams)], timeFile);
}

/** (d) The plain loop: read every file and sha256 it, one after the other. */
export function readAndHash(listFile: string, timeFile: string): Promise<BaselineResult> {
  return runScript(READ_AND_HASH_SCRIPT, [listFile], timeFile);
}

/** The layers the exporter builds for the workspace, in image order, as it builds them (owner 0:0). */
export async function exporterLayerSources(out: BuildOutput): Promise<{ name: string; source: LayerSource }[]> {
  const owner: Owner = { uid: 0, gid: 0 };
  const [app] = await appSliceSources(out.appDir, [], owner);
  if (!app) throw new Error("no app layer source");
  return [
    ...out.layerDirs.map((dir) => ({ name: dir, source: directoryLayerSource(dir, owner) })),
    { name: "app", source: app },
    { name: "launcher", source: launcherLayerSource(out.launcher) },
    { name: "config", source: directoryLayerSource(join(out.layersDir, "config"), owner) },
    { name: "process-types", source: processTypesLayerSource(["web"]) },
  ];
}

async function writeJsonBlob(blobs: string, value: unknown): Promise<{ digest: string; size: number }> {
  const data = Buffer.from(JSON.stringify(value));
  const hex = createHash("sha256").update(data).digest("hex");
  await writeFile(join(blobs, hex), data);
  return { digest: `sha256:${hex}`, size: data.length };
}

/**
 * An OCI layout holding the exporter's layers as uncompressed tars
 * (`application/vnd.oci.image.layer.v1.tar`, digest = diffID); returns the diffIDs in order.
 */
export async function writeUncompressedLayout(layoutDir: string, out: BuildOutput, tag: string): Promise<string[]> {
  const blobs = join(layoutDir, "blobs", "sha256");
  await mkdir(blobs, { recursive: true });
  const layers: { digest: string; size: number }[] = [];
  for (const [i, { source }] of (await exporterLayerSources(out)).entries()) {
    const tmp = join(blobs, `.tmp-${i}`);
    const tar = await writeLayerTar(source, tmp);
    await rename(tmp, join(blobs, tar.diffId.slice("sha256:".length)));
    layers.push({ digest: tar.diffId, size: tar.size });
  }
  const config = await writeJsonBlob(blobs, {
    architecture: "amd64",
    os: "linux",
    config: { Env: ["PATH=/usr/bin:/bin"] },
    rootfs: { type: "layers", diff_ids: layers.map((l) => l.digest) },
    history: layers.map((_, i) => ({ created_by: `bench: layer ${i}` })),
  });
  const manifest = await writeJsonBlob(blobs, {
    schemaVersion: 2,
    mediaType: "application/vnd.oci.image.manifest.v1+json",
    config: { mediaType: "application/vnd.oci.image.config.v1+json", ...config },
    layers: layers.map((l) => ({ mediaType: "application/vnd.oci.image.layer.v1.tar", ...l })),
  });
  await writeFile(join(layoutDir, "oci-layout"), JSON.stringify({ imageLayoutVersion: "1.0.0" }));
  await writeFile(
    join(layoutDir, "index.json"),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: "application/vnd.oci.image.manifest.v1+json", ...manifest, annotations: { "org.opencontainers.image.ref.name": tag } }],
    }),
  );
  return layers.map((l) => l.digest);
}
