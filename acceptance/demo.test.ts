import { spawnSync } from "node:child_process";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { LIFECYCLE_DIR } from "./helpers/lifecycle.js";

const temp = useTempDir("demo");
const ROOT = join(import.meta.dirname, "..");

function runDemo(dir: string): { code: number; out: string } {
  const r = spawnSync(process.execPath, [join(ROOT, "scripts", "run-ts.mjs"), "demo/run-demo.ts"], {
    cwd: ROOT,
    env: { ...process.env, CNB_DEMO_DIR: dir, LIFECYCLE_DIR },
    encoding: "utf8",
    timeout: 120_000,
  });
  return { code: r.status ?? -1, out: `${r.stdout}${r.stderr}` };
}

describe("the demo (README's first command)", () => {
  it("builds and rebases an app in an OCI layout offline, and reuses every layer on a second run", () => {
    const dir = join(temp(), "state");
    const first = runDemo(dir);
    expect(first.code, first.out).toBe(0);
    expect(first.out).toContain("Adding layer 'demo/hello:runtime'");
    expect(first.out).toContain("Adding cache layer 'demo/hello:deps'");
    const digest = (out: string) => /report\.toml:\n\[image\][^]*?digest = "(sha256:[a-f0-9]{64})"/.exec(out)?.[1];
    const finalDigest = (out: string) => /Final digest: (sha256:[a-f0-9]{64})/.exec(out)?.[1];
    expect(finalDigest(first.out)).toBeDefined();
    const second = runDemo(dir);
    expect(second.code, second.out).toBe(0);
    expect(second.out).toContain("Reusing layer 'demo/hello:runtime'");
    expect(second.out).toContain("Reused 1/1 app layer(s)");
    expect(second.out).not.toMatch(/Adding (cache )?layer/);
    expect(digest(second.out)).toBe(digest(first.out));
    expect(finalDigest(second.out)).toBe(finalDigest(first.out));
  });
});
