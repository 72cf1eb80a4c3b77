// Hand-assembled tar blocks in Go's `archive/tar` layout (format.go offsets), for byte-level checks.

/** Literal field values of a header block; strings are written as-is (include the NULs Go writes). */
export interface BlockFields {
  name: string;
  mode?: string;
  uid?: string;
  gid?: string;
  size?: string;
  mtime?: string;
  typeflag: string;
  linkname?: string;
  uname?: string;
  gname?: string;
  devmajor?: string;
  devminor?: string;
  prefix?: string;
  /** Go writes devmajor/devminor for real headers but not for PAX extended headers. */
  noDevNumbers?: boolean;
}

const OFF = {
  name: 0, mode: 100, uid: 108, gid: 116, size: 124, mtime: 136, chksum: 148, typeflag: 156,
  linkname: 157, magic: 257, version: 263, uname: 265, gname: 297, devmajor: 329, devminor: 337, prefix: 345,
} as const;

/** 1980-01-01T00:00:01Z as Go formats it in a 12-byte field. */
export const MTIME_1980 = "02263523001\0";

/** A 512-byte header with magic "ustar\0" + "00" and the checksum computed as POSIX defines it. */
export function goBlock(f: BlockFields): Buffer {
  const b = Buffer.alloc(512);
  const put = (off: number, s: string): void => void b.write(s, off, "latin1");
  put(OFF.name, f.name);
  put(OFF.mode, f.mode ?? "0000000\0");
  put(OFF.uid, f.uid ?? "0000000\0");
  put(OFF.gid, f.gid ?? "0000000\0");
  put(OFF.size, f.size ?? "00000000000\0");
  put(OFF.mtime, f.mtime ?? MTIME_1980);
  put(OFF.typeflag, f.typeflag);
  put(OFF.linkname, f.linkname ?? "");
  put(OFF.magic, "ustar\0");
  put(OFF.version, "00");
  put(OFF.uname, f.uname ?? "");
  put(OFF.gname, f.gname ?? "");
  if (!f.noDevNumbers) {
    put(OFF.devmajor, f.devmajor ?? "0000000\0");
    put(OFF.devminor, f.devminor ?? "0000000\0");
  }
  put(OFF.prefix, f.prefix ?? "");
  let sum = 0;
  for (let i = 0; i < 512; i++) sum += i >= OFF.chksum && i < OFF.chksum + 8 ? 0x20 : b[i]!;
  put(OFF.chksum, `${sum.toString(8).padStart(6, "0")}\0 `);
  return b;
}

/** `data` padded with NULs to a multiple of 512 bytes. */
export function padded(data: string | Buffer): Buffer {
  const buf = typeof data === "string" ? Buffer.from(data, "latin1") : data;
  return Buffer.concat([buf, Buffer.alloc((512 - (buf.length % 512)) % 512)]);
}

/**
 * The first 1536 bytes of Go's `testdata/writer-big-long.tar` (golang/go, produced by Go's own
 * writer): a 16 GiB file named ("longname/" x 15) + "16gig.txt", mode 0644, uid/gid 1000, uname and
 * gname "guillaume", mtime 1399583047 — PAX with `path` and `size` records.
 */
export const GO_WRITER_BIG_LONG_BASE64 = [
  "bG9uZ25hbWUvbG9uZ25hbWUvbG9uZ25hbWUvbG9uZ25hbWUvbG9uZ25hbWUvbG9uZ25hbWUvbG9u",
  "Z25hbWUvbG9uZ25hbWUvbG9uZ25hbWUvbG9uZ25hbWUvbG9uZ25hbWUvbDAwMDAwMDAAMDAwMDAw",
  "MAAwMDAwMDAwADAwMDAwMDAwMjU2ADAwMDAwMDAwMDAwADAzMTQyMAAgeAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB1c3RhcgAwMAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAx",
  "NTQgcGF0aD1sb25nbmFtZS9sb25nbmFtZS9sb25nbmFtZS9sb25nbmFtZS9sb25nbmFtZS9sb25n",
  "bmFtZS9sb25nbmFtZS9sb25nbmFtZS9sb25nbmFtZS9sb25nbmFtZS9sb25nbmFtZS9sb25nbmFt",
  "ZS9sb25nbmFtZS9sb25nbmFtZS9sb25nbmFtZS8xNmdpZy50eHQKMjAgc2l6ZT0xNzE3OTg2OTE4",
  "NAoAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAGxv",
  "bmduYW1lL2xvbmduYW1lL2xvbmduYW1lL2xvbmduYW1lL2xvbmduYW1lL2xvbmduYW1lL2xvbmdu",
  "YW1lL2xvbmduYW1lL2xvbmduYW1lL2xvbmduYW1lL2xvbmduYW1lL2wwMDAwNjQ0ADAwMDE3NTAA",
  "MDAwMTc1MAAwMDAwMDAwMDAwMAAxMjMzMjc3MDUwNwAwMzY0NjIAIDAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAdXN0YXIAMDBndWlsbGF1bWUAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAGd1aWxsYXVtZQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAMDAwMDAwMAAwMDAwMDAw",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
  "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
].join("");
