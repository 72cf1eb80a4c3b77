// Test helpers: read archives back with tar-stream and GNU tar, and build fixture trees.
import { execFile } from "node:child_process";
import { Readable } from "node:stream";
import { promisify } from "node:util";
import { extract } from "tar-stream";
import { tarChunks } from "../../src/layers/index.js";
import type { LayerSource } from "../../src/layers/index.js";

const run = promisify(execFile);

/** One entry as tar-stream reads it. */
export interface ReadEntry {
  name: string;
  type: string;
  mode: number;
  uid: number;
  gid: number;
  size: number;
  linkname?: string;
  mtime: number;
  content: Buffer;
}

/** Parses a tar archive with tar-stream (an independent reader). */
export async function readTar(tar: Buffer): Promise<ReadEntry[]> {
  const out: ReadEntry[] = [];
  const ex = extract();
  const done = (async () => {
    for await (const entry of ex) {
      const parts: Buffer[] = [];
      for await (const chunk of entry) parts.push(chunk as Buffer);
      const h = entry.header;
      out.push({
        name: h.name,
        type: h.type ?? "?",
        mode: h.mode ?? -1,
        uid: h.uid ?? -1,
        gid: h.gid ?? -1,
        size: h.size ?? 0,
        mtime: (h.mtime?.getTime() ?? 0) / 1000,
        content: Buffer.concat(parts),
        ...(h.linkname ? { linkname: h.linkname } : {}),
      });
    }
  })();
  Readable.from([tar]).pipe(ex);
  await done;
  return out;
}

/** The whole uncompressed tar of a source, in memory (tests only). */
export async function tarBytes(source: LayerSource, chunkSize?: number): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const c of tarChunks(source.entries(), chunkSize === undefined ? {} : { chunkSize })) parts.push(c);
  return Buffer.concat(parts);
}

/** `tar --numeric-owner -tvf <file>` lines split into [mode, owner, size, name(+ -> target)]. */
export async function gnuTarList(path: string): Promise<{ mode: string; owner: string; size: number; name: string }[]> {
  const { stdout } = await run("tar", ["--numeric-owner", "-tvf", path], { maxBuffer: 64 << 20 });
  return stdout
    .trimEnd()
    .split("\n")
    .filter((l) => l !== "")
    .map((line) => {
      const m = /^(\S+) (\S+)\s+(\d+(?:,\d+)?) \S+ \S+ (.*)$/.exec(line);
      if (!m) throw new Error(`unparsable tar -tv line: ${line}`);
      return { mode: m[1]!, owner: m[2]!, size: Number(m[3]!.split(",")[0]), name: m[4]! };
    });
}

/** Runs a command (for fixtures: GNU tar, mkfifo). */
export async function sh(cmd: string, args: string[]): Promise<string> {
  return (await run(cmd, args, { maxBuffer: 64 << 20 })).stdout;
}
