import { createReadStream, createWriteStream } from "node:fs";
import { mkdir, readdir, readFile, rename, stat } from "node:fs/promises";
import { join } from "node:path";
import { Readable, Transform } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { extractLayers } from "../../../src/image/daemon/archive-extract.js";
import { buildRunImage, busyboxLayer, runTool, useTempDir, type BuiltImage } from "../../harness/index.js";
import { fileDigest } from "./daemon-fixtures.js";

/** Counts the bytes the extractor pulled from a file. */
function countedFile(path: string): { stream: Readable; read: () => number } {
  let n = 0;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      n += chunk.length;
      done(null, chunk);
    },
  });
  const file = createReadStream(path, { highWaterMark: 64 * 1024 });
  file.on("error", (err) => counter.destroy(err));
  return { stream: file.pipe(counter), read: () => n };
}

/** Runs an extraction; keeps found layers as `<dir>/<diffID>.tar`. */
async function extractTo(archive: string, dir: string, wanted: string[]): Promise<{ found: string[]; spooled: number; read: number }> {
  await mkdir(dir, { recursive: true });
  const input = countedFile(archive);
  const result = await extractLayers(input.stream, {
    wanted: new Set(wanted),
    tempDir: dir,
    onLayer: (diffId, path) => rename(path, join(dir, `${diffId}.tar`)),
  });
  return { found: [...result.found].sort(), spooled: result.spooledBytes, read: input.read() };
}

const ManifestJson = z.array(z.object({ Config: z.string(), Layers: z.array(z.string()) }).loose());

describe("picking layers out of a saved image", () => {
  const temp = useTempDir("archive-extract");
  let image: BuiltImage;
  let diffIds: string[];
  let dockerArchive: string;

  beforeAll(async () => {
    image = await buildRunImage(join(temp(), "layout"), {
      layers: [busyboxLayer(["sh"]), { files: [{ path: "etc/motd", content: "middle\n" }] }, { files: [{ path: "opt/top.bin", size: 2 * 1024 * 1024 }] }],
    });
    diffIds = image.config.rootfs.diff_ids;
    dockerArchive = join(temp(), "docker-archive.tar");
    await runTool("skopeo", ["--insecure-policy", "copy", "--quiet", image.ociReference, `docker-archive:${dockerArchive}:test/image:1`]);
  });

  const [bottom, middle, top] = [0, 1, 2];

  it("takes only the wanted layer from a docker-archive (podman's and skopeo's layout), writing nothing else", async () => {
    const dir = join(temp(), "out-docker");
    const wanted = diffIds[middle] ?? "";
    const result = await extractTo(dockerArchive, dir, [wanted]);
    expect(result.found).toEqual([wanted]);
    expect(await fileDigest(join(dir, `${wanted}.tar`))).toBe(wanted);
    expect(await readdir(dir)).toEqual([`${wanted}.tar`]);
    // entries named by their diffID are skipped unread: only the wanted layer was written
    expect(result.spooled).toBe((await stat(join(dir, `${wanted}.tar`))).size);
    // and the 2 MiB top layer after it was never read
    expect(result.read).toBeLessThan((await stat(dockerArchive)).size - 1024 * 1024);
  });

  it("takes several layers in one pass", async () => {
    const dir = join(temp(), "out-several");
    const wanted = [diffIds[bottom] ?? "", diffIds[top] ?? ""];
    const result = await extractTo(dockerArchive, dir, wanted);
    expect(result.found).toEqual([...wanted].sort());
    for (const d of wanted) expect(await fileDigest(join(dir, `${d}.tar`))).toBe(d);
  });

  it("finds gzip layers in an OCI layout tar (Docker's containerd store) by their uncompressed digest", async () => {
    const archive = join(temp(), "oci-archive.tar");
    await runTool("skopeo", ["--insecure-policy", "copy", "--quiet", image.ociReference, `oci-archive:${archive}:1`]);
    const dir = join(temp(), "out-oci");
    const wanted = diffIds[top] ?? "";
    const result = await extractTo(archive, dir, [wanted]);
    expect(result.found).toEqual([wanted]);
    expect(await fileDigest(join(dir, `${wanted}.tar`))).toBe(wanted);
    expect(await readdir(dir)).toEqual([`${wanted}.tar`]);
  });

  it("finds uncompressed blobs in an OCI layout tar (Docker 25+ with a graph driver) by name", async () => {
    // Docker 25+ saves an OCI layout whose layer blobs are the uncompressed tars (digest = diffID)
    const archive = join(temp(), "oci-plain.tar");
    await rewriteArchive(dockerArchive, archive, (name) => (/^[0-9a-f]{64}\.(tar|json)$/.test(name) ? `blobs/sha256/${name.slice(0, 64)}` : name), [
      ["oci-layout", '{"imageLayoutVersion":"1.0.0"}'],
      ["index.json", '{"schemaVersion":2,"manifests":[]}'],
    ]);
    const dir = join(temp(), "out-oci-plain");
    const wanted = diffIds[bottom] ?? "";
    const result = await extractTo(archive, dir, [wanted]);
    expect(result.found).toEqual([wanted]);
    expect(await fileDigest(join(dir, `${wanted}.tar`))).toBe(wanted);
    // the other layers were skipped by name, unread
    expect(result.spooled).toBe((await stat(join(dir, `${wanted}.tar`))).size);
  });

  it("finds layers in the legacy Docker layout (<id>/layer.tar) by hashing, deleting what was not wanted", async () => {
    // rewrite the docker-archive as Docker < 25 saved images
    const legacy = join(temp(), "legacy.tar");
    const ids = new Map(diffIds.map((d, i) => [`${d.slice(7)}.tar`, String(i).repeat(64)]));
    await rewriteArchive(
      dockerArchive,
      legacy,
      (name) => (ids.has(name) ? `${ids.get(name) ?? ""}/layer.tar` : name),
      [...ids.values()].flatMap((id): [string, string][] => [
        [`${id}/VERSION`, "1.0"],
        [`${id}/json`, JSON.stringify({ id })],
      ]),
    );

    const dir = join(temp(), "out-legacy");
    const wanted = diffIds[top] ?? "";
    const result = await extractTo(legacy, dir, [wanted]);
    expect(result.found).toEqual([wanted]);
    expect(await readdir(dir)).toEqual([`${wanted}.tar`]);
    // every layer.tar before it had to be hashed to be recognised
    expect(result.spooled).toBeGreaterThan((await stat(join(dir, `${wanted}.tar`))).size);
  });

  it("reports what is not in the save, and rejects a truncated stream", async () => {
    const dir = join(temp(), "out-missing");
    const absent = `sha256:${"2".repeat(64)}`;
    const result = await extractTo(dockerArchive, dir, [absent]);
    expect(result.found).toEqual([]);
    expect(await readdir(dir)).toEqual([]);

    const size = (await stat(dockerArchive)).size;
    const truncated = Readable.from([(await readFile(dockerArchive)).subarray(0, Math.floor(size / 2))]);
    await expect(extractLayers(truncated, { wanted: new Set([diffIds[top] ?? ""]), tempDir: dir, onLayer: () => Promise.resolve() })).rejects.toThrow();
    expect(await readdir(dir)).toEqual([]);
  });
});

/**
 * Copies a tar, renaming entries (and the layer names in manifest.json) with `rename`, adding
 * `extra` small files at the end.
 */
async function rewriteArchive(source: string, dest: string, rename: (name: string) => string, extra: readonly [string, string][]): Promise<void> {
  const pack = tar.pack();
  const written = pipeline(pack, createWriteStream(dest));
  for await (const entry of createReadStream(source).pipe(tar.extract())) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    if (entry.header.type !== "file") continue;
    const name = entry.header.name;
    let data = Buffer.concat(chunks);
    if (name === "manifest.json") {
      const manifest = ManifestJson.parse(JSON.parse(data.toString("utf8")));
      data = Buffer.from(JSON.stringify(manifest.map((m) => ({ ...m, Config: rename(m.Config), Layers: m.Layers.map(rename) }))));
    }
    pack.entry({ name: rename(name) }, data);
  }
  for (const [name, content] of extra) pack.entry({ name }, content);
  pack.finalize();
  await written;
}
