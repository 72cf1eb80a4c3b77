import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../../harness/vitest/use-temp-dir.js";
import { DebPackageError, dependencyNames, parseControl, readDebPackage } from "../../../src/tools/lifecycle-image/deb-package.js";
import { BASE_PACKAGES, packagesFromDirectory, parsePrintUris } from "../../../src/tools/lifecycle-image/debian-packages.js";
import { buildDeb, type DebSpec } from "./fixtures.js";

const temp = useTempDir("debian-packages");

/** The base's packages as tiny test .debs: libc6 -> libgcc-s1 -> gcc-12-base, libstdc++6. */
function basePackages(overrides: Partial<Record<string, Partial<DebSpec>>> = {}): DebSpec[] {
  const specs: DebSpec[] = [
    { name: "libc6", depends: "libgcc-s1", files: [{ path: "lib/x86_64-linux-gnu/libc.so.6", content: "c" }] },
    { name: "libgcc-s1", depends: "gcc-12-base (= 1.0-1), libc6 (>= 2.35)", files: [{ path: "lib/x86_64-linux-gnu/libgcc_s.so.1", content: "g" }] },
    { name: "libstdc++6", depends: "gcc-12-base (= 1.0-1), libc6 (>= 2.36), libgcc-s1 (>= 4.2)", files: [{ path: "usr/lib/libstdc++.so.6", content: "s" }] },
    { name: "gcc-12-base", architecture: "amd64", files: [{ path: "usr/share/doc/gcc-12-base/copyright", content: "GPL" }] },
  ];
  return specs.map((s) => ({ ...s, ...overrides[s.name] }));
}

describe("control files", () => {
  it("takes the first alternative of each dependency, without versions or architecture qualifiers", () => {
    expect(dependencyNames("gcc-12-base (= 12.2.0-14), libc6 (>= 2.35), debconf | debconf-2.0, perl:any, foo [amd64]")).toEqual([
      "gcc-12-base",
      "libc6",
      "debconf",
      "perl",
      "foo",
    ]);
    expect(dependencyNames(undefined)).toEqual([]);
  });

  it("reads Pre-Depends before Depends and keeps the raw paragraph", () => {
    const raw = "Package: libc6\nVersion: 2.36-9\nArchitecture: amd64\nPre-Depends: libgcc-s1\nDepends: libx\nDescription: C\n more text\n";
    const control = parseControl(raw, "x.deb");
    expect(control).toMatchObject({ package: "libc6", version: "2.36-9", architecture: "amd64", depends: ["libgcc-s1", "libx"] });
    expect(control.raw).toBe(raw);
    expect(() => parseControl("Package: x\n", "x.deb")).toThrow("x.deb: the control file has no Version field");
  });

  it("parses apt-get download --print-uris lines, decoding the epoch", () => {
    const text = [
      "'http://deb.debian.org/debian/pool/main/g/glibc/libc6_2.36-9%2bdeb12u14_amd64.deb' libc6_2.36-9+deb12u14_amd64.deb 2759320 SHA256:ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf",
      "'http://x/p_1%3a2.0_all.deb' p_1%3a2.0_all.deb 10 SHA256:0000000000000000000000000000000000000000000000000000000000000000",
      "W: some warning",
    ].join("\n");
    expect(parsePrintUris(text)).toEqual([
      { name: "libc6", version: "2.36-9+deb12u14", file: "libc6_2.36-9+deb12u14_amd64.deb", sha256: "sha256:ba4f88f73dbc3ae9055f3c20f4523bfdbaf1ad13ff95e258924f77d20b4fbedf" },
      { name: "p", version: "1:2.0", file: "p_1%3a2.0_all.deb", sha256: `sha256:${"0".repeat(64)}` },
    ]);
  });
});

describe("readDebPackage", () => {
  it("reads files, directories and symlinks with their modes, as absolute paths", async () => {
    const deb = await buildDeb(temp(), {
      name: "demo",
      files: [
        { path: "lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", content: "ld", mode: 0o755 },
        { path: "lib64/ld-linux-x86-64.so.2", symlink: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" },
        { path: "usr/share/doc/demo", dir: true, mode: 0o755 },
      ],
    });
    const pkg = await readDebPackage(deb);
    expect(pkg.control).toMatchObject({ package: "demo", version: "1.0-1", architecture: "amd64", depends: [] });
    expect(pkg.files.get("/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2")).toMatchObject({ type: "file", mode: 0o755, content: Buffer.from("ld") });
    expect(pkg.files.get("/lib64/ld-linux-x86-64.so.2")).toMatchObject({ type: "symlink", linkname: "/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2" });
    expect(pkg.files.get("/usr/share/doc/demo")).toMatchObject({ type: "dir", mode: 0o755 });
    expect(pkg.files.has("/")).toBe(false);
  });

  it("fails on a file that is not a .deb with one line naming it", async () => {
    const bogus = join(temp(), "bogus.deb");
    await writeFile(bogus, "not an archive");
    const err = await readDebPackage(bogus).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DebPackageError);
    expect((err as Error).message).toMatch(new RegExp(`^cannot read the package ${bogus} \\(control file\\): dpkg-deb exited 2: .+`));
    expect((err as Error).message).not.toContain("\n");
  });
});

describe("packagesFromDirectory", () => {
  it("takes the dependency closure of the base packages and ignores other .debs", async () => {
    const dir = join(temp(), "closure");
    for (const spec of basePackages()) await buildDeb(dir, spec);
    await buildDeb(dir, { name: "unrelated", files: [] });
    const report = await packagesFromDirectory(dir);
    expect(report.packages.map((p) => p.deb.control.package)).toEqual(["gcc-12-base", "libc6", "libgcc-s1", "libstdc++6"]);
    expect(BASE_PACKAGES.every((name) => report.packages.some((p) => p.deb.control.package === name))).toBe(true);
    expect(report.packages.every((p) => /^sha256:[0-9a-f]{64}$/.test(p.sha256))).toBe(true);
    expect(report.downloaded).toEqual([]);
  });

  it("names the missing dependency and who needs it", async () => {
    const dir = join(temp(), "missing");
    for (const spec of basePackages().filter((s) => s.name !== "gcc-12-base")) await buildDeb(dir, spec);
    await expect(packagesFromDirectory(dir)).rejects.toThrow(`${dir} has no .deb of gcc-12-base (needed by libgcc-s1)`);
  });

  it("refuses two versions of a package and packages of another architecture", async () => {
    const two = join(temp(), "two");
    for (const spec of basePackages()) await buildDeb(two, spec);
    await buildDeb(two, { name: "libc6", version: "2.0-1", files: [] });
    await expect(packagesFromDirectory(two)).rejects.toThrow(/holds two \.debs of libc6/);

    const arm = join(temp(), "arm");
    for (const spec of basePackages({ libc6: { architecture: "arm64" } })) await buildDeb(arm, spec);
    await expect(packagesFromDirectory(arm)).rejects.toThrow(/libc6_1\.0-1_arm64\.deb is for arm64, the image is amd64/);
  });

  it("fails clearly on a directory that does not exist", async () => {
    await expect(packagesFromDirectory(join(temp(), "nope"))).rejects.toThrow(/^cannot read the package directory .*nope: ENOENT/);
  });
});
