import { describe, expect, it } from "vitest";
import { TarHeaderError, encodeTarHeader } from "../../src/layers/index.js";
import type { TarEntry } from "../../src/layers/index.js";
import { GO_WRITER_BIG_LONG_BASE64, MTIME_1980, goBlock, padded } from "./go-tar-fixtures.js";

const file = (name: string, extra: Partial<TarEntry> = {}): TarEntry => ({
  name,
  type: "file",
  mode: 0o644,
  uid: 1000,
  gid: 1000,
  size: 5,
  ...extra,
});

describe("Go-compatible tar headers", () => {
  it("writes a short absolute directory name as one USTAR block, no trailing slash", () => {
    const got = encodeTarHeader({ name: "/layers", type: "dir", mode: 0o755, uid: 0, gid: 0 });
    expect(got).toEqual(goBlock({ name: "/layers", mode: "0000755\0", typeflag: "5" }));
    expect(got.subarray(257, 265).toString("latin1")).toBe("ustar\x0000");
    expect(got.subarray(136, 148).toString("latin1")).toBe(MTIME_1980);
    expect(got.subarray(148, 156).toString("latin1")).toMatch(/^[0-7]{6}\0 $/);
  });

  it("formats numbers as zero-padded octal with a NUL, and keeps setuid/setgid/sticky bits", () => {
    const got = encodeTarHeader(file("/workspace/run.sh", { mode: 0o4755, uid: 0o1750, gid: 7, size: 0o1234567 }));
    expect(got).toEqual(
      goBlock({ name: "/workspace/run.sh", mode: "0004755\0", uid: "0001750\0", gid: "0000007\0", size: "00001234567\0", typeflag: "0" }),
    );
  });

  it("writes symlinks with size 0 and the target in linkname", () => {
    const got = encodeTarHeader({ name: "/cnb/process/web", type: "symlink", mode: 0o755, uid: 0, gid: 0, linkname: "/cnb/lifecycle/launcher", size: 99 });
    expect(got).toEqual(goBlock({ name: "/cnb/process/web", mode: "0000755\0", typeflag: "2", linkname: "/cnb/lifecycle/launcher" }));
  });

  it("writes device numbers and FIFOs", () => {
    const dev = encodeTarHeader({ name: "/dev/null", type: "char", mode: 0o666, uid: 0, gid: 0, devmajor: 1, devminor: 3 });
    expect(dev).toEqual(goBlock({ name: "/dev/null", mode: "0000666\0", typeflag: "3", devmajor: "0000001\0", devminor: "0000003\0" }));
    const fifo = encodeTarHeader({ name: "/tmp/p", type: "fifo", mode: 0o600, uid: 0, gid: 0 });
    expect(fifo).toEqual(goBlock({ name: "/tmp/p", mode: "0000600\0", typeflag: "6" }));
  });

  it("splits a long ASCII name at a slash into prefix (<=155) and name (<=100)", () => {
    const dir = `/layers/${"d".repeat(60)}/${"e".repeat(60)}`;
    const base = "f".repeat(90);
    const got = encodeTarHeader(file(`${dir}/${base}`));
    expect(got).toHaveLength(512);
    expect(got).toEqual(goBlock({ name: base, prefix: dir, uid: "0001750\0", gid: "0001750\0", mode: "0000644\0", size: "00000000005\0", typeflag: "0" }));
  });

  it("uses the last slash within the first 156 bytes for the split", () => {
    // 150-byte prefix candidate then a 100-byte base: splits at the slash before the base.
    const name = `/${"a".repeat(98)}/${"b".repeat(50)}/${"c".repeat(100)}`;
    const got = encodeTarHeader(file(name));
    expect(got.subarray(0, 100).toString("latin1")).toBe("c".repeat(100));
    expect(got.subarray(345, 500).toString("latin1").replace(/\0+$/, "")).toBe(`/${"a".repeat(98)}/${"b".repeat(50)}`);
  });

  it("falls back to PAX (path record, PaxHeaders.0 name) when a name cannot be split", () => {
    const name = `/workspace/${"x".repeat(120)}`; // base name longer than 100 bytes
    const got = encodeTarHeader(file(name));
    const record = `${name.length + 10} path=${name}\n`; // 4 + 131 + 3 = 138, + 3 digits
    expect(record.length).toBe(name.length + 10);
    const pax = goBlock({ name: `/workspace/PaxHeaders.0/${"x".repeat(76)}`, size: `000000${record.length.toString(8).padStart(5, "0")}\0`, mtime: "00000000000\0", typeflag: "x", noDevNumbers: true });
    const main = goBlock({ name: name.slice(0, 100), uid: "0001750\0", gid: "0001750\0", mode: "0000644\0", size: "00000000005\0", typeflag: "0" });
    expect(got).toEqual(Buffer.concat([pax, padded(record), main]));
  });

  it("names the extended header of a top-level entry /PaxHeaders.0/<name>", () => {
    const got = encodeTarHeader({ name: `/${"n".repeat(101)}`, type: "dir", mode: 0o755, uid: 0, gid: 0 });
    expect(got.subarray(0, 100).toString("latin1")).toBe(`/PaxHeaders.0/${"n".repeat(86)}`);
    expect(got[156]).toBe("x".charCodeAt(0));
  });

  it("replaces a trailing slash left by truncation with a NUL (Go formatString)", () => {
    const name = `/${"p".repeat(98)}/${"q".repeat(120)}`; // byte 99 of the name is '/'
    const got = encodeTarHeader(file(name));
    const main = got.subarray(got.length - 512);
    expect(main.subarray(0, 100).toString("latin1")).toBe(`/${"p".repeat(98)}\0`);
  });

  it("uses PAX uid/gid records for ids beyond 2097151 and zeroes the octal fields", () => {
    const got = encodeTarHeader(file("/workspace/a", { uid: 3000000, gid: 2097151 }));
    const record = "15 uid=3000000\n"; // 15 bytes = 017 octal
    const pax = goBlock({ name: "/workspace/PaxHeaders.0/a", size: "00000000017\0", mtime: "00000000000\0", typeflag: "x", noDevNumbers: true });
    const main = goBlock({ name: "/workspace/a", uid: "0000000\0", gid: "7777777\0", mode: "0000644\0", size: "00000000005\0", typeflag: "0" });
    expect(got).toEqual(Buffer.concat([pax, padded(record), main]));
  });

  it("writes long or non-ASCII names and link targets as PAX records sorted by key", () => {
    const target = `/${"t".repeat(120)}`;
    const got = encodeTarHeader({ name: "/app/é", type: "symlink", mode: 0o777, uid: 0, gid: 0, linkname: target });
    const data = got.subarray(512, 1024).toString("utf8").replace(/\0+$/, "");
    expect(data).toBe(`135 linkpath=${target}\n16 path=/app/é\n`);
    const main = got.subarray(1024);
    expect(main.subarray(0, 100).toString("latin1").replace(/\0+$/, "")).toBe("/app/"); // non-ASCII bytes dropped
    expect(main.subarray(157, 257).toString("latin1")).toBe(target.slice(0, 100));
    expect(got.subarray(0, 100).toString("latin1").replace(/\0+$/, "")).toBe("/app/PaxHeaders.0"); // "é" dropped, then trailing '/' trimmed
  });

  it("accounts for the length field gaining a digit in a PAX record", () => {
    // "path" + 3 separators + 91 value bytes = 98, plus 2 digits = 100, which has 3 digits → 101.
    const name = `/é${"v".repeat(88)}`;
    expect(Buffer.byteLength(name)).toBe(91);
    const rec = encodeTarHeader(file(name)).subarray(512, 1024).toString("utf8").replace(/\0+$/, "");
    expect(rec).toBe(`101 path=${name}\n`);
    expect(Buffer.byteLength(rec)).toBe(101);
    const long = `/${"w".repeat(94)}/${"z".repeat(101)}`;
    const rec2 = encodeTarHeader(file(long)).subarray(512, 1024).toString("latin1").replace(/\0+$/, "");
    expect(rec2).toBe(`207 path=${long}\n`);
    expect(rec2.length).toBe(207);
  });

  it("reproduces Go's own writer-big-long.tar golden bytes (PAX path + size, uname/gname)", () => {
    const got = encodeTarHeader({
      name: `${"longname/".repeat(15)}16gig.txt`,
      type: "file",
      mode: 0o644,
      uid: 1000,
      gid: 1000,
      size: 16 * 2 ** 30,
      mtime: 1399583047,
      uname: "guillaume",
      gname: "guillaume",
    });
    expect(got).toEqual(Buffer.from(GO_WRITER_BIG_LONG_BASE64, "base64"));
  });

  it("writes mtimes outside the octal range as PAX mtime records", () => {
    const got = encodeTarHeader(file("/a", { mtime: -1 }));
    expect(got.subarray(512, 1024).toString("latin1")).toContain("12 mtime=-1\n");
    expect(got.subarray(1024 + 136, 1024 + 148).toString("latin1")).toBe("00000000000\0");
  });

  it("refuses headers Go could only write as GNU, and trailing slashes on files", () => {
    expect(() => encodeTarHeader({ name: "/d", type: "char", mode: 0o600, uid: 0, gid: 0, devmajor: 2 ** 21 })).toThrow(TarHeaderError);
    expect(() => encodeTarHeader(file("/a/"))).toThrow(/trailing slash/);
  });
});
