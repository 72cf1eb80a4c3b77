// The "shape" of a layer tar: every byte except the contents of its entries (headers, PAX records,
// padding, the end-of-archive marker). Two tars whose shapes hash alike, and whose entries have the
// same contents, are the same bytes. The restorer hashes the shape of a cached tar while extracting
// it (TarShapeHasher, fed the raw bytes) and the shape of the tar the exporter would write for the
// directory it extracted (ViewShapeHasher, fed the exporter's entries). Equal digests prove that the
// exporter would write exactly the cached tar, contents included: the contents of every file are the
// bytes extraction just wrote into it from that very position of the cached tar. So the cached tar's
// diffID is the directory's diffID, without reading the files again.
//
// Why the segmentations agree: TarShapeHasher cuts contents out where the headers it has seen say
// they are (the size field, or a PAX `size` record). The shapes are compared byte for byte, so
// every header the raw hasher parsed equals the header the exporter writes at the same position,
// and both cut the same content lengths. A tar that is not in the exporter's canonical form (other
// header formatting, GNU headers, global PAX headers, extra padding, bytes after the marker) has
// another shape and is simply not vouched for.
import { createHash } from "node:crypto";
import { BLOCK_SIZE, blockPadding, type TarEntry } from "../layers/tar-entry.js";
import { encodeTarHeader } from "../layers/tar-header.js";

const END_MARKER = Buffer.alloc(2 * BLOCK_SIZE);
const ZEROS = Buffer.alloc(BLOCK_SIZE);
/** PAX records larger than this are not ours (Go's maxSpecialFileSize). */
const MAX_META = 1 << 20;
const SIZE_FIELD = 124;
const SIZE_LENGTH = 12;
const TYPE_FIELD = 156;
/** Header types whose data is metadata (PAX, global PAX, GNU long names), not an entry's contents. */
const META_TYPES = new Set([0x78, 0x67, 0x4c, 0x4b]); // 'x' 'g' 'L' 'K'
const PAX = 0x78;

/** Hashes the shape of a raw tar stream fed chunk by chunk (any chunking). */
export class TarShapeHasher {
  private readonly hash = createHash("sha256");
  private readonly header = Buffer.alloc(BLOCK_SIZE);
  private have = 0;
  /** Content bytes still to skip. */
  private skip = 0;
  /** Metadata bytes still to hash (and collect, for PAX). */
  private meta = 0;
  private metaPieces: Buffer[] | undefined;
  /** Padding bytes still to hash. */
  private pad = 0;
  /** The size a PAX header gave the next entry. */
  private paxSize: number | undefined;
  private ended = false;
  private broken = false;

  /** Feeds the next bytes of the tar. */
  update(chunk: Buffer): void {
    let pos = 0;
    while (pos < chunk.length && !this.broken) {
      if (this.ended) {
        this.hash.update(chunk.subarray(pos));
        return;
      }
      const left = chunk.length - pos;
      if (this.skip > 0) {
        const n = Math.min(this.skip, left);
        this.skip -= n;
        pos += n;
      } else if (this.meta > 0) {
        const n = Math.min(this.meta, left);
        const piece = chunk.subarray(pos, pos + n);
        this.hash.update(piece);
        this.metaPieces?.push(Buffer.from(piece));
        this.meta -= n;
        pos += n;
        if (this.meta === 0) this.metaDone();
      } else if (this.pad > 0) {
        const n = Math.min(this.pad, left);
        this.hash.update(chunk.subarray(pos, pos + n));
        this.pad -= n;
        pos += n;
      } else {
        const n = Math.min(BLOCK_SIZE - this.have, left);
        chunk.copy(this.header, this.have, pos, pos + n);
        this.have += n;
        pos += n;
        if (this.have === BLOCK_SIZE) {
          this.have = 0;
          this.hash.update(this.header);
          this.onHeader();
        }
      }
    }
  }

  /** `sha256:<hex>` of the shape, or undefined when the stream was not a tar this hasher follows to its end marker. */
  digest(): string | undefined {
    if (this.broken || !this.ended) return undefined;
    return `sha256:${this.hash.digest("hex")}`;
  }

  private onHeader(): void {
    if (this.header.every((b) => b === 0)) {
      this.ended = true;
      return;
    }
    const size = parseSize(this.header);
    if (size === undefined) {
      this.broken = true;
      return;
    }
    const type = this.header[TYPE_FIELD] ?? 0;
    if (META_TYPES.has(type)) {
      if (size > MAX_META) {
        this.broken = true;
        return;
      }
      this.meta = size;
      this.pad = blockPadding(size);
      this.metaPieces = type === PAX ? [] : undefined;
      if (size === 0) this.metaDone();
      return;
    }
    const content = this.paxSize ?? size;
    this.paxSize = undefined;
    this.skip = content;
    this.pad = blockPadding(content);
  }

  private metaDone(): void {
    if (this.metaPieces === undefined) return;
    const size = paxSizeRecord(Buffer.concat(this.metaPieces));
    this.metaPieces = undefined;
    if (size === null) this.broken = true;
    else if (size !== undefined) this.paxSize = size;
  }
}

/** The size field: octal digits (spaces/NULs around them) or base-256; undefined when neither. */
function parseSize(header: Buffer): number | undefined {
  const field = header.subarray(SIZE_FIELD, SIZE_FIELD + SIZE_LENGTH);
  if (((field[0] ?? 0) & 0x80) !== 0) {
    let value = (field[0] ?? 0) & 0x7f;
    for (let i = 1; i < field.length; i++) value = value * 256 + (field[i] ?? 0);
    return Number.isSafeInteger(value) ? value : undefined;
  }
  const text = field.toString("latin1").replace(/^[ \0]+|[ \0]+$/g, "");
  if (text === "") return 0;
  if (!/^[0-7]+$/.test(text)) return undefined;
  return parseInt(text, 8);
}

/** The `size` record of PAX data: its value, undefined when absent, null when the data is malformed. */
function paxSizeRecord(data: Buffer): number | undefined | null {
  let size: number | undefined;
  for (let pos = 0; pos < data.length; ) {
    const space = data.indexOf(0x20, pos);
    if (space < 0) return null;
    const length = Number(data.toString("latin1", pos, space));
    if (!Number.isSafeInteger(length) || length <= space - pos || pos + length > data.length) return null;
    const record = data.toString("latin1", space + 1, pos + length - 1);
    const eq = record.indexOf("=");
    if (eq < 0) return null;
    if (record.slice(0, eq) === "size") {
      if (!/^\d+$/.test(record.slice(eq + 1))) return null;
      size = Number(record.slice(eq + 1));
    }
    pos += length;
  }
  return size;
}

/** Hashes the shape of the tar the exporter would write for a list of entries (fed in archive order). */
export class ViewShapeHasher {
  private readonly hash = createHash("sha256");

  /** Adds an entry's header(s) and, for a file, the padding after its contents. */
  add(entry: TarEntry): void {
    this.hash.update(encodeTarHeader(entry));
    if (entry.type === "file") {
      const pad = blockPadding(entry.size ?? entry.content?.length ?? 0);
      if (pad > 0) this.hash.update(ZEROS.subarray(0, pad));
    }
  }

  /** `sha256:<hex>` of the shape (the end-of-archive marker included). */
  digest(): string {
    this.hash.update(END_MARKER);
    return `sha256:${this.hash.digest("hex")}`;
  }
}
