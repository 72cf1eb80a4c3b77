// A streaming scan of a tar's entry headers (names and sizes) that skips the contents: how the
// engine proxy sees what a `POST /images/load` archive holds without buffering it. ustar names
// with prefix, PAX `path`/`size` records and GNU long names are understood; nothing else is.

/** One entry of a scanned archive. */
export interface TarScanEntry {
  readonly name: string;
  /** Content bytes (0 for directories and zero-byte placeholders). */
  readonly size: number;
  /** The tar type flag ("0" for a regular file). */
  readonly type: string;
}

const BLOCK = 512;

function text(block: Buffer, offset: number, length: number): string {
  const field = block.subarray(offset, offset + length);
  const end = field.indexOf(0);
  return field.subarray(0, end < 0 ? length : end).toString("utf8");
}

function numeric(block: Buffer, offset: number, length: number): number {
  const field = block.subarray(offset, offset + length);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    // base-256: big-endian binary after the marker bit
    let n = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) n = n * 256 + (field[i] ?? 0);
    return n;
  }
  const digits = text(block, offset, length).trim();
  return digits === "" ? 0 : parseInt(digits, 8);
}

/** Records of a PAX extended header (`<len> key=value\n`...). */
function paxRecords(data: Buffer): Map<string, string> {
  const records = new Map<string, string>();
  let pos = 0;
  while (pos < data.length) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) break;
    const length = Number(data.subarray(pos, space).toString("ascii"));
    if (!Number.isInteger(length) || length <= 0) break;
    const record = data.subarray(space + 1, pos + length - 1).toString("utf8");
    const eq = record.indexOf("=");
    if (eq > 0) records.set(record.slice(0, eq), record.slice(eq + 1));
    pos += length;
  }
  return records;
}

/** Feeds chunks of a tar stream in order; `entries` lists what was seen so far. */
export class TarScanner {
  /** Entries whose header was read, in archive order. */
  readonly entries: TarScanEntry[] = [];
  /** Whether the end-of-archive (a zero block) was reached. */
  ended = false;
  private header = Buffer.alloc(0);
  /** Content bytes (plus padding) of the current entry still to skip. */
  private skip = 0;
  /** Content of a PAX or GNU long-name entry being collected. */
  private meta?: { kind: "pax" | "gnu"; size: number; chunks: Buffer[]; got: number };
  private pending: { name?: string; size?: number } = {};

  push(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.ended) {
      if (this.skip > 0) {
        const n = Math.min(this.skip, chunk.length - pos);
        if (this.meta && this.meta.got < this.meta.size) {
          const part = chunk.subarray(pos, pos + Math.min(n, this.meta.size - this.meta.got));
          this.meta.chunks.push(part);
          this.meta.got += part.length;
        }
        this.skip -= n;
        pos += n;
        if (this.skip === 0 && this.meta) this.finishMeta();
        continue;
      }
      const need = BLOCK - this.header.length;
      const part = chunk.subarray(pos, pos + need);
      this.header = this.header.length === 0 ? Buffer.from(part) : Buffer.concat([this.header, part]);
      pos += part.length;
      if (this.header.length === BLOCK) {
        const block = this.header;
        this.header = Buffer.alloc(0);
        this.readHeader(block);
      }
    }
  }

  private readHeader(block: Buffer): void {
    if (block.every((b) => b === 0)) {
      this.ended = true;
      return;
    }
    const type = text(block, 156, 1) || "0";
    const size = numeric(block, 124, 12);
    const padded = Math.ceil(size / BLOCK) * BLOCK;
    if (type === "x" || type === "L") {
      this.meta = { kind: type === "x" ? "pax" : "gnu", size, chunks: [], got: 0 };
      this.skip = padded;
      if (padded === 0) this.finishMeta();
      return;
    }
    const prefix = text(block, 345, 155);
    const plain = prefix === "" ? text(block, 0, 100) : `${prefix}/${text(block, 0, 100)}`;
    const entry = { name: this.pending.name ?? plain, size: this.pending.size ?? size, type };
    this.pending = {};
    this.entries.push(entry);
    this.skip = Math.ceil(entry.size / BLOCK) * BLOCK;
  }

  private finishMeta(): void {
    const meta = this.meta;
    this.meta = undefined;
    if (!meta) return;
    const data = Buffer.concat(meta.chunks);
    if (meta.kind === "gnu") {
      this.pending.name = text(data, 0, data.length);
      return;
    }
    const records = paxRecords(data);
    const path = records.get("path");
    const size = records.get("size");
    if (path !== undefined) this.pending.name = path;
    if (size !== undefined) this.pending.size = Number(size);
  }
}
