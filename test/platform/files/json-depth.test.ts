import { describe, expect, it } from "vitest";
import { parseAnalyzed, stringifyAnalyzed } from "../../../src/platform/files/analyzed.js";
import { parseCacheMetadataLenient } from "../../../src/platform/files/cache-metadata.js";
import { exceedsJsonDepth, MAX_METADATA_DEPTH } from "../../../src/platform/files/json-depth.js";
import { LabelParseError, parseLifecycleMetadataLabel } from "../../../src/platform/files/lifecycle-metadata.js";
import { stringifyRestoredLayerMetadata } from "../../../src/platform/files/layer-content-metadata.js";

/** A lifecycle label whose one layer's data nests `depth` arrays in total (the label's own levels included). */
function label(depth: number): string {
  const inner = depth - 5; // root {, buildpacks [, the buildpack {, layers {, the layer {
  const data = `${"[".repeat(inner)}1${"]".repeat(inner)}`;
  return `{"buildpacks":[{"key":"bp","version":"1","layers":{"deps":{"sha":"sha256:${"1".repeat(64)}","data":${data},"launch":true}}}]}`;
}

describe("metadata nesting depth", () => {
  it("counts brackets outside strings only", () => {
    expect(exceedsJsonDepth('{"a":"[[[[[[[[[["}', 2)).toBe(false);
    expect(exceedsJsonDepth('{"a":"\\"[[["}', 1)).toBe(false);
    expect(exceedsJsonDepth("[[[1]]]", 2)).toBe(true);
  });

  it("accepts a label at the limit, and analyzed.toml and <layer>.toml can hold its data", () => {
    const md = parseLifecycleMetadataLabel(label(MAX_METADATA_DEPTH));
    const text = stringifyAnalyzed({ metadata: md });
    expect(parseAnalyzed(text, "/layers/analyzed.toml").metadata.buildpacks[0]?.layers.deps?.launch).toBe(true);
    expect(stringifyRestoredLayerMetadata(md.buildpacks[0]?.layers.deps?.data)).toContain("[ [ [");
  });

  it("refuses a label one level deeper as undecodable, and treats such cache metadata as empty", () => {
    expect(() => parseLifecycleMetadataLabel(label(MAX_METADATA_DEPTH + 1))).toThrow(LabelParseError);
    expect(() => parseLifecycleMetadataLabel(label(MAX_METADATA_DEPTH + 1))).toThrow("exceeded max depth");
    const cache = `{"sbom":{"sha":""},${label(MAX_METADATA_DEPTH + 1).slice(1)}`;
    expect(parseCacheMetadataLenient(cache).buildpacks).toEqual([]);
  });
});
