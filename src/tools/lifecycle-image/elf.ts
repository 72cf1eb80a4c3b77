// Reads what the dynamic loader needs to start an ELF executable or library: the interpreter
// (PT_INTERP) and the DT_NEEDED sonames. Only 64-bit little-endian files are read (x86-64 here).
import { open } from "node:fs/promises";

/** What an ELF file asks of the dynamic loader. */
export interface ElfDependencies {
  /** `e_machine` (62 = x86-64). */
  readonly machine: number;
  /** The program interpreter (PT_INTERP), e.g. `/lib64/ld-linux-x86-64.so.2`. */
  readonly interpreter?: string;
  /** DT_NEEDED entries, in order. */
  readonly needed: readonly string[];
}

/** `e_machine` of x86-64. */
export const EM_X86_64 = 62;

/** Reads `length` bytes at `offset` (fewer at the end of the file). */
export type ByteReader = (offset: number, length: number) => Promise<Buffer>;

/** Not an ELF file this reader understands, or a broken one. */
export class ElfError extends Error {
  override name = "ElfError";
}

const PT_LOAD = 1;
const PT_DYNAMIC = 2;
const PT_INTERP = 3;
const DT_NULL = 0n;
const DT_NEEDED = 1n;
const DT_STRTAB = 5n;
const DT_STRSZ = 10n;

interface Segment {
  readonly type: number;
  readonly offset: number;
  readonly vaddr: number;
  readonly filesz: number;
}

function cString(buf: Buffer, at: number, what: string): string {
  const end = buf.indexOf(0, at);
  if (at < 0 || at >= buf.length || end === -1) throw new ElfError(`${what} is not a terminated string`);
  return buf.toString("latin1", at, end);
}

/** Reads the interpreter and DT_NEEDED entries through `read`. `name` is used in errors. */
export async function readElfDependencies(read: ByteReader, name: string): Promise<ElfDependencies> {
  const header = await read(0, 64);
  if (header.length < 64 || header.readUInt32BE(0) !== 0x7f454c46) throw new ElfError(`${name} is not an ELF file`);
  if (header[4] !== 2 || header[5] !== 1) throw new ElfError(`${name} is not a 64-bit little-endian ELF file`);
  const machine = header.readUInt16LE(18);
  const phoff = Number(header.readBigUInt64LE(32));
  const phentsize = header.readUInt16LE(54);
  const phnum = header.readUInt16LE(56);
  if (phentsize < 56) throw new ElfError(`${name}: program header entries of ${phentsize} bytes`);
  const table = await read(phoff, phentsize * phnum);
  if (table.length < phentsize * phnum) throw new ElfError(`${name}: truncated program headers`);
  const segments: Segment[] = [];
  for (let i = 0; i < phnum; i++) {
    const at = i * phentsize;
    segments.push({
      type: table.readUInt32LE(at),
      offset: Number(table.readBigUInt64LE(at + 8)),
      vaddr: Number(table.readBigUInt64LE(at + 16)),
      filesz: Number(table.readBigUInt64LE(at + 32)),
    });
  }
  const segment = async (s: Segment, what: string): Promise<Buffer> => {
    const bytes = await read(s.offset, s.filesz);
    if (bytes.length < s.filesz) throw new ElfError(`${name}: truncated ${what}`);
    return bytes;
  };

  const interp = segments.find((s) => s.type === PT_INTERP);
  const interpreter = interp ? cString(await segment(interp, "PT_INTERP"), 0, `${name}: PT_INTERP`) : undefined;

  const dynamic = segments.find((s) => s.type === PT_DYNAMIC);
  if (!dynamic) return { machine, ...(interpreter === undefined ? {} : { interpreter }), needed: [] };
  const dyn = await segment(dynamic, "PT_DYNAMIC");
  const neededOffsets: number[] = [];
  let strtab: number | undefined;
  let strsz: number | undefined;
  for (let at = 0; at + 16 <= dyn.length; at += 16) {
    const tag = dyn.readBigInt64LE(at);
    const value = Number(dyn.readBigUInt64LE(at + 8));
    if (tag === DT_NULL) break;
    if (tag === DT_NEEDED) neededOffsets.push(value);
    else if (tag === DT_STRTAB) strtab = value;
    else if (tag === DT_STRSZ) strsz = value;
  }
  if (neededOffsets.length === 0) return { machine, ...(interpreter === undefined ? {} : { interpreter }), needed: [] };
  if (strtab === undefined || strsz === undefined) throw new ElfError(`${name}: DT_NEEDED without a string table`);
  // DT_STRTAB is a virtual address: find the loaded segment that holds it.
  const vaddr = strtab;
  const load = segments.find((s) => s.type === PT_LOAD && vaddr >= s.vaddr && vaddr + strsz <= s.vaddr + s.filesz);
  if (!load) throw new ElfError(`${name}: the dynamic string table is outside the file's loaded segments`);
  const strings = await read(load.offset + (vaddr - load.vaddr), strsz);
  const needed = neededOffsets.map((o) => cString(strings, o, `${name}: DT_NEEDED`));
  return { machine, ...(interpreter === undefined ? {} : { interpreter }), needed };
}

/** A reader over bytes in memory. */
export function bufferReader(bytes: Buffer): ByteReader {
  return (offset, length) => Promise.resolve(bytes.subarray(offset, offset + length));
}

/** Reads a file's ELF dependencies without loading the whole file. */
export async function readElfFileDependencies(path: string): Promise<ElfDependencies> {
  const handle = await open(path, "r");
  try {
    return await readElfDependencies(async (offset, length) => {
      const buf = Buffer.alloc(length);
      const { bytesRead } = await handle.read(buf, 0, length, offset);
      return buf.subarray(0, bytesRead);
    }, path);
  } finally {
    await handle.close();
  }
}
