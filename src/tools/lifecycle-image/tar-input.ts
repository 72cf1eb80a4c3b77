// Reads a tar stream entry by entry (tar-stream), for the release tarball and .deb data archives.
import type { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import tar from "tar-stream";

/** A tar entry header as tar-stream parses it. */
export type TarHeader = tar.Header;
/** The body of an entry: its bytes, once. */
export type TarBody = AsyncIterable<Buffer>;

const noop = (): void => undefined;

/**
 * Calls `onEntry` for every entry of the archive in `input`, in order; a body that `onEntry` does
 * not read is skipped. Rejects with the first error of the input, the parser or `onEntry`.
 */
export async function readTar(input: Readable, onEntry: (header: TarHeader, body: TarBody) => Promise<void>): Promise<void> {
  const extract = tar.extract();
  const piping = pipeline(input, extract);
  piping.catch(noop);
  try {
    for await (const entry of extract) {
      await onEntry(entry.header, entry as TarBody);
      entry.resume();
    }
  } catch (err) {
    input.destroy();
    extract.destroy();
    await piping.catch(noop);
    throw err;
  }
  await piping;
}

/** Reads a whole entry body into memory. */
export async function readBody(body: TarBody): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of body) chunks.push(chunk);
  return Buffer.concat(chunks);
}
