import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { describe, expect, it } from "vitest";
import { diffIdOf } from "../../src/layers/pipeline.js";
import { tarCopySource } from "../../src/layers/tar-copy-source.js";
import { tarStream } from "../../src/layers/tar-writer.js";
import { extensionIdOf } from "../../src/phase/exporter/extension-layers.js";
import { NORMALIZED_MTIME } from "../../src/oci/normalized-time.js";

interface Header {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  mtime: number;
  uname: string;
  gname: string;
  linkname: string | null;
  size: number;
  content: string;
}

/** A tar as kaniko writes one: relative names, real mtimes, owner names, a hard link. */
async function kanikoTar(): Promise<Buffer> {
  const pack = tar.pack();
  const mtime = new Date("2024-05-06T07:08:09Z");
  const owner = { uid: 1000, gid: 1001, uname: "cnb", gname: "cnb", mtime };
  pack.entry({ name: "etc/", type: "directory", mode: 0o755, ...owner });
  pack.entry({ name: "etc/from-ext.txt", mode: 0o4640, ...owner }, "hello from the extension\n");
  pack.entry({ name: "etc/link.txt", type: "link", linkname: "etc/from-ext.txt", mode: 0o640, ...owner });
  pack.entry({ name: "etc/sym", type: "symlink", linkname: "from-ext.txt", mode: 0o777, ...owner });
  pack.entry({ name: "etc/big.bin", mode: 0o600, ...owner }, Buffer.alloc(3 * 1024 * 1024 + 17, 7));
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const c of pack) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

async function headersOf(bytes: Buffer): Promise<Header[]> {
  const extract = tar.extract();
  Readable.from([bytes]).pipe(extract);
  const out: Header[] = [];
  for await (const entry of extract) {
    const parts: Buffer[] = [];
    for await (const c of entry) parts.push(c as Buffer);
    const h = entry.header;
    out.push({
      name: h.name,
      type: h.type ?? "",
      mode: h.mode ?? 0,
      uid: h.uid ?? 0,
      gid: h.gid ?? 0,
      mtime: Math.floor((h.mtime?.getTime() ?? 0) / 1000),
      uname: h.uname ?? "",
      gname: h.gname ?? "",
      linkname: h.linkname ?? null,
      size: h.size ?? 0,
      content: Buffer.concat(parts).toString("utf8").slice(0, 40),
    });
  }
  return out;
}

async function copied(input: Buffer): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of tarStream(tarCopySource(() => Promise.resolve(Readable.from([input]))).entries())) chunks.push(c as Buffer);
  return Buffer.concat(chunks);
}

describe("tarCopySource", () => {
  it("keeps every entry as it is except the mtime (1980) and the owner names", async () => {
    const original = await kanikoTar();
    const before = await headersOf(original);
    const after = await headersOf(await copied(original));
    expect(after).toEqual(before.map((h) => ({ ...h, mtime: NORMALIZED_MTIME, uname: "", gname: "" })));
    expect(after.find((h) => h.name === "etc/link.txt")).toMatchObject({ type: "link", linkname: "etc/from-ext.txt" });
    expect(after.find((h) => h.name === "etc/from-ext.txt")).toMatchObject({ mode: 0o4640, uid: 1000, gid: 1001 });
  });

  it("gives the same layer for a gzipped blob as for the plain tar", async () => {
    const original = await kanikoTar();
    const plain = await diffIdOf(tarCopySource(() => Promise.resolve(Readable.from([original]))));
    const gz = gzipSync(original);
    // fed in small pieces so the gzip magic straddles reads
    const pieces = [gz.subarray(0, 1), gz.subarray(1, 2), gz.subarray(2)];
    const zipped = await diffIdOf(tarCopySource(() => Promise.resolve(Readable.from(pieces))));
    expect(zipped.diffId).toBe(plain.diffId);
    expect((await headersOf(await copied(gz))).map((h) => h.name)).toContain("etc/big.bin");
  });

  it("fails when the blob fails (a corrupt or truncated input), not with a partial layer", async () => {
    const original = await kanikoTar();
    const failing = () =>
      Promise.resolve(
        Readable.from(
          (async function* () {
            yield original.subarray(0, 4096);
            await new Promise((resolve) => setImmediate(resolve));
            throw new Error("blob sha256:x failed verification");
          })(),
        ),
      );
    await expect(diffIdOf(tarCopySource(failing))).rejects.toThrow(/failed verification|Unexpected end/);
    await expect(diffIdOf(tarCopySource(() => Promise.resolve(Readable.from([gzipSync(original).subarray(0, 200)]))))).rejects.toThrow();
  });
});

describe("extensionIdOf", () => {
  it("reads the extension id the extender writes into a layer's history", () => {
    expect(extensionIdOf({ created_by: "Layer: 'RUN apt-get install -y curl', Created by extension: acme/curl" })).toBe("acme/curl");
    expect(extensionIdOf({ created_by: "/bin/sh -c apt-get install curl" })).toBe("from extensions");
    expect(extensionIdOf(undefined)).toBe("from extensions");
  });
});
