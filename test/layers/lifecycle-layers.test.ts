import { mkdtemp, rm, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  InvalidProcessTypeError,
  diffIdOf,
  launcherLayerSource,
  processTypesLayerSource,
  validateProcessType,
} from "../../src/layers/index.js";
import { goBlock } from "./go-tar-fixtures.js";
import { readTar, tarBytes } from "./tar-read.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), "lifecycle-layers-test-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("launcher layer", () => {
  it("holds /cnb, /cnb/lifecycle and the launcher, all 0755 and root-owned", async () => {
    const launcher = join(dir, "launcher");
    await writeFile(launcher, "launcher-content", { mode: 0o700 });
    const link = join(dir, "launcher-link");
    await symlink(launcher, link);
    const entries = await readTar(await tarBytes(launcherLayerSource(link)));
    expect(entries.map((e) => [e.name, e.type, e.mode, e.uid, e.gid, e.size])).toEqual([
      ["/cnb", "directory", 0o755, 0, 0, 0],
      ["/cnb/lifecycle", "directory", 0o755, 0, 0, 0],
      ["/cnb/lifecycle/launcher", "file", 0o755, 0, 0, 16],
    ]);
    expect(entries[2]!.content.toString()).toBe("launcher-content");
  });

  it("fails with Go's message when the launcher is missing", async () => {
    await expect(diffIdOf(launcherLayerSource(join(dir, "nope")))).rejects.toThrow(`failed to stat launcher at path '${join(dir, "nope")}'`);
  });
});

describe("process-types layer", () => {
  it("holds /cnb, /cnb/process and one symlink per type to the launcher, in order", async () => {
    const bytes = await tarBytes(processTypesLayerSource(["web", "worker", "a-b"]));
    expect(bytes.subarray(0, 512)).toEqual(goBlock({ name: "/cnb", mode: "0000755\0", typeflag: "5" }));
    expect(bytes.subarray(1024, 1536)).toEqual(
      goBlock({ name: "/cnb/process/web", mode: "0000755\0", typeflag: "2", linkname: "/cnb/lifecycle/launcher" }),
    );
    const entries = await readTar(bytes);
    expect(entries.map((e) => [e.name, e.type, e.linkname ?? "", e.mode, e.uid, e.gid])).toEqual([
      ["/cnb", "directory", "", 0o755, 0, 0],
      ["/cnb/process", "directory", "", 0o755, 0, 0],
      ["/cnb/process/web", "symlink", "/cnb/lifecycle/launcher", 0o755, 0, 0],
      ["/cnb/process/worker", "symlink", "/cnb/lifecycle/launcher", 0o755, 0, 0],
      ["/cnb/process/a-b", "symlink", "/cnb/lifecycle/launcher", 0o755, 0, 0],
    ]);
    expect(bytes).toHaveLength(5 * 512 + 1024);
  });

  it("rejects empty types and types with / > < : | & \\", () => {
    expect(() => processTypesLayerSource(["web", ""])).toThrow(new InvalidProcessTypeError("", "type is required for all processes"));
    for (const c of ["/", ">", "<", ":", "|", "&", "\\"]) {
      const type = `bad${c}type`;
      expect(() => validateProcessType(type)).toThrow(InvalidProcessTypeError);
      expect(() => processTypesLayerSource([type])).toThrow(`invalid process type '${type}': type may not contain characters '/><:|&\\'`);
    }
    expect(() => validateProcessType("web.v2_x-y")).not.toThrow();
  });
});
