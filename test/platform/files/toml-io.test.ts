import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { z } from "zod";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  PlatformFileError,
  isMissingFileError,
  parseToml,
  readOptionalToml,
  readToml,
  stringifyToml,
  writeToml,
} from "../../../src/platform/files/toml-io.js";

const Schema = z.object({ name: z.string(), tags: z.array(z.string()).optional(), size: z.number().int().optional() });

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "toml-io-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("TOML I/O", () => {
  it("reports syntax errors on one line with the file, line and column", () => {
    const text = 'name = "ok"\n\nbroken = [1,\nx';
    let err: unknown;
    try {
      parseToml(text, Schema, "/cnb/run.toml");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(PlatformFileError);
    const message = (err as Error).message;
    expect(message).toMatch(/^failed to parse \/cnb\/run\.toml: invalid TOML at line \d+, column \d+: \S/);
    expect(message).not.toContain("\n");
    expect((err as PlatformFileError).path).toBe("/cnb/run.toml");
    expect((err as PlatformFileError).code).toBeUndefined();
  });

  it("names the field and both types for schema errors", () => {
    expect(() => parseToml("name = 3", Schema, "/layers/x.toml")).toThrow(
      "failed to parse /layers/x.toml: name: expected string, got number",
    );
    expect(() => parseToml('name = "a"\ntags = ["a", 1]', Schema, "/layers/x.toml")).toThrow(
      "failed to parse /layers/x.toml: tags[1]: expected string, got number",
    );
    expect(() => parseToml('name = "a"\nsize = 1.5', Schema, "/layers/x.toml")).toThrow(
      "failed to parse /layers/x.toml: size: expected integer, got number",
    );
    expect(() => parseToml("", Schema, "/layers/x.toml")).toThrow("failed to parse /layers/x.toml: name: expected string, got nothing");
  });

  it("quotes keys that are not bare in field paths", () => {
    const S = z.object({ layers: z.record(z.string(), z.object({ sha: z.string() })) });
    expect(() => parseToml('[layers."my.layer"]\nsha = 1', S, "/a.toml")).toThrow('layers."my.layer".sha: expected string, got number');
  });

  it("ignores unknown keys", () => {
    expect(parseToml('name = "a"\nextra = { deep = 1 }', Schema, "/a.toml")).toEqual({ name: "a" });
  });

  it("distinguishes a missing file (code ENOENT) from other read errors", async () => {
    const missing = join(dir, "missing.toml");
    await expect(readOptionalToml(missing, Schema)).resolves.toBeUndefined();
    const err: unknown = await readToml(missing, Schema).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformFileError);
    expect(isMissingFileError(err)).toBe(true);
    expect((err as Error).message).toBe(`failed to read ${missing}: no such file or directory`);
    // a directory is not "missing"
    const dirErr: unknown = await readOptionalToml(dir, Schema).catch((e: unknown) => e);
    expect(dirErr).toBeInstanceOf(PlatformFileError);
    expect(isMissingFileError(dirErr)).toBe(false);
    expect((dirErr as PlatformFileError).code).toBe("EISDIR");
  });

  it("writes through the atomic writer and can be read back", async () => {
    const path = join(dir, "nested", "out.toml");
    await writeToml(path, { name: "a", tags: ["x"], skipped: undefined });
    expect(await readToml(path, Schema)).toEqual({ name: "a", tags: ["x"] });
    expect(await readdir(join(dir, "nested"))).toEqual(["out.toml"]);
  });

  it("writes numbers as floats only when asked", () => {
    expect(stringifyToml({ n: 3, f: 1.5 })).toBe("n = 3\nf = 1.5\n");
    expect(stringifyToml({ n: 3, f: 1.5 }, { numbersAsFloat: true })).toBe("n = 3.0\nf = 1.5\n");
  });

  it("reports write failures as a one-line PlatformFileError with the errno code", async () => {
    const blocker = join(dir, "blocker");
    await writeFile(blocker, "i am a file");
    const target = join(blocker, "sub", "f.toml");
    const err: unknown = await writeToml(target, { name: "new" }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(PlatformFileError);
    expect((err as PlatformFileError).code).toBe("ENOTDIR");
    expect((err as Error).message).toBe(`failed to write ${target}: not a directory`);
    expect(await readFile(blocker, "utf8")).toBe("i am a file");
  });
});
