// The tar entry model shared by the writer and the layer sources.

/** Entry kinds the lifecycle writes (Go `tar.Type*` flags '0', '5', '2', '1', '3', '4', '6'); hard links only when copying a tar. */
export type TarEntryType = "file" | "dir" | "symlink" | "link" | "char" | "block" | "fifo";

/** A path as bytes (exactly as on disk) or as a string (encoded as UTF-8). */
export type TarPath = string | Uint8Array;

/** One archive entry; names are absolute with no trailing slash, as the lifecycle writes them. */
export interface TarEntry {
  readonly name: TarPath;
  readonly type: TarEntryType;
  /** Permission bits plus setuid/setgid/sticky (no file-type bits). */
  readonly mode: number;
  readonly uid: number;
  readonly gid: number;
  /** Content length for files; ignored (written as 0) for every other type. */
  readonly size?: number;
  /** Symlink target, or the name a hard link points at. */
  readonly linkname?: TarPath;
  /** Whole seconds since the epoch; defaults to {@link NORMALIZED_MTIME}. */
  readonly mtime?: number;
  readonly devmajor?: number;
  readonly devminor?: number;
  /** Owner names; always empty in lifecycle layers (the normalising writer clears them). */
  readonly uname?: string;
  readonly gname?: string;
  /** Where a file's content is read from (streamed at write time). */
  readonly source?: TarPath;
  /** In-memory content for small synthetic files (alternative to `source`). */
  readonly content?: Uint8Array;
  /** Content streamed from elsewhere (an entry of another tar), read once while the entry is written. */
  readonly stream?: AsyncIterable<Uint8Array>;
}


/** Size of a tar block. */
export const BLOCK_SIZE = 512;

/** Number of zero bytes needed to pad `size` up to a block boundary. */
export function blockPadding(size: number): number {
  const rem = size % BLOCK_SIZE;
  return rem === 0 ? 0 : BLOCK_SIZE - rem;
}

/** The bytes of a path (strings are UTF-8 encoded). */
export function pathBytes(p: TarPath): Buffer {
  if (typeof p === "string") return Buffer.from(p, "utf8");
  return Buffer.isBuffer(p) ? p : Buffer.from(p.buffer, p.byteOffset, p.byteLength);
}
