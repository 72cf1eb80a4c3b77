import { describe, expect, it } from "vitest";
import {
  LabelParseError,
  emptyLifecycleMetadata,
  lifecycleMetadataToLabel,
  parseLifecycleMetadataLabel,
  parseLifecycleMetadataLabelCompat,
} from "../../../src/platform/files/lifecycle-metadata.js";
import type { LifecycleMetadata } from "../../../src/platform/files/lifecycle-metadata.js";
import {
  lifecycleMetadataFromToml,
  lifecycleMetadataToToml,
} from "../../../src/platform/files/lifecycle-metadata-toml.js";
import { GO_LIFECYCLE_LABEL } from "./fixtures.js";

describe("io.buildpacks.lifecycle.metadata label", () => {
  it("re-serialises a Go-written label byte for byte", () => {
    expect(lifecycleMetadataToLabel(parseLifecycleMetadataLabel(GO_LIFECYCLE_LABEL))).toBe(GO_LIFECYCLE_LABEL);
  });

  it("exposes the model with label names (data, key, processTypes, runImage.topLayer)", () => {
    const md = parseLifecycleMetadataLabel(GO_LIFECYCLE_LABEL);
    expect(md.processTypes.sha).toBe("sha256:f0");
    expect(md.runImage.topLayer).toBe("sha256:90");
    expect(md.buildpacks.map((b) => b.key)).toEqual(["acme/node", "acme/npm"]);
    expect(md.buildpacks[0]?.layers.node?.data).toEqual({ url: "https://dl.example/node?arch=x64&v=20", version: "20.11.0" });
    expect(md.buildpacks[1]?.layers).toEqual({});
    expect(md.buildpacks[1]?.store).toBeUndefined();
  });

  it("writes fields in Go's order, sorts layer names and data keys, and escapes HTML characters", () => {
    const md: LifecycleMetadata = {
      ...emptyLifecycleMetadata(),
      app: [{ sha: "sha256:a" }],
      buildpacks: [
        {
          key: "acme/x",
          version: "1",
          layers: {
            zz: { sha: "sha256:z", data: { b: 1, a: "<&>" }, build: true, launch: true, cache: false },
            aa: { sha: "sha256:y", build: false, launch: true, cache: true },
          },
        },
      ],
      runImage: { topLayer: "sha256:t", reference: "r", image: "", mirrors: [] },
      stack: { runImage: {} },
    };
    expect(lifecycleMetadataToLabel(md)).toBe(
      '{"app":[{"sha":"sha256:a"}],"buildpacks":[{"key":"acme/x","version":"1","layers":{' +
        '"aa":{"sha":"sha256:y","data":null,"build":false,"launch":true,"cache":true},' +
        '"zz":{"sha":"sha256:z","data":{"a":"\\u003c\\u0026\\u003e","b":1},"build":true,"launch":true,"cache":false}}}],' +
        '"config":{"sha":""},"launcher":{"sha":""},"process-types":{"sha":""},' +
        '"runImage":{"topLayer":"sha256:t","reference":"r"},"stack":{"runImage":{}}}',
    );
  });

  it("tolerates unknown keys and nulls, dropping them like Go's struct decoding", () => {
    const md = parseLifecycleMetadataLabel(
      '{"app":[{"sha":"a","extra":1}],"future":{"x":1},"sbom":null,"buildpacks":null,"config":null,"runImage":{"topLayer":"t","reference":null}}',
    );
    expect(md).toEqual({ ...emptyLifecycleMetadata(), app: [{ sha: "a" }], runImage: { topLayer: "t", reference: "" } });
    expect(md.sbom).toBeUndefined();
  });

  it("rejects app as a single object, like Go's analyzer", () => {
    const label = '{"app":{"sha":"sha256:old"},"config":{"sha":"c"}}';
    expect(() => parseLifecycleMetadataLabel(label)).toThrow(LabelParseError);
    expect(() => parseLifecycleMetadataLabel(label)).toThrow(
      "failed to parse label io.buildpacks.lifecycle.metadata: app: expected array, got object",
    );
  });

  it("rejects non-JSON and wrongly typed fields with a one-line message", () => {
    expect(() => parseLifecycleMetadataLabel("not json")).toThrow(/^failed to parse label io\.buildpacks\.lifecycle\.metadata: invalid JSON: /);
    expect(() => parseLifecycleMetadataLabel("[]")).toThrow(/: expected object, got array$/);
    let message = "";
    try {
      parseLifecycleMetadataLabel('{"buildpacks":[{"key":"a","layers":{"l":{"launch":"yes"}}}]}');
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toBe(
      "failed to parse label io.buildpacks.lifecycle.metadata: buildpacks[0].layers.l.launch: expected boolean, got string",
    );
    expect(message).not.toContain("\n");
  });

  it("keeps a pre-slice app object verbatim in the compat model (rebaser)", () => {
    const label =
      '{"app":{"sha":"sha256:old","z":1},"config":{"sha":"c"},"launcher":{"sha":"l"},"process-types":{"sha":""},' +
      '"runImage":{"topLayer":"t","reference":"r"},"stack":{"runImage":{"image":"acme/run"}}}';
    const md = parseLifecycleMetadataLabelCompat(label);
    expect(md.app).toEqual({ sha: "sha256:old", z: 1 });
    md.runImage.topLayer = "new";
    expect(lifecycleMetadataToLabel(md)).toBe(
      '{"app":{"sha":"sha256:old","z":1},"buildpacks":[],"config":{"sha":"c"},"launcher":{"sha":"l"},' +
        '"process-types":{"sha":""},"runImage":{"topLayer":"new","reference":"r"},"stack":{"runImage":{"image":"acme/run"}}}',
    );
  });
});

describe("lifecycle metadata TOML form", () => {
  it("renames runImage, topLayer, data and stack.runImage and nothing else", () => {
    const toml = lifecycleMetadataToToml(parseLifecycleMetadataLabel(GO_LIFECYCLE_LABEL));
    expect(Object.keys(toml)).toEqual([
      "app",
      "sbom",
      "buildpacks",
      "config",
      "launcher",
      "process-types",
      "run-image",
      "stack",
    ]);
    expect(toml["run-image"]).toEqual({
      "top-layer": "sha256:90",
      reference: "mirror.example.com/acme/run@sha256:2222",
      image: "acme/run:jammy",
      mirrors: ["mirror.example.com/acme/run:jammy"],
    });
    expect(toml.stack).toEqual({ "run-image": { image: "acme/run:jammy", mirrors: ["mirror.example.com/acme/run:jammy"] } });
    const bp = (toml.buildpacks as Record<string, unknown>[])[0];
    expect(bp).toMatchObject({ key: "acme/node", store: { metadata: { counter: 3 } } });
    expect((bp?.layers as Record<string, unknown>).node).toEqual({
      sha: "sha256:c0",
      metadata: { url: "https://dl.example/node?arch=x64&v=20", version: "20.11.0" },
      build: false,
      launch: true,
      cache: true,
    });
    // a layer without data has no metadata key at all
    expect((bp?.layers as Record<string, unknown>).modules).toEqual({ sha: "sha256:c1", build: false, launch: true, cache: false });
  });

  it("converts back to the same model", () => {
    const md = parseLifecycleMetadataLabel(GO_LIFECYCLE_LABEL);
    const back = lifecycleMetadataFromToml(lifecycleMetadataToToml(md));
    expect(lifecycleMetadataToLabel(back)).toBe(GO_LIFECYCLE_LABEL);
  });
});
