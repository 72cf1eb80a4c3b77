import { describe, expect, it } from "vitest";
import { ApiVersion } from "../../../src/platform/api-version.js";
import { parseBuildMetadata } from "../../../src/platform/files/build-metadata.js";
import { buildMetadataToLabel } from "../../../src/platform/files/build-metadata-label.js";
import type { LauncherMetadata } from "../../../src/platform/files/build-metadata-label.js";
import { platformFeatures } from "../../../src/platform/features.js";

const features = (api: string) => platformFeatures(ApiVersion.must(api));

const METADATA_TOML = `buildpack-default-process-type = "web"

[[buildpacks]]
  id = "acme/node"
  version = "1.2.3"
  api = "0.10"
  homepage = "https://acme.example/node"

[[buildpacks]]
  id = "acme/npm"
  version = "0.9.0"
  api = "0.10"

[[labels]]
  key = "org.acme.team"
  value = "web"

[[processes]]
  type = "web"
  command = ["node", "server.js"]
  args = ["--port", "8080"]
  direct = true
  buildpack-id = "acme/node"
  working-dir = "/workspace"
  exec-env = ["production"]

[[processes]]
  type = "worker"
  command = "node worker.js"
  direct = false
  buildpack-id = "acme/npm"

[[slices]]
  paths = ["public"]
`;

const LAUNCHER: LauncherMetadata = {
  version: "0.21.17",
  source: { git: { repository: "github.com/buildpacks/lifecycle", commit: "4bd4b13e" } },
};

describe("config/metadata.toml", () => {
  it("reads buildpacks, labels, slices and both process command forms", () => {
    const md = parseBuildMetadata(METADATA_TOML, "/layers/config/metadata.toml");
    expect(md.buildpackDefaultProcessType).toBe("web");
    expect(md.buildpacks.map((b) => b.id)).toEqual(["acme/node", "acme/npm"]);
    expect(md.labels).toEqual([{ key: "org.acme.team", value: "web" }]);
    expect(md.slices).toEqual([{ paths: ["public"] }]);
    expect(md.processes[0]).toEqual({
      type: "web",
      command: ["node", "server.js"],
      args: ["--port", "8080"],
      direct: true,
      default: false,
      buildpackId: "acme/node",
      workingDir: "/workspace",
      execEnv: ["production"],
    });
    expect(md.processes[1]).toEqual({ type: "worker", command: ["node worker.js"], direct: false, default: false, buildpackId: "acme/npm" });
  });

  it("rejects a command that is neither a string nor a list", () => {
    expect(() => parseBuildMetadata('[[processes]]\ntype = "web"\ncommand = 3\n', "/layers/config/metadata.toml")).toThrow(
      "failed to parse /layers/config/metadata.toml: processes[0].command: expected string or array, got number",
    );
  });
});

describe("io.buildpacks.build.metadata label", () => {
  it("matches the Go exporter for Platform API >= 0.10", () => {
    const md = parseBuildMetadata(METADATA_TOML, "/layers/config/metadata.toml");
    expect(buildMetadataToLabel(md, LAUNCHER, features("0.12"))).toBe(
      '{"buildpacks":[{"id":"acme/node","version":"1.2.3","homepage":"https://acme.example/node"},{"id":"acme/npm","version":"0.9.0"}],' +
        '"launcher":{"version":"0.21.17","source":{"git":{"repository":"github.com/buildpacks/lifecycle","commit":"4bd4b13e"}}},' +
        '"processes":[{"type":"web","command":["node","server.js"],"args":["--port","8080"],"direct":true,"buildpackID":"acme/node","working-dir":"/workspace","exec-env":["production"]},' +
        '{"type":"worker","command":["node worker.js"],"args":null,"direct":false,"buildpackID":"acme/npm"}],' +
        '"buildpack-default-process-type":"web"}',
    );
  });

  it("uses a string command with the rest prepended to args before API 0.10", () => {
    const md = parseBuildMetadata(METADATA_TOML, "/layers/config/metadata.toml");
    const label = JSON.parse(buildMetadataToLabel(md, LAUNCHER, features("0.9"))) as { processes: unknown[] };
    expect(label.processes).toEqual([
      { type: "web", command: "node", args: ["server.js", "--port", "8080"], direct: true, buildpackID: "acme/node", "working-dir": "/workspace", "exec-env": ["production"] },
      { type: "worker", command: "node worker.js", args: [], direct: false, buildpackID: "acme/npm" },
    ]);
  });

  it("puts bom first before API 0.9 (null when empty) and never otherwise", () => {
    const md = parseBuildMetadata(
      '[[bom]]\nname = "node"\n[bom.metadata]\nversion = "20"\n[bom.buildpack]\nid = "acme/node"\nversion = "1.2.3"\n' + METADATA_TOML.replace(/^buildpack-default-process-type.*$/m, ""),
      "/m.toml",
    );
    const old = buildMetadataToLabel(md, LAUNCHER, features("0.8"));
    expect(old.startsWith('{"bom":[{"name":"node","metadata":{"version":"20"},"buildpack":{"id":"acme/node","version":"1.2.3"}}],"buildpacks":')).toBe(true);
    expect(buildMetadataToLabel({ ...md, bom: [] }, LAUNCHER, features("0.8")).startsWith('{"bom":null,')).toBe(true);
    expect(buildMetadataToLabel(md, LAUNCHER, features("0.9"))).not.toContain('"bom"');
  });

  it("emits extensions only when present and never labels, slices or api", () => {
    const md = parseBuildMetadata(METADATA_TOML, "/m.toml");
    const plain = buildMetadataToLabel(md, LAUNCHER, features("0.12"));
    expect(plain).not.toMatch(/"extensions"|"labels"|"slices"|"api"/);
    const withExt = buildMetadataToLabel(
      { ...md, extensions: [{ id: "acme/curl-ext", version: "0.1.0", api: "0.10", optional: false }] },
      LAUNCHER,
      features("0.12"),
    );
    expect(withExt).toContain('"extensions":[{"id":"acme/curl-ext","version":"0.1.0"}],"launcher":');
  });

  it("marks the default process and escapes HTML characters", () => {
    const md = parseBuildMetadata('[[processes]]\ntype = "web"\ncommand = ["sh", "-c", "a && b > c"]\ndefault = true\n', "/m.toml");
    expect(buildMetadataToLabel(md, LAUNCHER, features("0.12"))).toContain(
      '"processes":[{"type":"web","command":["sh","-c","a \\u0026\\u0026 b \\u003e c"],"args":null,"direct":false,"default":true,"buildpackID":""}]}',
    );
  });
});
