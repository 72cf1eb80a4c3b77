// Tar header encoding that reproduces Go's `archive/tar` Writer byte for byte for the headers the
// lifecycle writes (Format left unset, so Go picks USTAR when it can and PAX otherwise).
import { BLOCK_SIZE, blockPadding, pathBytes } from "./tar-entry.js";
import type { TarEntry, TarEntryType } from "./tar-entry.js";
import { NORMALIZED_MTIME } from "../oci/normalized-time.js";

/** A header that Go's writer would refuse or only encode as GNU (which we never write). */
export class TarHeaderError extends Error {
  readonly code = "TAR_HEADER";

  constructor(message: string) {
    super(`archive/tar: ${message}`);
    this.name = "TarHeaderError";
  }
}

const TYPE_FLAG: Record<TarEntryType, number> = {
  file: 0x30, // '0'
  symlink: 0x32, // '2'
  link: 0x31, // '1'
  char: 0x33, // '3'
  block: 0x34, // '4'
  dir: 0x35, // '5'
  fifo: 0x36, // '6'
};
const TYPE_PAX = 0x78; // 'x'
const SLASH = 0x2f;
const NAME_SIZE = 100;
const PREFIX_SIZE = 155;
const MAX_PAX_DATA = 1 << 20; // Go's maxSpecialFileSize

// Field offsets and lengths of the USTAR block (Go format.go).
const F = {
  name: [0, 100],
  mode: [100, 8],
  uid: [108, 8],
  gid: [116, 8],
  size: [124, 12],
  mtime: [136, 12],
  chksum: [148, 8],
  typeflag: [156, 1],
  linkname: [157, 100],
  magic: [257, 6],
  version: [263, 2],
  uname: [265, 32],
  gname: [297, 32],
  devmajor: [329, 8],
  devminor: [337, 8],
  prefix: [345, 155],
} as const;
type Field = readonly [number, number];

const USTAR_MAGIC = Buffer.from("ustar\0", "latin1");
const USTAR_VERSION = Buffer.from("00", "latin1");

/** Whether every byte is ASCII and non-NUL (Go `isASCII`). */
function isAscii(b: Uint8Array): boolean {
  for (let i = 0; i < b.length; i++) {
    const c = b[i]!;
    if (c >= 0x80 || c === 0) return false;
  }
  return true;
}

/** Drops non-ASCII and NUL bytes (Go `toASCII`; multi-byte runes consist only of bytes >= 0x80). */
function toAscii(b: Buffer): Buffer {
  if (isAscii(b)) return b;
  return Buffer.from(b.filter((c) => c < 0x80 && c !== 0));
}

/** Largest value + 1 that an n-byte octal field (n-1 digits + NUL) holds, for the widths used. */
const OCTAL_LIMIT: Record<number, number> = { 7: 8 ** 6, 8: 8 ** 7, 12: 8 ** 11 };

/** Go `fitsInOctal`: x fits an n-byte field as zero-padded octal plus NUL. */
function fitsInOctal(n: number, x: number): boolean {
  return x >= 0 && (n >= 22 || x < (OCTAL_LIMIT[n] ?? 8 ** (n - 1)));
}

/** Go `formatString`: copy, NUL-terminate when room, and never leave a trailing '/' in a truncated field. */
function formatString(blk: Buffer, [off, len]: Field, s: Buffer): void {
  const n = Math.min(s.length, len);
  s.copy(blk, off, 0, n);
  if (s.length < len) blk[off + s.length] = 0;
  if (s.length > len && blk[off + len - 1] === SLASH) {
    let k = len - 1;
    while (k > 0 && s[k - 1] === SLASH) k--;
    blk[off + k] = 0;
  }
}

/** Go `formatOctal`: zero-padded octal with a trailing NUL; values that do not fit are written as 0. */
function formatOctal(blk: Buffer, [off, len]: Field, x: number): void {
  let v = fitsInOctal(len, x) ? x : 0;
  blk[off + len - 1] = 0;
  for (let i = off + len - 2; i >= off; i--) {
    blk[i] = 0x30 + (v % 8);
    v = Math.floor(v / 8);
  }
}

/** Writes magic/version (USTAR and PAX share them) and the checksum as Go's `setFormat` does. */
function finishBlock(blk: Buffer): void {
  USTAR_MAGIC.copy(blk, F.magic[0]);
  USTAR_VERSION.copy(blk, F.version[0]);
  // The checksum field is still all NUL here and counts as eight spaces.
  let sum = 8 * 0x20;
  for (let i = 0; i < BLOCK_SIZE; i++) sum += blk[i]!;
  formatOctal(blk, [F.chksum[0], 7], sum);
  blk[F.chksum[0] + 7] = 0x20;
}

/** Go `splitUSTARPath`: split a long ASCII name at a '/' into a <=155-byte prefix and <=100-byte name. */
export function splitUstarPath(name: Buffer): [Buffer, Buffer] | undefined {
  let length = name.length;
  if (length <= NAME_SIZE || !isAscii(name)) return undefined;
  if (length > PREFIX_SIZE + 1) length = PREFIX_SIZE + 1;
  else if (name[length - 1] === SLASH) length--;
  const i = name.subarray(0, length).lastIndexOf(SLASH);
  const nlen = name.length - i - 1;
  if (i <= 0 || nlen > NAME_SIZE || nlen === 0 || i > PREFIX_SIZE) return undefined;
  return [name.subarray(0, i), name.subarray(i + 1)];
}

/** Go `path.Clean` (lexical) on a byte-preserving (latin1) string. */
export function cleanPath(p: string): string {
  if (p === "") return ".";
  const rooted = p.startsWith("/");
  const out: string[] = [];
  for (const seg of p.split("/")) {
    if (seg === "" || seg === ".") continue;
    if (seg === "..") {
      if (out.length > 0 && out[out.length - 1] !== "..") out.pop();
      else if (!rooted) out.push("..");
      continue;
    }
    out.push(seg);
  }
  const joined = out.join("/");
  if (rooted) return `/${joined}`;
  return joined === "" ? "." : joined;
}

/** Go `formatPAXRecord`: "<len> <key>=<value>\n" where len counts the whole record. */
function paxRecord(key: string, value: Buffer): Buffer {
  let size = key.length + value.length + 3;
  size += String(size).length;
  const recordLength = (n: number): number => `${n} ${key}=`.length + value.length + 1;
  if (recordLength(size) !== size) size = recordLength(size); // the length gained a digit
  return Buffer.concat([Buffer.from(`${size} ${key}=`, "latin1"), value, Buffer.from("\n", "latin1")]);
}

/** The name Go gives the extended header of `name`: `<dir>/PaxHeaders.0/<base>` (path.Join cleaned). */
function paxHeaderName(name: Buffer): Buffer {
  const s = name.toString("latin1");
  const i = s.lastIndexOf("/");
  const parts = [s.slice(0, i + 1), "PaxHeaders.0", s.slice(i + 1)].filter((x) => x !== "");
  return Buffer.from(cleanPath(parts.join("/")), "latin1");
}

/** Decides USTAR vs PAX as Go's `Header.allowedFormats` does; returns the PAX records needed. */
function paxRecordsFor(e: TarEntry, name: Buffer, link: Buffer, size: number, mtime: number): Map<string, Buffer> | undefined {
  let ustar = true;
  const pax = new Map<string, Buffer>();
  if (!isAscii(name) || name.length > NAME_SIZE) {
    if (!splitUstarPath(name)) ustar = false;
    pax.set("path", name);
  }
  if (!isAscii(link) || link.length > NAME_SIZE) {
    ustar = false;
    pax.set("linkpath", link);
  }
  for (const [key, value] of [["uname", e.uname], ["gname", e.gname]] as const) {
    if (!value) continue;
    const bytes = Buffer.from(value, "utf8");
    if (isAscii(bytes) && bytes.length <= F.uname[1]) continue;
    ustar = false;
    pax.set(key, bytes);
  }
  const numeric: [string | undefined, number, number, string][] = [
    [undefined, e.mode, 8, "Mode"],
    ["uid", e.uid, 8, "Uid"],
    ["gid", e.gid, 8, "Gid"],
    ["size", size, 12, "Size"],
    [undefined, e.devmajor ?? 0, 8, "Devmajor"],
    [undefined, e.devminor ?? 0, 8, "Devminor"],
    ["mtime", mtime, 12, "ModTime"],
  ];
  for (const [key, value, width, label] of numeric) {
    if (!Number.isSafeInteger(value)) throw new TarHeaderError(`cannot encode header: ${label}=${value} is not an integer`);
    if (fitsInOctal(width, value)) continue;
    if (key === undefined) throw new TarHeaderError(`cannot encode header: USTAR and PAX cannot encode ${label}=${value}`);
    ustar = false;
    pax.set(key, Buffer.from(String(value), "latin1"));
  }
  if (ustar) return undefined;
  if (["path", "linkpath", "uname", "gname"].some((k) => pax.get(k)?.includes(0))) {
    throw new TarHeaderError("cannot encode header: invalid PAX record (NUL byte)");
  }
  return pax;
}

/** Fills the fields Go's `templateV7Plus` writes (name/linkname via `fmtStr`, numbers as octal). */
function templateBlock(e: TarEntry, name: Buffer, link: Buffer, size: number, mtime: number): Buffer {
  const blk = Buffer.alloc(BLOCK_SIZE);
  blk[F.typeflag[0]] = TYPE_FLAG[e.type];
  formatString(blk, F.name, name);
  formatString(blk, F.linkname, link);
  formatOctal(blk, F.mode, e.mode);
  formatOctal(blk, F.uid, e.uid);
  formatOctal(blk, F.gid, e.gid);
  formatOctal(blk, F.size, size);
  formatOctal(blk, F.mtime, mtime);
  if (e.uname) formatString(blk, F.uname, toAscii(Buffer.from(e.uname, "utf8")));
  if (e.gname) formatString(blk, F.gname, toAscii(Buffer.from(e.gname, "utf8")));
  formatOctal(blk, F.devmajor, e.devmajor ?? 0);
  formatOctal(blk, F.devminor, e.devminor ?? 0);
  return blk;
}

/** Go `writeRawFile` header for a PAX extended header file holding `dataLen` bytes. */
function paxExtBlock(realName: Buffer, dataLen: number): Buffer {
  const blk = Buffer.alloc(BLOCK_SIZE);
  let name = toAscii(paxHeaderName(realName));
  if (name.length > NAME_SIZE) name = name.subarray(0, NAME_SIZE);
  let end = name.length;
  while (end > 0 && name[end - 1] === SLASH) end--;
  name = name.subarray(0, end);
  blk[F.typeflag[0]] = TYPE_PAX;
  formatString(blk, F.name, name);
  formatOctal(blk, F.mode, 0);
  formatOctal(blk, F.uid, 0);
  formatOctal(blk, F.gid, 0);
  formatOctal(blk, F.size, dataLen);
  formatOctal(blk, F.mtime, 0);
  finishBlock(blk);
  return blk;
}

/**
 * Encodes the header(s) Go's `tar.Writer.WriteHeader` emits for `e` (Format unset): one
 * USTAR block, or a PAX extended header (block + padded records) followed by the main block.
 */
export function encodeTarHeader(e: TarEntry): Buffer {
  const name = pathBytes(e.name);
  const link = e.linkname === undefined ? Buffer.alloc(0) : pathBytes(e.linkname);
  const size = e.type === "file" ? (e.size ?? e.content?.length ?? 0) : 0;
  const mtime = e.mtime ?? NORMALIZED_MTIME;
  if (e.type !== "dir" && e.type !== "symlink" && name.at(-1) === SLASH) {
    throw new TarHeaderError("cannot encode header: filename may not have trailing slash");
  }
  if (size < 0) throw new TarHeaderError("cannot encode header: negative size");
  const pax = paxRecordsFor(e, name, link, size, mtime);
  if (pax === undefined) {
    const split = splitUstarPath(name);
    const blk = templateBlock(e, split ? split[1] : name, link, size, mtime);
    if (split) formatString(blk, F.prefix, split[0]);
    finishBlock(blk);
    return blk;
  }
  const keys = [...pax.keys()].sort();
  const data = Buffer.concat(keys.map((k) => paxRecord(k, pax.get(k)!)));
  if (data.length > MAX_PAX_DATA) throw new TarHeaderError("header field too long");
  const main = templateBlock(e, toAscii(name), toAscii(link), size, mtime);
  finishBlock(main);
  return Buffer.concat([paxExtBlock(name, data.length), data, Buffer.alloc(blockPadding(data.length)), main]);
}
