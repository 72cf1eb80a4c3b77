import { spawnSync } from "node:child_process";
import { closeSync, openSync, readFileSync, readSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { childPath, LIFECYCLE_DIR, PATH_WITHOUT_NODE, pathWithoutNode, runLifecycle } from "./helpers/lifecycle.js";

const pkg = JSON.parse(readFileSync(join(import.meta.dirname, "..", "package.json"), "utf8")) as { version: string };
const noNode = pathWithoutNode(process.env.PATH ?? "/usr/bin:/bin");

/** Whether the binary under test is an ELF executable (the release) rather than the Node script. */
function isSingleExecutable(): boolean {
  const fd = openSync(join(LIFECYCLE_DIR, "lifecycle"), "r");
  try {
    const magic = Buffer.alloc(4);
    readSync(fd, magic, 0, 4, 0);
    return magic.equals(Buffer.from([0x7f, 0x45, 0x4c, 0x46]));
  } finally {
    closeSync(fd);
  }
}

describe("running without Node.js on PATH (npm run release)", () => {
  it("takes every directory holding node off the PATH, and off the binaries' PATH with LIFECYCLE_PATH_WITHOUT_NODE=1", () => {
    const r = spawnSync("/bin/sh", ["-c", "command -v node"], { env: { PATH: noNode }, encoding: "utf8" });
    expect(r.status, r.stdout).not.toBe(0);
    expect(childPath()).toBe(PATH_WITHOUT_NODE ? noNode : process.env.PATH);
  });

  it("the binary under test starts without node on PATH when it is a single executable (and needs node when it is the script)", async () => {
    const r = await runLifecycle("lifecycle", ["-version"], { platformApi: null, env: { PATH: noNode } });
    if (isSingleExecutable()) {
      expect(r.code, r.output).toBe(0);
      expect(r.stdout.trim()).toMatch(new RegExp(`^${pkg.version.replaceAll(".", "\\.")}(\\+[0-9a-f]+)?$`));
      const phase = await runLifecycle("analyzer", ["-version"], { env: { PATH: noNode } });
      expect(phase.code, phase.output).toBe(0);
      expect(phase.stdout.trim()).toBe(r.stdout.trim());
    } else {
      // `#!/usr/bin/env node` finds no node: this is what the release executable does away with.
      expect(r.code).toBe(127);
      expect(r.stderr).toContain("node");
    }
  });
});
