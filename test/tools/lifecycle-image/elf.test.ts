import { spawnSync } from "node:child_process";
import { existsSync, realpathSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { LIBRARY_SEARCH_PATH } from "../../../src/tools/lifecycle-image/base-layer.js";
import { bufferReader, ElfError, readElfDependencies, readElfFileDependencies } from "../../../src/tools/lifecycle-image/elf.js";
import { syntheticElf } from "./fixtures.js";

describe("readElfDependencies", () => {
  it("reads the interpreter and the DT_NEEDED sonames in order", async () => {
    const elf = syntheticElf({ interpreter: "/lib64/ld-linux-x86-64.so.2", needed: ["libstdc++.so.6", "libc.so.6"] });
    const deps = await readElfDependencies(bufferReader(elf), "test");
    expect(deps).toEqual({ machine: 62, interpreter: "/lib64/ld-linux-x86-64.so.2", needed: ["libstdc++.so.6", "libc.so.6"] });
  });

  it("reads a library without an interpreter", async () => {
    const deps = await readElfDependencies(bufferReader(syntheticElf({ needed: ["ld-linux-x86-64.so.2"] })), "lib");
    expect(deps.interpreter).toBeUndefined();
    expect(deps.needed).toEqual(["ld-linux-x86-64.so.2"]);
  });

  it("refuses files that are not 64-bit little-endian ELF, naming them", async () => {
    await expect(readElfDependencies(bufferReader(Buffer.from("#!/bin/sh\necho hi\n".padEnd(80))), "launcher")).rejects.toThrow(
      new ElfError("launcher is not an ELF file"),
    );
    const elf32 = syntheticElf();
    elf32[4] = 1;
    await expect(readElfDependencies(bufferReader(elf32), "x")).rejects.toThrow("x is not a 64-bit little-endian ELF file");
  });

  it("refuses a truncated dynamic segment", async () => {
    const elf = syntheticElf({ needed: ["libc.so.6"] });
    await expect(readElfDependencies(bufferReader(elf.subarray(0, elf.length - 8)), "cut")).rejects.toThrow("cut: truncated PT_DYNAMIC");
  });

  it("finds, for the host's own /bin/sh, the same libraries as ldd (searching like ld.so)", async () => {
    const ldd = spawnSync("ldd", ["/bin/sh"], { encoding: "utf8" });
    expect(ldd.status, ldd.stderr).toBe(0);
    const expected = new Set(
      [...ldd.stdout.matchAll(/(\/\S+) \(0x/g)].map((m) => realpathSync(m[1] ?? "")),
    );
    const found = new Set<string>();
    const sh = await readElfFileDependencies("/bin/sh");
    const pending = [...sh.needed];
    if (sh.interpreter) found.add(realpathSync(sh.interpreter));
    for (let soname = pending.shift(); soname; soname = pending.shift()) {
      const dir = LIBRARY_SEARCH_PATH.find((d) => existsSync(join(d, soname)));
      expect(dir, soname).toBeDefined();
      const file = realpathSync(join(dir ?? "", soname));
      if (found.has(file)) continue;
      found.add(file);
      pending.push(...(await readElfFileDependencies(file)).needed);
    }
    expect(found).toEqual(expected);
  });
});
