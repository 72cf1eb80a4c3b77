// Small inputs for the image-build tests: synthetic ELF files, .debs made with `dpkg-deb --build`,
// and release tarballs shaped like `npm run release`'s.
import { chmod, mkdir, symlink, writeFile } from "node:fs/promises";
import { dirname, join } from "node:path";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { runTool } from "../../harness/index.js";

const BASE = 0x400000;

/**
 * A minimal x86-64 ELF64 file with a PT_INTERP, one PT_LOAD over the whole file and a PT_DYNAMIC
 * holding DT_NEEDED entries, DT_STRTAB and DT_STRSZ. `machine` overrides e_machine.
 */
export function syntheticElf(options: { interpreter?: string; needed?: readonly string[]; machine?: number } = {}): Buffer {
  const needed = options.needed ?? [];
  const phnum = 3;
  const interpAt = 64 + 56 * phnum;
  const interp = Buffer.from(`${options.interpreter ?? ""}\0`, "latin1");
  const strings = Buffer.concat([Buffer.from([0]), ...needed.map((n) => Buffer.from(`${n}\0`, "latin1"))]);
  const strtabAt = interpAt + interp.length;
  const dynamicAt = Math.ceil((strtabAt + strings.length) / 8) * 8;
  const dynamic = Buffer.alloc(16 * (needed.length + 3));
  let offset = 1;
  needed.forEach((n, i) => {
    dynamic.writeBigInt64LE(1n, i * 16);
    dynamic.writeBigUInt64LE(BigInt(offset), i * 16 + 8);
    offset += n.length + 1;
  });
  const tail = needed.length * 16;
  dynamic.writeBigInt64LE(5n, tail);
  dynamic.writeBigUInt64LE(BigInt(BASE + strtabAt), tail + 8);
  dynamic.writeBigInt64LE(10n, tail + 16);
  dynamic.writeBigUInt64LE(BigInt(strings.length), tail + 24);
  const size = dynamicAt + dynamic.length;
  const file = Buffer.alloc(size);
  Buffer.from([0x7f, 0x45, 0x4c, 0x46, 2, 1, 1]).copy(file, 0);
  file.writeUInt16LE(3, 16); // ET_DYN
  file.writeUInt16LE(options.machine ?? 62, 18);
  file.writeUInt32LE(1, 20);
  file.writeBigUInt64LE(64n, 32); // e_phoff
  file.writeUInt16LE(64, 52);
  file.writeUInt16LE(56, 54);
  file.writeUInt16LE(options.interpreter === undefined ? phnum - 1 : phnum, 56);
  const phdr = (i: number, type: number, at: number, length: number) => {
    const p = 64 + 56 * i;
    file.writeUInt32LE(type, p);
    file.writeBigUInt64LE(BigInt(at), p + 8);
    file.writeBigUInt64LE(BigInt(BASE + at), p + 16);
    file.writeBigUInt64LE(BigInt(BASE + at), p + 24);
    file.writeBigUInt64LE(BigInt(length), p + 32);
    file.writeBigUInt64LE(BigInt(length), p + 40);
  };
  phdr(0, 1, 0, size);
  phdr(1, 2, dynamicAt, dynamic.length);
  if (options.interpreter !== undefined) phdr(2, 3, interpAt, interp.length);
  interp.copy(file, interpAt);
  strings.copy(file, strtabAt);
  dynamic.copy(file, dynamicAt);
  return file;
}

/** A file of a test package: content, a symlink or a directory. */
export type DebFileSpec =
  | { readonly path: string; readonly content: string | Buffer; readonly mode?: number }
  | { readonly path: string; readonly symlink: string }
  | { readonly path: string; readonly dir: true; readonly mode?: number };

/** What a test .deb holds. */
export interface DebSpec {
  readonly name: string;
  readonly version?: string;
  readonly architecture?: string;
  readonly depends?: string;
  readonly files: readonly DebFileSpec[];
}

/** Builds `<dir>/<name>_<version>_<arch>.deb` with dpkg-deb (root-owned members). */
export async function buildDeb(dir: string, spec: DebSpec): Promise<string> {
  const version = spec.version ?? "1.0-1";
  const arch = spec.architecture ?? "amd64";
  const tree = join(dir, `tree-${spec.name}-${version}`);
  await mkdir(join(tree, "DEBIAN"), { recursive: true });
  const control = [
    `Package: ${spec.name}`,
    `Version: ${version}`,
    `Architecture: ${arch}`,
    "Maintainer: Test <test@example.com>",
    ...(spec.depends ? [`Depends: ${spec.depends}`] : []),
    `Description: test package ${spec.name}`,
    " A package made by the image-build tests.",
    "",
  ].join("\n");
  await writeFile(join(tree, "DEBIAN", "control"), control);
  for (const f of spec.files) {
    const at = join(tree, f.path);
    await mkdir(dirname(at), { recursive: true });
    if ("symlink" in f) await symlink(f.symlink, at);
    else if ("dir" in f) {
      await mkdir(at, { recursive: true });
      await chmod(at, f.mode ?? 0o755);
    } else {
      await writeFile(at, f.content);
      await chmod(at, f.mode ?? 0o644);
    }
  }
  const deb = join(dir, `${spec.name}_${version}_${arch}.deb`);
  await runTool("dpkg-deb", ["--root-owner-group", "-Zgzip", "--build", tree, deb]);
  return deb;
}

/** A member of a test release tarball. */
export type TarMember =
  | { readonly name: string; readonly content: string | Buffer; readonly mode?: number }
  | { readonly name: string; readonly symlink: string }
  | { readonly name: string; readonly dir: true };

/** The lifecycle.toml of this project's release (APIs as in src/platform/apis.json). */
export function releaseToml(version: string): string {
  return [
    "[apis]",
    "[apis.buildpack]",
    "  deprecated = []",
    '  supported = ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12"]',
    "[apis.platform]",
    "  deprecated = []",
    '  supported = ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12", "0.13", "0.14", "0.15"]',
    "",
    "[api]",
    '  platform = "0.7"',
    '  buildpack = "0.7"',
    "",
    "[lifecycle]",
    `  version = "${version}"`,
    "",
  ].join("\n");
}

/** The members of a release tarball around `executable`: lifecycle.toml, lifecycle/ and the phase links. */
export function releaseMembers(executable: Buffer, version = "0.1.0"): TarMember[] {
  return [
    { name: "lifecycle.toml", content: releaseToml(version) },
    { name: "lifecycle/", dir: true },
    { name: "lifecycle/analyzer", symlink: "lifecycle" },
    { name: "lifecycle/exporter", symlink: "lifecycle" },
    { name: "lifecycle/lifecycle", content: executable, mode: 0o755 },
    { name: "lifecycle/rebaser", symlink: "lifecycle" },
    { name: "lifecycle/restorer", symlink: "lifecycle" },
  ];
}

/** Writes a gzipped tarball of `members`. */
export async function writeTarball(path: string, members: readonly TarMember[]): Promise<string> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const ended = new Promise<void>((resolve, reject) => {
    pack.on("end", resolve);
    pack.on("error", reject);
  });
  for (const m of members) {
    const common = { name: m.name, uid: 0, gid: 0, mtime: new Date(0) };
    if ("symlink" in m) pack.entry({ ...common, type: "symlink", linkname: m.symlink });
    else if ("dir" in m) pack.entry({ ...common, type: "directory", mode: 0o755 });
    else pack.entry({ ...common, mode: m.mode ?? 0o644 }, m.content);
  }
  pack.finalize();
  await ended;
  await mkdir(dirname(path), { recursive: true });
  await writeFile(path, gzipSync(Buffer.concat(chunks)));
  return path;
}

/** Inputs of a small but complete image build: .debs, a release tarball and a launcher. */
export interface SyntheticInputs {
  readonly debs: string;
  readonly release: string;
  readonly launcher: string;
}

/**
 * Writes synthetic inputs under `dir`: the base packages' closure as tiny .debs holding synthetic
 * libraries (laid out like Debian 12's), a release whose executable needs libc.so.6 through
 * /lib64/ld-linux-x86-64.so.2, and a shell-script launcher.
 */
export async function writeSyntheticInputs(dir: string, version = "0.1.0"): Promise<SyntheticInputs> {
  const debs = join(dir, "debs");
  const lib = "lib/x86_64-linux-gnu";
  await buildDeb(debs, {
    name: "libc6",
    depends: "libgcc-s1",
    files: [
      { path: `${lib}/ld-linux-x86-64.so.2`, content: syntheticElf(), mode: 0o755 },
      { path: `${lib}/libc.so.6`, content: syntheticElf({ needed: ["ld-linux-x86-64.so.2"] }), mode: 0o755 },
      { path: `${lib}/libnsl.so.1`, content: syntheticElf({ needed: ["libc.so.6"] }) },
      { path: "lib64/ld-linux-x86-64.so.2", symlink: `/${lib}/ld-linux-x86-64.so.2` },
      { path: "usr/share/doc/libc6/copyright", content: "libc6 copyright\n" },
    ],
  });
  await buildDeb(debs, {
    name: "libgcc-s1",
    depends: "gcc-12-base (= 1.0-1), libc6 (>= 2.35)",
    files: [
      { path: `${lib}/libgcc_s.so.1`, content: syntheticElf({ needed: ["libc.so.6"] }) },
      { path: "usr/share/doc/libgcc-s1", symlink: "gcc-12-base" },
    ],
  });
  await buildDeb(debs, {
    name: "libstdc++6",
    depends: "gcc-12-base (= 1.0-1), libc6, libgcc-s1",
    files: [{ path: "usr/lib/x86_64-linux-gnu/libstdc++.so.6", content: syntheticElf({ needed: ["libgcc_s.so.1", "libc.so.6"] }) }],
  });
  await buildDeb(debs, { name: "gcc-12-base", files: [{ path: "usr/share/doc/gcc-12-base/copyright", content: "gcc copyright\n" }] });
  const executable = syntheticElf({ interpreter: "/lib64/ld-linux-x86-64.so.2", needed: ["libc.so.6"] });
  const release = await writeTarball(join(dir, `lifecycle-v${version}+linux.x86-64.tgz`), releaseMembers(executable, version));
  const launcher = join(dir, "launcher");
  await writeFile(launcher, "#!/bin/sh\necho launcher\n");
  await chmod(launcher, 0o755);
  return { debs, release, launcher };
}
