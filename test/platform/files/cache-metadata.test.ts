import { describe, expect, it } from "vitest";
import {
  cacheMetadataForBuildpack,
  cacheMetadataToLabel,
  emptyCacheMetadata,
  parseCacheMetadataLenient,
} from "../../../src/platform/files/cache-metadata.js";

const GO_CACHE_LABEL =
  '{"sbom":{"sha":"sha256:77"},"buildpacks":[{"key":"acme/node","version":"1.2.3","layers":{' +
  '"node":{"sha":"sha256:c0","data":{"version":"20.11.0"},"build":false,"launch":true,"cache":true}}},' +
  '{"key":"acme/npm","version":"0.9.0","layers":{}}]}';

describe("cache metadata", () => {
  it("re-serialises Go's cache metadata byte for byte", () => {
    expect(cacheMetadataToLabel(parseCacheMetadataLenient(GO_CACHE_LABEL))).toBe(GO_CACHE_LABEL);
  });

  it('always writes sbom, as {"sha":""} when empty, and never a store', () => {
    expect(cacheMetadataToLabel(emptyCacheMetadata())).toBe('{"sbom":{"sha":""},"buildpacks":[]}');
    const md = parseCacheMetadataLenient('{"buildpacks":[{"key":"a","version":"1","layers":{},"store":{"metadata":{"x":1}}}]}');
    expect(cacheMetadataToLabel(md)).toBe('{"sbom":{"sha":""},"buildpacks":[{"key":"a","version":"1","layers":{}}]}');
  });

  it("treats absent, non-JSON or mis-shaped metadata as empty instead of failing", () => {
    for (const bad of [undefined, "", "{", "[]", '{"buildpacks":{"key":"a"}}', '{"sbom":"x"}']) {
      expect(parseCacheMetadataLenient(bad)).toEqual(emptyCacheMetadata());
    }
  });

  it("finds a buildpack's cached layers by key", () => {
    const md = parseCacheMetadataLenient(GO_CACHE_LABEL);
    expect(Object.keys(cacheMetadataForBuildpack(md, "acme/node").layers)).toEqual(["node"]);
    expect(cacheMetadataForBuildpack(md, "acme/other")).toEqual({ key: "", version: "", layers: {} });
  });
});
