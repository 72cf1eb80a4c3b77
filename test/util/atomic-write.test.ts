import { mkdir, mkdtemp, readdir, readFile, rm, stat, writeFile } from "node:fs/promises";
import type * as FsPromises from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

const fault = vi.hoisted(() => ({ failRename: false, failWrite: false }));

vi.mock("node:fs/promises", async (importOriginal) => {
  const actual = await importOriginal<typeof FsPromises>();
  return {
    ...actual,
    rename: async (from: string, to: string) => {
      if (fault.failRename) throw Object.assign(new Error("EXDEV: simulated rename failure"), { code: "EXDEV" });
      return actual.rename(from, to);
    },
    open: async (...args: Parameters<typeof actual.open>) => {
      const handle = await actual.open(...args);
      if (fault.failWrite) {
        const original = handle.writeFile.bind(handle);
        handle.writeFile = async () => {
          await original("partial");
          throw Object.assign(new Error("ENOSPC: simulated disk full"), { code: "ENOSPC" });
        };
      }
      return handle;
    },
  };
});

const { writeFileAtomic } = await import("../../src/util/atomic-write.js");

let dir: string;

beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "atomic-write-"));
  fault.failRename = false;
  fault.failWrite = false;
});

afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("writeFileAtomic", () => {
  it("creates missing parent directories and writes the content", async () => {
    const target = join(dir, "a", "b", "analyzed.toml");
    await writeFileAtomic(target, "x = 1\n");
    expect(await readFile(target, "utf8")).toBe("x = 1\n");
  });

  it("replaces an existing file and leaves no temp file behind", async () => {
    const target = join(dir, "report.toml");
    await writeFile(target, "old");
    await writeFileAtomic(target, new TextEncoder().encode("new"));
    expect(await readFile(target, "utf8")).toBe("new");
    expect(await readdir(dir)).toEqual(["report.toml"]);
  });

  it("applies the requested mode (before umask)", async () => {
    const target = join(dir, "script");
    await writeFileAtomic(target, "#!/bin/sh\n", { mode: 0o600 });
    expect((await stat(target)).mode & 0o777).toBe(0o600);
  });

  it("keeps the old content and removes the temp file when the rename fails", async () => {
    const target = join(dir, "group.toml");
    await writeFile(target, "original");
    fault.failRename = true;
    await expect(writeFileAtomic(target, "replacement")).rejects.toThrow(/simulated rename failure/);
    expect(await readFile(target, "utf8")).toBe("original");
    expect(await readdir(dir)).toEqual(["group.toml"]);
  });

  it("keeps the old content and removes the temp file when writing fails", async () => {
    const target = join(dir, "store.toml");
    await writeFile(target, "original");
    fault.failWrite = true;
    await expect(writeFileAtomic(target, "replacement")).rejects.toThrow(/simulated disk full/);
    expect(await readFile(target, "utf8")).toBe("original");
    expect(await readdir(dir)).toEqual(["store.toml"]);
  });

  it("does not clobber a directory at the target path", async () => {
    const target = join(dir, "busy");
    await mkdir(target);
    await writeFile(join(target, "keep"), "k");
    await expect(writeFileAtomic(target, "data")).rejects.toThrow();
    expect(await readFile(join(target, "keep"), "utf8")).toBe("k");
    expect(await readdir(dir)).toEqual(["busy"]);
  });

  it("uses a unique temp file per concurrent writer", async () => {
    const target = join(dir, "concurrent");
    const payloads = Array.from({ length: 20 }, (_, i) => `payload-${i}`.repeat(1000));
    await Promise.all(payloads.map((p) => writeFileAtomic(target, p)));
    expect(payloads).toContain(await readFile(target, "utf8"));
    expect(await readdir(dir)).toEqual(["concurrent"]);
  });
});
