import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  parseLayerContentMetadata,
  readLayerContentMetadata,
  stringifyRestoredLayerMetadata,
  writeRestoredLayerMetadata,
} from "../../../src/platform/files/layer-content-metadata.js";
import { readStoreTomlIfExists, writeStoreToml } from "../../../src/platform/files/store.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "layer-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("<layer>.toml", () => {
  it("reads [types] flags and [metadata]", () => {
    const r = parseLayerContentMetadata(
      '[types]\nlaunch = true\ncache = true\n[metadata]\nversion = "20.11.0"\n[metadata.deps]\nnpm = "10"\n',
      "/layers/acme_node/node.toml",
    );
    expect(r).toEqual({
      malformed: false,
      value: { types: { launch: true, build: false, cache: true }, metadata: { version: "20.11.0", deps: { npm: "10" } } },
    });
  });

  it("treats top-level launch/build/cache keys as malformed with Go's message", () => {
    const path = "/layers/acme_node/node.toml";
    for (const flag of ["launch", "build", "cache"]) {
      expect(parseLayerContentMetadata(`${flag} = true\n[metadata]\nv = 1\n`, path)).toEqual({
        malformed: true,
        message: `the launch, cache and build flags should be in the types table of ${path}`,
      });
    }
    // even when [types] is also present
    expect(parseLayerContentMetadata("launch = false\n[types]\nlaunch = true\n", path).malformed).toBe(true);
  });

  it("treats syntax and type errors as malformed too, like Go's read error", () => {
    const path = "/layers/acme_node/bad.toml";
    const syntax = parseLayerContentMetadata("[types\n", path);
    expect(syntax.malformed).toBe(true);
    expect(syntax.malformed && syntax.message).toMatch(/^failed to parse \/layers\/acme_node\/bad\.toml: invalid TOML/);
    const typed = parseLayerContentMetadata('[types]\nlaunch = "yes"\n', path);
    expect(typed).toEqual({ malformed: true, message: `failed to parse ${path}: types.launch: expected boolean, got string` });
  });

  it("reads a missing file as all flags false", async () => {
    expect(await readLayerContentMetadata(join(dir, "absent.toml"))).toEqual({
      malformed: false,
      value: { types: { launch: false, build: false, cache: false }, metadata: undefined },
    });
  });

  it("restorer writes only the [metadata] table", async () => {
    const path = join(dir, "acme_node", "node.toml");
    await writeRestoredLayerMetadata(path, { version: "20.11.0", build: 3 });
    const text = await readFile(path, "utf8");
    expect(parse(text)).toEqual({ metadata: { version: "20.11.0", build: 3 } });
    expect(text).not.toContain("[types]");
    expect(text).toContain("build = 3.0"); // a float, as Go writes data decoded from JSON
    const back = await readLayerContentMetadata(path);
    expect(back).toEqual({
      malformed: false,
      value: { types: { launch: false, build: false, cache: false }, metadata: { version: "20.11.0", build: 3 } },
    });
  });

  it("restorer writes an empty file for a layer without metadata", () => {
    expect(parse(stringifyRestoredLayerMetadata(undefined))).toEqual({});
    expect(parse(stringifyRestoredLayerMetadata(null))).toEqual({});
  });
});

describe("store.toml", () => {
  it("round-trips the [metadata] table", async () => {
    const path = join(dir, "acme_node", "store.toml");
    await writeStoreToml(path, { metadata: { counter: 3, nested: { list: ["a"] } } });
    expect(await readStoreTomlIfExists(path)).toEqual({ metadata: { counter: 3, nested: { list: ["a"] } } });
  });

  it("reads a file without [metadata] as an empty table and a missing file as undefined", async () => {
    const path = join(dir, "store.toml");
    await writeFile(path, "");
    expect(await readStoreTomlIfExists(path)).toEqual({ metadata: {} });
    expect(await readStoreTomlIfExists(join(dir, "none.toml"))).toBeUndefined();
  });
});
