import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseRunToml, readRunTomlIfExists } from "../../../src/platform/files/run.js";
import { parseStackToml, readStackTomlIfExists } from "../../../src/platform/files/stack.js";

// What pack writes for a builder with a run image and mirrors: the primary entry repeated and a
// trailing entry with an empty image.
const PACK_RUN_TOML = `[[images]]
  image = "cnbs/sample-stack-run:jammy"
  mirrors = ["mirror.example.com/cnbs/run:jammy", "gcr.io/cnbs/run:jammy"]

[[images]]
  image = "cnbs/sample-stack-run:jammy"
  mirrors = ["mirror.example.com/cnbs/run:jammy", "gcr.io/cnbs/run:jammy"]

[[images]]
  image = ""
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "run-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("run.toml", () => {
  it("keeps every entry in order, including duplicates and an empty image", () => {
    const run = parseRunToml(PACK_RUN_TOML, "/cnb/run.toml");
    expect(run.images).toEqual([
      { image: "cnbs/sample-stack-run:jammy", mirrors: ["mirror.example.com/cnbs/run:jammy", "gcr.io/cnbs/run:jammy"] },
      { image: "cnbs/sample-stack-run:jammy", mirrors: ["mirror.example.com/cnbs/run:jammy", "gcr.io/cnbs/run:jammy"] },
      { image: "", mirrors: [] },
    ]);
  });

  it("treats a file without [[images]] as no images", () => {
    expect(parseRunToml("# nothing\n", "/cnb/run.toml").images).toEqual([]);
  });

  it("rejects a malformed file naming the entry and field", () => {
    expect(() => parseRunToml('[[images]]\nimage = "a"\nmirrors = "b"\n', "/cnb/run.toml")).toThrow(
      "failed to parse /cnb/run.toml: images[0].mirrors: expected array, got string",
    );
    expect(() => parseRunToml("images = 3", "/cnb/run.toml")).toThrow(
      "failed to parse /cnb/run.toml: images: expected array, got number",
    );
  });

  it("returns undefined for a missing file", async () => {
    expect(await readRunTomlIfExists(join(dir, "run.toml"))).toBeUndefined();
  });
});

describe("stack.toml", () => {
  it("reads only [run-image] image and mirrors", () => {
    const stack = parseStackToml(
      'id = "io.buildpacks.stacks.bionic"\n[build-image]\nimage = "b"\n[run-image]\nimage = "acme/run:bionic"\nmirrors = ["gcr.io/acme/run:bionic"]\n',
      "/cnb/stack.toml",
    );
    expect(stack).toEqual({ runImage: { image: "acme/run:bionic", mirrors: ["gcr.io/acme/run:bionic"] } });
  });

  it("gives an empty run image when the table is missing, and undefined when the file is", async () => {
    expect(parseStackToml("", "/cnb/stack.toml")).toEqual({ runImage: { image: "", mirrors: [] } });
    expect(await readStackTomlIfExists(join(dir, "stack.toml"))).toBeUndefined();
  });
});
