import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parse } from "smol-toml";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { parseGroupToml, readGroupToml, stringifyGroupToml, writeGroupToml } from "../../../src/platform/files/group.js";

const GROUP = `[[group]]
  id = "acme/node"
  version = "1.2.3"
  api = "0.10"
  homepage = "https://acme.example/node"

[[group]]
  id = "acme/npm"
  version = "0.9.0"
  api = "0.12"
  optional = true

[[group-extensions]]
  id = "acme/curl-ext"
  version = "0.1.0"
  api = "0.10"
`;

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(join(tmpdir(), "group-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("group.toml", () => {
  it("reads buildpacks in order and the extensions", () => {
    const g = parseGroupToml(GROUP, "/layers/group.toml");
    expect(g.group).toEqual([
      { id: "acme/node", version: "1.2.3", api: "0.10", homepage: "https://acme.example/node", optional: false },
      { id: "acme/npm", version: "0.9.0", api: "0.12", optional: true },
    ]);
    expect(g.groupExtensions).toEqual([{ id: "acme/curl-ext", version: "0.1.0", api: "0.10", optional: false }]);
  });

  it("leaves api empty when missing so the phase can report the unsupported API", () => {
    expect(parseGroupToml('[[group]]\nid = "a"\nversion = "1"\n', "/layers/group.toml").group[0]?.api).toBe("");
  });

  it("names the file and the field when api is not a string", () => {
    expect(() => parseGroupToml('[[group]]\nid = "a"\nversion = "1"\napi = 0.1\n', "/layers/group.toml")).toThrow(
      "failed to parse /layers/group.toml: group[0].api: expected string, got number",
    );
  });

  it("writes and re-reads the same group, omitting empty optional fields", async () => {
    const g = parseGroupToml(GROUP, "/layers/group.toml");
    const raw = parse(stringifyGroupToml(g));
    expect(raw.group).toEqual([
      { id: "acme/node", version: "1.2.3", api: "0.10", homepage: "https://acme.example/node" },
      { id: "acme/npm", version: "0.9.0", api: "0.12", optional: true },
    ]);
    const path = join(dir, "group.toml");
    await writeGroupToml(path, g);
    expect(await readGroupToml(path)).toEqual(g);
    expect(parse(stringifyGroupToml({ group: g.group, groupExtensions: [] }))).not.toHaveProperty("group-extensions");
  });
});
