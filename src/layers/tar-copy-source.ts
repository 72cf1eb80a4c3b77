// A layer made from an existing tar (an extension's layer blob): its entries are copied as they are,
// except what every lifecycle layer normalises — mtimes (1980-01-01T00:00:01Z) and owner names.
import { pipeline, Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import tar from "tar-stream";
import type { LayerSource } from "./layer-source.js";
import type { TarEntry, TarEntryType } from "./tar-entry.js";

const ENTRY_TYPES: Readonly<Partial<Record<string, TarEntryType>>> = {
  file: "file",
  "contiguous-file": "file",
  directory: "dir",
  symlink: "symlink",
  link: "link",
  "character-device": "char",
  "block-device": "block",
  fifo: "fifo",
};

/** A tar entry of a kind a layer cannot hold (e.g. a GNU sparse file). */
export class UnsupportedTarEntryError extends Error {
  override name = "UnsupportedTarEntryError";
}

/** Whether a stream starts with the gzip magic; resolves with a stream that still yields every byte. */
async function sniffGzip(input: Readable): Promise<{ gzip: boolean; stream: Readable }> {
  const it = input[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  const head: Buffer[] = [];
  let length = 0;
  let done = false;
  while (length < 2 && !done) {
    const next = await it.next();
    if (next.done) done = true;
    else {
      head.push(next.value);
      length += next.value.length;
    }
  }
  const start = Buffer.concat(head);
  async function* all(): AsyncGenerator<Buffer, void, undefined> {
    if (start.length > 0) yield start;
    if (done) return;
    for (let next = await it.next(); !next.done; next = await it.next()) yield next.value;
  }
  return { gzip: start.length >= 2 && start[0] === 0x1f && start[1] === 0x8b, stream: Readable.from(all(), { objectMode: false }) };
}

/**
 * A layer source over a tar blob, plain or gzipped (sniffed, like Go's TarLayer): each entry keeps
 * its name, type, mode, owner ids, size, link target and device numbers; mtime becomes the
 * lifecycle's fixed time and owner names are cleared. `open` is called once per pass and should
 * return a stream that fails when the blob is not what it should be (a verified blob).
 */
export function tarCopySource(open: () => Promise<Readable>): LayerSource {
  return {
    async *entries(): AsyncGenerator<TarEntry, void, undefined> {
      const { gzip, stream } = await sniffGzip(await open());
      const extract = tar.extract();
      let failure: Error | undefined;
      const onError = (err: Error | null | undefined) => {
        if (err) {
          failure ??= err;
          extract.destroy(err);
        }
      };
      if (gzip) pipeline(stream, createGunzip(), extract, onError);
      else pipeline(stream, extract, onError);
      try {
        for await (const entry of extract) {
          const h = entry.header;
          const type = ENTRY_TYPES[h.type ?? "file"];
          if (!type) throw new UnsupportedTarEntryError(`tar entry '${h.name}' has unsupported type ${h.type ?? "?"}`);
          yield {
            name: h.name,
            type,
            mode: (h.mode ?? 0) & 0o7777,
            uid: h.uid ?? 0,
            gid: h.gid ?? 0,
            ...(type === "file" ? { size: h.size ?? 0, stream: entry as AsyncIterable<Buffer> } : {}),
            ...(h.linkname ? { linkname: h.linkname } : {}),
            ...(type === "char" || type === "block" ? { devmajor: h.devmajor ?? 0, devminor: h.devminor ?? 0 } : {}),
          };
          // whatever the writer did not read (non-file entries) is drained before the next header
          entry.resume();
        }
      } catch (err) {
        throw failure ?? err;
      } finally {
        stream.destroy();
        extract.destroy();
      }
      if (failure) throw failure;
    },
  };
}
