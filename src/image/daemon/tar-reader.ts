// A minimal streaming tar reader for image saves (`docker save` output): ustar headers, PAX and
// GNU long names, content handed out as slices of the incoming chunks. It reads several times
// faster than tar-stream on large layers (no per-entry stream objects, no copies), which is what a
// partial save spends its time on.

const BLOCK = 512;

/** One archive entry. `content` must be read to its end (or `skip()` called) before the next entry. */
export interface TarItem {
  readonly name: string;
  /** `file` for regular files; other kinds carry no content the caller needs. */
  readonly type: "file" | "directory" | "symlink" | "other";
  readonly size: number;
  /** The entry's bytes, as slices of the input. */
  content(): AsyncGenerator<Buffer>;
  /** Discards the entry's bytes. */
  skip(): Promise<void>;
}

/** A truncated or malformed tar. */
export class TarReadError extends Error {
  override name = "TarReadError";
}

/** Pulls exact byte counts out of a chunked input. */
class ChunkReader {
  private buffer: Buffer = Buffer.alloc(0);
  private ended = false;

  constructor(private readonly iterator: AsyncIterator<unknown>) {}

  /** Makes at least `n` bytes available; false when the input ends first. */
  private async fill(n: number): Promise<boolean> {
    while (this.buffer.length < n && !this.ended) {
      const next = await this.iterator.next();
      if (next.done === true) this.ended = true;
      else this.buffer = this.buffer.length === 0 ? (next.value as Buffer) : Buffer.concat([this.buffer, next.value as Buffer]);
    }
    return this.buffer.length >= n;
  }

  /** Exactly `n` bytes, or undefined when the input ended exactly here; throws when it ends inside. */
  async take(n: number): Promise<Buffer | undefined> {
    if (!(await this.fill(n))) {
      if (this.buffer.length === 0) return undefined;
      throw new TarReadError("the saved image stream ended inside an entry");
    }
    const out = this.buffer.subarray(0, n);
    this.buffer = this.buffer.subarray(n);
    return out;
  }

  /** `n` bytes as they arrive (slices of the input chunks). */
  async *stream(n: number): AsyncGenerator<Buffer> {
    let left = n;
    while (left > 0) {
      if (this.buffer.length === 0 && !(await this.fill(1))) throw new TarReadError("the saved image stream ended inside an entry");
      const part = this.buffer.subarray(0, Math.min(left, this.buffer.length));
      this.buffer = this.buffer.subarray(part.length);
      left -= part.length;
      yield part;
    }
  }
}

function text(block: Buffer, start: number, length: number): string {
  const field = block.subarray(start, start + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? field.length : end).toString("utf8");
}

function number(block: Buffer, start: number, length: number): number {
  const field = block.subarray(start, start + length);
  if ((field[0] ?? 0) & 0x80) {
    // base-256 (GNU) for sizes beyond 8 GiB
    let value = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return value;
  }
  const digits = text(block, start, length).trim();
  return digits === "" ? 0 : parseInt(digits, 8);
}

function checksumOk(block: Buffer): boolean {
  let sum = 0;
  for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (block[i] ?? 0);
  return sum === number(block, 148, 8);
}

/** The `path` of PAX records ("<len> key=value\n"…), if any. */
function paxPath(records: Buffer): string | undefined {
  let path: string | undefined;
  let at = 0;
  while (at < records.length) {
    const space = records.indexOf(0x20, at);
    if (space < 0) break;
    const length = Number(records.subarray(at, space).toString("latin1"));
    if (!Number.isInteger(length) || length <= 0) break;
    const record = records.subarray(space + 1, at + length - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (record.slice(0, eq) === "path") path = record.slice(eq + 1);
    at += length;
  }
  return path;
}

async function collect(chunks: AsyncGenerator<Buffer>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const part of chunks) parts.push(part);
  return Buffer.concat(parts);
}

/** Reads the entries of a tar stream. Ends at the end-of-archive blocks; rejects a truncated or malformed stream. */
export async function* readTar(input: AsyncIterable<unknown>): AsyncGenerator<TarItem> {
  const reader = new ChunkReader(input[Symbol.asyncIterator]());
  let longName: string | undefined;
  for (;;) {
    const block = await reader.take(BLOCK);
    if (block === undefined) throw new TarReadError("the saved image stream ended without the end-of-archive marker");
    if (block.every((b) => b === 0)) return;
    if (!checksumOk(block)) throw new TarReadError("the saved image stream is not a valid tar (bad header checksum)");
    const size = number(block, 124, 12);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    const flag = String.fromCharCode(block[156] ?? 0);
    if (flag === "x" || flag === "L") {
      const data = await collect(reader.stream(padded));
      longName = flag === "x" ? paxPath(data.subarray(0, size)) : text(data, 0, size);
      continue;
    }
    if (flag === "g" || flag === "K") {
      for await (const _ of reader.stream(padded)) {
        // global PAX records and GNU long link names say nothing we use
      }
      continue;
    }
    const prefix = block.subarray(257, 262).toString("latin1") === "ustar" ? text(block, 345, 155) : "";
    const name = longName ?? (prefix === "" ? text(block, 0, 100) : `${prefix}/${text(block, 0, 100)}`);
    longName = undefined;
    const type = flag === "0" || flag === "\0" || flag === "7" ? "file" : flag === "5" ? "directory" : flag === "2" ? "symlink" : "other";
    const contentSize = type === "file" || type === "other" ? size : 0;
    const contentPadded = Math.ceil(contentSize / BLOCK) * BLOCK;
    let consumed = false;
    const item: TarItem = {
      name,
      type,
      size: contentSize,
      async *content() {
        consumed = true;
        let left = contentSize;
        for await (const part of reader.stream(contentPadded)) {
          if (left <= 0) continue;
          const useful = part.length <= left ? part : part.subarray(0, left);
          left -= useful.length;
          yield useful;
        }
      },
      async skip() {
        consumed = true;
        for await (const _ of reader.stream(contentPadded)) {
          // discard
        }
      },
    };
    yield item;
    if (!consumed) await item.skip();
  }
}
