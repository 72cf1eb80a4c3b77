import { createHash } from "node:crypto";
import { Readable } from "node:stream";
import tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { ArchiveWriter, dockerArchive, LayerContentError, type ArchiveSpec, type LayerContent } from "../../../src/image/daemon/docker-archive.js";

function content(bytes: Buffer, size = bytes.length): LayerContent {
  return { size, open: () => Promise.resolve(Readable.from([bytes])) };
}

const sha = (b: Buffer | string): string => `sha256:${createHash("sha256").update(b).digest("hex")}`;

async function entries(spec: ArchiveSpec): Promise<{ name: string; data: Buffer }[]> {
  const out: { name: string; data: Buffer }[] = [];
  let layerBytes = 0;
  for await (const entry of Readable.from(dockerArchive(spec, { layerBytes: (n) => (layerBytes += n) })).pipe(tar.extract())) {
    const chunks: Buffer[] = [];
    for await (const c of entry) chunks.push(c as Buffer);
    out.push({ name: entry.header.name, data: Buffer.concat(chunks) });
  }
  out.push({ name: "(layer bytes)", data: Buffer.from(String(layerBytes)) });
  return out;
}

describe("the docker-archive a daemon loads", () => {
  const layerA = Buffer.alloc(1536, 1);
  const layerB = Buffer.alloc(700, 2);
  const config = Buffer.from('{"rootfs":{"type":"layers","diff_ids":[]}}');

  it("has the config, one file per distinct layer sent, zero-byte placeholders and manifest.json last", async () => {
    const got = await entries({
      config,
      repoTags: ["docker.io/library/app:latest"],
      layers: [{ diffId: sha("held") }, { diffId: sha(layerA), content: content(layerA) }, { diffId: sha(layerB), content: content(layerB) }, { diffId: sha(layerA), content: content(layerA) }],
    });
    const configName = `${sha(config).slice(7)}.json`;
    const aName = `${sha(layerA).slice(7)}.tar`;
    const bName = `${sha(layerB).slice(7)}.tar`;
    expect(got.map((e) => e.name)).toEqual([configName, "blank_0", aName, bName, "manifest.json", "(layer bytes)"]);
    expect(got[0]?.data.equals(config)).toBe(true);
    expect(got[1]?.data.length).toBe(0);
    expect(got[2]?.data.equals(layerA)).toBe(true);
    expect(JSON.parse(got[4]?.data.toString() ?? "")).toEqual([
      { Config: configName, RepoTags: ["docker.io/library/app:latest"], Layers: ["blank_0", aName, bName, aName] },
    ]);
    // the duplicate layer is written once
    expect(got[5]?.data.toString()).toBe(String(layerA.length + layerB.length));
  });

  it("stops with a clear error when a layer's bytes are not what its size or diffID promise", async () => {
    const spec = (c: LayerContent, diffId = sha(layerA)): ArchiveSpec => ({ config, repoTags: [], layers: [{ diffId, content: c }] });
    const drain = async (s: ArchiveSpec): Promise<void> => {
      for await (const _ of dockerArchive(s, { layerBytes: () => undefined })) {
        // consume
      }
    };
    await expect(drain(spec(content(layerA, 2048)))).rejects.toThrow(new LayerContentError(`layer ${sha(layerA)} ended after 1536 of 2048 bytes`));
    await expect(drain(spec(content(layerA, 1024)))).rejects.toThrow(`layer ${sha(layerA)} is larger than its 1024 bytes`);
    await expect(drain(spec(content(layerA), sha(layerB)))).rejects.toThrow(`layer content does not match its diffID: expected ${sha(layerB)}, found ${sha(layerA)}`);
  });

  it("written in parts: layers given early come first, once, and the manifest still lists every layer in order", async () => {
    const writer = new ArchiveWriter({ layerBytes: () => undefined });
    const parts = [
      writer.layer(sha(layerB), content(layerB)),
      writer.layer(sha(layerB), content(layerB)),
      writer.finish({ config, repoTags: ["docker.io/library/app:latest"], layers: [{ diffId: sha("held") }, { diffId: sha(layerA), content: content(layerA) }, { diffId: sha(layerB) }] }),
    ];
    const all = async function* (): AsyncGenerator<Buffer> {
      for (const part of parts) yield* part;
    };
    const got: { name: string; size: number }[] = [];
    for await (const entry of Readable.from(all()).pipe(tar.extract())) {
      let size = 0;
      for await (const c of entry) size += (c as Buffer).length;
      got.push({ name: entry.header.name, size });
    }
    const aName = `${sha(layerA).slice(7)}.tar`;
    const bName = `${sha(layerB).slice(7)}.tar`;
    expect(got.map((e) => e.name)).toEqual([bName, `${sha(config).slice(7)}.json`, "blank_0", aName, "manifest.json"]);
    expect(writer.layerNames([{ diffId: sha("held") }, { diffId: sha(layerA), content: content(layerA) }, { diffId: sha(layerB) }])).toEqual(["blank_0", aName, bName]);
  });

  it("does not hash the exporter's own tars again, but still checks their size", async () => {
    const own = (c: LayerContent): LayerContent => ({ ...c, selfHashed: true });
    const drain = async (c: LayerContent): Promise<number> => {
      let n = 0;
      for await (const piece of dockerArchive({ config, repoTags: [], layers: [{ diffId: sha(layerA), content: c }] }, { layerBytes: () => undefined })) n += piece.length;
      return n;
    };
    expect(await drain(own(content(layerA)))).toBeGreaterThan(layerA.length);
    await expect(drain(own(content(layerA, 2048)))).rejects.toThrow(`layer ${sha(layerA)} ended after 1536 of 2048 bytes`);
  });
});
