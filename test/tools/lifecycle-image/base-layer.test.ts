import { describe, expect, it } from "vitest";
import { type TarEntry } from "../../../src/layers/tar-entry.js";
import { baseLayer, BaseLayerError } from "../../../src/tools/lifecycle-image/base-layer.js";
import type { DebFile } from "../../../src/tools/lifecycle-image/deb-package.js";
import type { ResolvedPackage } from "../../../src/tools/lifecycle-image/debian-packages.js";
import type { ElfDependencies } from "../../../src/tools/lifecycle-image/elf.js";
import { syntheticElf } from "./fixtures.js";
import { NORMALIZED_MTIME } from "../../../src/oci/normalized-time.js";

type FileSpec = { path: string; elf?: Parameters<typeof syntheticElf>[0]; text?: string; symlink?: string; mode?: number; dir?: boolean };

function pkg(name: string, files: FileSpec[], depends: string[] = []): ResolvedPackage {
  const map = new Map<string, DebFile>();
  for (const f of files) {
    if (f.dir) map.set(f.path, { path: f.path, type: "dir", mode: f.mode ?? 0o755 });
    else if (f.symlink !== undefined) map.set(f.path, { path: f.path, type: "symlink", mode: 0o777, linkname: f.symlink });
    else map.set(f.path, { path: f.path, type: "file", mode: f.mode ?? 0o644, content: f.elf ? syntheticElf(f.elf) : Buffer.from(f.text ?? "") });
  }
  const raw = `Package: ${name}\nVersion: 1.0\nArchitecture: amd64\nDescription: ${name}\n`;
  return { deb: { file: `${name}.deb`, control: { raw, package: name, version: "1.0", architecture: "amd64", depends }, files: map }, sha256: `sha256:${"0".repeat(64)}` };
}

/** Packages shaped like Debian 12's: ld.so behind a /lib64 symlink, libstdc++ behind its soname link. */
function debianLike(): ResolvedPackage[] {
  return [
    pkg("libc6", [
      { path: "/lib", dir: true },
      { path: "/lib/x86_64-linux-gnu", dir: true },
      { path: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", elf: {}, mode: 0o755 },
      { path: "/lib/x86_64-linux-gnu/libc.so.6", elf: { needed: ["ld-linux-x86-64.so.2"] }, mode: 0o755 },
      { path: "/lib/x86_64-linux-gnu/libm.so.6", elf: { needed: ["libc.so.6"] } },
      { path: "/lib/x86_64-linux-gnu/libnsl.so.1", elf: { needed: ["libc.so.6"] } },
      { path: "/lib64", dir: true },
      { path: "/lib64/ld-linux-x86-64.so.2", symlink: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" },
      { path: "/usr/share/doc/libc6", dir: true },
      { path: "/usr/share/doc/libc6/copyright", text: "LGPL" },
      { path: "/usr/share/doc/libc6/changelog.Debian.gz", text: "changes" },
    ]),
    pkg("libstdc++6", [
      { path: "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30", elf: { needed: ["libm.so.6", "libc.so.6", "libgcc_s.so.1"] } },
      { path: "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", symlink: "libstdc++.so.6.0.30" },
      { path: "/usr/share/doc/libstdc++6", symlink: "gcc-12-base" },
      { path: "/usr/share/gcc/python/printers.py", text: "py" },
    ], ["gcc-12-base"]),
    pkg("libgcc-s1", [{ path: "/lib/x86_64-linux-gnu/libgcc_s.so.1", elf: { needed: ["libc.so.6"] } }], ["gcc-12-base"]),
    pkg("gcc-12-base", [{ path: "/usr/share/doc/gcc-12-base/copyright", text: "GPL with runtime exception" }]),
  ];
}

const executable: ElfDependencies = { machine: 62, interpreter: "/lib64/ld-linux-x86-64.so.2", needed: ["libstdc++.so.6", "libm.so.6", "libc.so.6"] };

/** A file entry's content as text ("" for none). */
function text(e: TarEntry | undefined): string {
  return e?.content ? Buffer.from(e.content).toString("utf8") : "";
}

function byName(entries: readonly TarEntry[]): Map<string, TarEntry> {
  return new Map(entries.map((e) => [e.name as string, e]));
}

describe("baseLayer", () => {
  it("takes the interpreter and the library closure (with the symlinks leading to them), not the rest of the packages", async () => {
    const layer = await baseLayer(debianLike(), executable);
    expect(layer.libraries).toEqual([
      { path: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", package: "libc6" },
      { path: "/lib/x86_64-linux-gnu/libc.so.6", package: "libc6" },
      { path: "/lib/x86_64-linux-gnu/libgcc_s.so.1", package: "libgcc-s1" },
      { path: "/lib/x86_64-linux-gnu/libm.so.6", package: "libc6" },
      { path: "/lib64/ld-linux-x86-64.so.2", package: "libc6" },
      { path: "/usr/lib/x86_64-linux-gnu/libstdc++.so.6", package: "libstdc++6" },
      { path: "/usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30", package: "libstdc++6" },
    ]);
    const names = layer.entries.map((e) => e.name);
    expect(names).not.toContain("/lib/x86_64-linux-gnu/libnsl.so.1");
    expect(names).not.toContain("/usr/share/gcc/python/printers.py");
    expect(names).not.toContain("/usr/share/doc/libc6/changelog.Debian.gz");
  });

  it("adds copyrights, dpkg records, root's passwd and group entries, nsswitch.conf and a sticky /tmp", async () => {
    const entries = byName((await baseLayer(debianLike(), executable)).entries);
    expect(text(entries.get("/usr/share/doc/gcc-12-base/copyright"))).toBe("GPL with runtime exception");
    expect(text(entries.get("/usr/share/doc/libc6/copyright"))).toBe("LGPL");
    expect(entries.get("/usr/share/doc/libstdc++6")).toMatchObject({ type: "symlink", linkname: "gcc-12-base" });
    expect(text(entries.get("/var/lib/dpkg/status.d/libstdc++6"))).toBe("Package: libstdc++6\nVersion: 1.0\nArchitecture: amd64\nDescription: libstdc++6\n");
    expect(text(entries.get("/etc/passwd"))).toBe("root:x:0:0:root:/root:/sbin/nologin\n");
    expect(text(entries.get("/etc/group"))).toBe("root:x:0:\n");
    expect(text(entries.get("/etc/nsswitch.conf"))).toContain("hosts: files dns\n");
    expect(entries.get("/tmp")).toMatchObject({ type: "dir", mode: 0o1777 });
  });

  it("writes root-owned, normalized, sorted entries with every parent directory before its children", async () => {
    const { entries } = await baseLayer(debianLike(), executable);
    const names = entries.map((e) => e.name as string);
    expect(names).toEqual([...names].sort());
    for (const e of entries) {
      expect(e).toMatchObject({ uid: 0, gid: 0, mtime: NORMALIZED_MTIME });
      expect(e.uname ?? "").toBe("");
      const parent = (e.name as string).replace(/\/[^/]+$/, "");
      if (parent !== "") expect(names.indexOf(parent), `${parent} before ${e.name as string}`).toBeGreaterThanOrEqual(0);
    }
    const modes = byName(entries);
    expect(modes.get("/lib/x86_64-linux-gnu/libc.so.6")?.mode).toBe(0o755);
    expect(modes.get("/lib/x86_64-linux-gnu/libm.so.6")?.mode).toBe(0o644);
    expect(modes.get("/var/lib/dpkg/status.d")).toMatchObject({ type: "dir", mode: 0o755 });
  });

  it("gives the same entries whatever order the packages come in", async () => {
    const a = await baseLayer(debianLike(), executable);
    const b = await baseLayer(debianLike().reverse(), executable);
    const view = (e: TarEntry) => [e.name, e.type, e.mode, e.content ? Buffer.from(e.content).toString("hex") : ""];
    expect(b.entries.map(view)).toEqual(a.entries.map(view));
  });

  it("names a library none of the packages has, and who needs it", async () => {
    const packages = debianLike().filter((p) => p.deb.control.package !== "libgcc-s1");
    await expect(baseLayer(packages, executable)).rejects.toThrow(
      new BaseLayerError("libgcc_s.so.1 (needed by /usr/lib/x86_64-linux-gnu/libstdc++.so.6.0.30) is in none of the packages (libc6, libstdc++6, gcc-12-base)"),
    );
    await expect(baseLayer(debianLike(), { ...executable, interpreter: "/lib/ld-musl-x86_64.so.1" })).rejects.toThrow(
      "the executable's interpreter /lib/ld-musl-x86_64.so.1 is in none of the packages",
    );
  });

  it("refuses two packages that ship different files at one path, and a library for another machine", async () => {
    const clash = [...debianLike(), pkg("other", [{ path: "/lib/x86_64-linux-gnu/libc.so.6", text: "not libc" }])];
    await expect(baseLayer(clash, executable)).rejects.toThrow("/lib/x86_64-linux-gnu/libc.so.6 differs between libc6 and other");
    const arm = debianLike();
    arm[2] = pkg("libgcc-s1", [{ path: "/lib/x86_64-linux-gnu/libgcc_s.so.1", elf: { machine: 183 } }]);
    await expect(baseLayer(arm, executable)).rejects.toThrow("/lib/x86_64-linux-gnu/libgcc_s.so.1 is not an x86-64 library");
  });
});
