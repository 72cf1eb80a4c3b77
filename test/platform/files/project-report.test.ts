import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  parseProjectMetadata,
  projectMetadataToLabel,
  readProjectMetadataIfExists,
} from "../../../src/platform/files/project-metadata.js";
import { parseReport, readReport, stringifyReport, writeReport } from "../../../src/platform/files/report.js";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "pr-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("project-metadata.toml", () => {
  it("becomes the project label with sorted keys and Go escaping", () => {
    const pm = parseProjectMetadata(
      '[source]\ntype = "git"\n[source.version]\ncommit = "0123abcd"\n[source.metadata]\nrepository = "https://github.com/acme/app?a&b"\nrefs = ["main"]\n',
      "/layers/project-metadata.toml",
    );
    expect(projectMetadataToLabel(pm)).toBe(
      '{"source":{"type":"git","version":{"commit":"0123abcd"},"metadata":{"refs":["main"],"repository":"https://github.com/acme/app?a\\u0026b"}}}',
    );
  });

  it("gives {} without a file or without [source], and omits empty parts of the source", async () => {
    expect(await readProjectMetadataIfExists(join(dir, "project-metadata.toml"))).toBeUndefined();
    expect(projectMetadataToLabel(undefined)).toBe("{}");
    expect(projectMetadataToLabel(parseProjectMetadata("", "/p.toml"))).toBe("{}");
    expect(projectMetadataToLabel(parseProjectMetadata('[source]\ntype = "image"\n', "/p.toml"))).toBe(
      '{"source":{"type":"image"}}',
    );
    expect(projectMetadataToLabel(parseProjectMetadata("[source]\n[source.version]\n", "/p.toml"))).toBe('{"source":{}}');
  });

  it("rejects a version that is not a table", () => {
    expect(() => parseProjectMetadata('[source]\nversion = "1"\n', "/layers/project-metadata.toml")).toThrow(
      "failed to parse /layers/project-metadata.toml: source.version: expected table, got string",
    );
  });
});

describe("report.toml", () => {
  it("writes the registry form with an integer manifest-size and no [build]", async () => {
    const path = join(dir, "report.toml");
    await writeReport(path, {
      image: { tags: ["registry.example.com/acme/app:latest", "registry.example.com/acme/app:v1"], digest: "sha256:4444", manifestSize: 1234 },
    });
    const text = await readFile(path, "utf8");
    expect(text).toMatch(/^manifest-size = 1234$/m);
    expect(text).not.toContain("image-id");
    expect(text).not.toContain("[build]");
    expect(await readReport(path)).toEqual({
      image: { tags: ["registry.example.com/acme/app:latest", "registry.example.com/acme/app:v1"], digest: "sha256:4444", manifestSize: 1234 },
    });
  });

  it("writes the daemon form without digest and omits a zero manifest-size", () => {
    const raw = parse(stringifyReport({ image: { tags: ["acme/app:latest"], imageId: "sha256:5555", digest: "", manifestSize: 0 } }));
    expect(raw).toEqual({ image: { tags: ["acme/app:latest"], "image-id": "sha256:5555" } });
  });

  it("writes [build] bom before [image] only when there is a bom (API < 0.9)", () => {
    const text = stringifyReport({
      build: {
        bom: [{ name: "node", metadata: { version: "20.11.0" }, buildpack: { id: "acme/node", version: "1.2.3", api: "0.6", optional: false } }],
      },
      image: { tags: ["acme/app"] },
    });
    expect(text.indexOf("[[build.bom]]")).toBeGreaterThanOrEqual(0);
    expect(text.indexOf("[[build.bom]]")).toBeLessThan(text.indexOf("[image]"));
    const back = parseReport(text, "/layers/report.toml");
    expect(back.build?.bom[0]).toMatchObject({ name: "node", metadata: { version: "20.11.0" }, buildpack: { id: "acme/node" } });
    expect(parse(stringifyReport({ build: { bom: [] }, image: { tags: [] } }))).not.toHaveProperty("build");
  });

  it("rejects a fractional manifest-size", () => {
    expect(() => parseReport('[image]\ntags = []\nmanifest-size = 1.5\n', "/layers/report.toml")).toThrow(
      "failed to parse /layers/report.toml: image.manifest-size: expected integer, got number",
    );
  });
});
