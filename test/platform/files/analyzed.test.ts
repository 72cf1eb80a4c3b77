import { mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  parseAnalyzed,
  readAnalyzed,
  readAnalyzedIfExists,
  stringifyAnalyzed,
  writeAnalyzed,
} from "../../../src/platform/files/analyzed.js";
import type { Analyzed } from "../../../src/platform/files/analyzed.js";
import {
  emptyLifecycleMetadata,
  lifecycleMetadataToLabel,
  parseLifecycleMetadataLabel,
} from "../../../src/platform/files/lifecycle-metadata.js";
import { PlatformFileError } from "../../../src/platform/files/toml-io.js";
import { GO_ANALYZED_TOML, GO_LIFECYCLE_LABEL } from "./fixtures.js";

const PATH = "/layers/analyzed.toml";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "analyzed-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("analyzed.toml", () => {
  it("reads a Go-written file into the model with label key names", () => {
    const a = parseAnalyzed(GO_ANALYZED_TOML, PATH);
    expect(a.previousImage).toEqual({ reference: "index.docker.io/acme/app@sha256:1111" });
    expect(a.buildImage).toEqual({ reference: "index.docker.io/acme/build@sha256:3333" });
    expect(a.metadata.app).toEqual([{ sha: "sha256:a1" }, { sha: "sha256:a2" }]);
    expect(a.metadata.processTypes).toEqual({ sha: "sha256:f0" });
    expect(a.metadata.runImage).toEqual({
      topLayer: "sha256:90",
      reference: "index.docker.io/acme/run@sha256:2222",
      image: "acme/run:jammy",
      mirrors: ["mirror.example.com/acme/run:jammy"],
    });
    expect(a.metadata.stack?.runImage.image).toBe("acme/run:jammy");
    const node = a.metadata.buildpacks[0]?.layers.node;
    expect(node).toEqual({ sha: "sha256:c0", data: { version: "20.11.0" }, build: false, launch: true, cache: true });
    expect(a.metadata.buildpacks[0]?.store).toEqual({ metadata: { counter: 3 } });
    expect(a.runImage).toEqual({
      reference: "mirror.example.com/acme/run@sha256:2222",
      image: "mirror.example.com/acme/run:jammy",
      extend: true,
      target: { id: "io.acme.jammy", os: "linux", arch: "arm64", archVariant: "v8", distro: { name: "ubuntu", version: "22.04" } },
    });
  });

  it("round-trips through its own writer without losing anything", () => {
    const a = parseAnalyzed(GO_ANALYZED_TOML, PATH);
    const text = stringifyAnalyzed(a);
    expect(parseAnalyzed(text, PATH)).toEqual(a);
    // key names are the TOML ones, not the label ones
    expect(text).toContain("[metadata.run-image]");
    expect(text).toContain('top-layer = "sha256:90"');
    expect(text).toContain("[metadata.buildpacks.layers.node.metadata]");
    expect(text).toContain("[metadata.stack.run-image]");
    expect(text).toContain('arch-variant = "v8"');
    expect(text).not.toMatch(/runImage|topLayer|archVariant|previousImage|\bdata\b/);
    // numbers in metadata are floats, as Go writes float64 values decoded from the label
    expect(text).toMatch(/counter = 3\.0/);
  });

  it("turns a label into analyzed.toml and back into the identical label", () => {
    const md = parseLifecycleMetadataLabel(GO_LIFECYCLE_LABEL);
    const analyzed: Analyzed = {
      previousImage: { reference: "index.docker.io/acme/app@sha256:1111" },
      metadata: md,
      runImage: { reference: "mirror.example.com/acme/run@sha256:2222", extend: false },
    };
    const reread = parseAnalyzed(stringifyAnalyzed(analyzed), PATH);
    expect(lifecycleMetadataToLabel(reread.metadata)).toBe(GO_LIFECYCLE_LABEL);
  });

  it("always writes [image], even with an empty reference, and omits empty optional run-image fields", () => {
    const text = stringifyAnalyzed({
      previousImage: { reference: "" },
      metadata: emptyLifecycleMetadata(),
      runImage: { reference: "index.docker.io/acme/run@sha256:2222", image: "", extend: false, target: { os: "linux", arch: "amd64", id: "", archVariant: "" } },
    });
    const raw = parse(text);
    expect(raw.image).toEqual({ reference: "" });
    expect(raw["run-image"]).toEqual({ reference: "index.docker.io/acme/run@sha256:2222", target: { os: "linux", arch: "amd64" } });
    expect(raw["build-image"]).toBeUndefined();
  });

  it("accepts the zero-value metadata Go writes when there is no previous image", () => {
    const a = parseAnalyzed(
      '[image]\n  reference = ""\n[metadata]\n  [metadata.config]\n    sha = ""\n  [metadata.launcher]\n    sha = ""\n' +
        '  [metadata.process-types]\n    sha = ""\n  [metadata.run-image]\n    top-layer = ""\n    reference = ""\n' +
        '[run-image]\n  reference = "index.docker.io/acme/run@sha256:2222"\n',
      PATH,
    );
    expect(a.metadata).toEqual(emptyLifecycleMetadata());
    expect(a.previousImage).toEqual({ reference: "" });
  });

  it("ignores unknown keys", () => {
    const a = parseAnalyzed('future = 1\n[run-image]\n  reference = "r"\n  shiny = true\n', PATH);
    expect(a.runImage).toEqual({ reference: "r", extend: false });
  });

  it("names the file and the field when a value has the wrong type", () => {
    expect(() => parseAnalyzed('[run-image]\n  reference = "r"\n  extend = "yes"\n', PATH)).toThrow(
      new PlatformFileError(PATH, `failed to parse ${PATH}: run-image.extend: expected boolean, got string`),
    );
    try {
      parseAnalyzed("[metadata]\n  app = { sha = 'x' }\n", PATH);
      expect.unreachable();
    } catch (err) {
      expect(err).toBeInstanceOf(PlatformFileError);
      expect((err as Error).message).toBe(`failed to parse ${PATH}: metadata.app: expected array, got table`);
    }
  });

  it("distinguishes a missing file from a broken one", async () => {
    const missing = join(dir, "nope", "analyzed.toml");
    expect(await readAnalyzedIfExists(missing)).toBeUndefined();
    await expect(readAnalyzed(missing)).rejects.toMatchObject({ code: "ENOENT", path: missing });
    const broken = join(dir, "broken.toml");
    await writeFile(broken, "[run-image\n");
    await expect(readAnalyzedIfExists(broken)).rejects.toThrow(/^failed to parse .*broken\.toml: invalid TOML at line 1/);
  });

  it("writes atomically to disk and reads back the same model", async () => {
    const path = join(dir, "layers", "analyzed.toml");
    const a = parseAnalyzed(GO_ANALYZED_TOML, PATH);
    await writeAnalyzed(path, a);
    expect(await readAnalyzed(path)).toEqual(a);
    expect(await readdir(join(dir, "layers"))).toEqual(["analyzed.toml"]);
    expect(await readFile(path, "utf8")).toContain('[image]\nreference = "index.docker.io/acme/app@sha256:1111"');
  });
});
