import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { runLifecycle } from "./helpers/lifecycle.js";

const ANSI = new RegExp(String.fromCharCode(27) + "\\[");
const tmp = mkdtempSync(join(tmpdir(), "process-contract-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

/** A layers dir whose group.toml has a buildpack with the given API. */
function layersWithGroup(name: string, api: string): string {
  const dir = join(tmp, name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, "group.toml"), `[[group]]\n  id = "acme/node"\n  version = "1.0.0"\n  api = "${api}"\n`);
  writeFileSync(join(dir, "analyzed.toml"), `[run-image]\n  reference = "127.0.0.1:1/run@sha256:${"a".repeat(64)}"\n`);
  return dir;
}

describe("F1: dispatch by binary name and as a subcommand", () => {
  it("runs each phase through its symlink", async () => {
    const analyzer = await runLifecycle("analyzer", []);
    expect(analyzer.code).toBe(3);
    expect(analyzer.stdout).toContain("received 0 arguments, but expected 1");
    const restorer = await runLifecycle("restorer", ["extra"]);
    expect(restorer.code).toBe(3);
    expect(restorer.stdout).toContain("received unexpected Args");
    for (const phase of ["exporter", "rebaser"] as const) {
      const r = await runLifecycle(phase, []);
      expect(r.code, phase).toBe(3);
      expect(r.stdout).toContain("at least one image argument is required");
    }
  });

  it("runs `lifecycle <phase>` the same way and rejects unknown phases with exit 3", async () => {
    const r = await runLifecycle("lifecycle", ["analyze"]);
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("received 0 arguments, but expected 1");
    const bogus = await runLifecycle("lifecycle", ["bogus"]);
    expect(bogus.code).toBe(3);
    expect(bogus.stdout).toContain("failed to recognize phase: bogus");
    expect(bogus.stdout).toContain("analyze");
    const none = await runLifecycle("lifecycle", []);
    expect(none.code).toBe(3);
  });

  it("exits non-zero with a clear message for phases this lifecycle does not provide", async () => {
    const r = await runLifecycle("lifecycle", ["detect"]);
    expect(r.code).not.toBe(0);
    expect(r.stdout).toContain("not implemented");
  });
});

describe("F2/F3/F4: -version and CNB_PLATFORM_API", () => {
  it("prints the version in multi-call mode without a Platform API", async () => {
    const r = await runLifecycle("lifecycle", ["-version"], { platformApi: null });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+(\+[0-9a-f]+)?$/);
  });

  it("prints the version through a symlink when the Platform API is set", async () => {
    const r = await runLifecycle("analyzer", ["-version"], { platformApi: "0.14" });
    expect(r.code).toBe(0);
    expect(r.stdout.trim()).toMatch(/^\d+\.\d+\.\d+/);
  });

  it("needs CNB_PLATFORM_API even for -version in symlink mode", async () => {
    for (const api of [null, "", "   "]) {
      const r = await runLifecycle("analyzer", ["-version"], { platformApi: api });
      expect(r.code).toBe(11);
      expect(r.stdout).toContain("please set 'CNB_PLATFORM_API'");
    }
  });

  it("rejects 0.6, 0.16 and abc and accepts 0.7 to 0.15 and v0.15", async () => {
    for (const api of ["0.6", "0.16", "abc"]) {
      const r = await runLifecycle("restorer", ["-version"], { platformApi: api });
      expect(r.code, api).toBe(11);
    }
    const ok = ["0.7", "0.8", "0.9", "0.10", "0.11", "0.12", "0.13", "0.14", "0.15", "v0.15"];
    const results = await Promise.all(ok.map((api) => runLifecycle("restorer", ["-version"], { platformApi: api })));
    results.forEach((r, i) => expect(r.code, ok[i]).toBe(0));
  });
});

describe("F5/F6/F9: flag syntax, precedence and <layers> defaults", () => {
  it("exits 2 with usage on an undefined flag", async () => {
    const r = await runLifecycle("analyzer", ["-bogus", "img"]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain("flag provided but not defined: -bogus");
    expect(r.stderr).toContain("-layers string");
  });

  it("refuses a -uid or CNB_GROUP_ID that cannot be an ID with a flag error, not Node's range error", async () => {
    for (const [args, env, message] of [
      [["-uid", "-5"], {}, 'invalid value "-5" for flag -uid: not a user ID (0 to 4294967294)'],
      [[], { CNB_GROUP_ID: "-5" }, 'invalid value "-5" for CNB_GROUP_ID: not a group ID (0 to 4294967294)'],
    ] as const) {
      const r = await runLifecycle("restorer", ["-layers", "/nonexistent", ...args], { env });
      expect(r.code, r.output).toBe(2);
      expect(r.stderr.split("\n")[0]).toBe(message);
      expect(r.output).not.toContain("out of range");
    }
  });

  it("prints usage and exits 0 for -help", async () => {
    const r = await runLifecycle("exporter", ["-help"]);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("-process-type string");
  });

  it("treats -layers=X, -layers X and --layers X alike, with <layers>/group.toml following them (F9 exit 12)", async () => {
    const layers = layersWithGroup("f5", "0.6");
    for (const args of [[`-layers=${layers}`], ["-layers", layers], ["--layers", layers]]) {
      const r = await runLifecycle("restorer", args);
      expect(r.code, args.join(" ")).toBe(12);
      expect(r.stdout).toContain("failed to set API for buildpack 'acme/node@1.0.0'");
    }
  });

  it("gives the flag precedence over CNB_LAYERS_DIR and an explicit -group over <layers>", async () => {
    const bad = layersWithGroup("f6-bad", "0.6");
    const good = layersWithGroup("f6-good", "0.10");
    const viaFlag = await runLifecycle("restorer", ["-layers", good], { env: { CNB_LAYERS_DIR: bad } });
    expect(viaFlag.output).not.toContain("failed to set API");
    const viaEnv = await runLifecycle("restorer", [], { env: { CNB_LAYERS_DIR: bad } });
    expect(viaEnv.code).toBe(12);
    const explicitGroup = await runLifecycle("restorer", ["-layers", good, "-group", join(bad, "group.toml")]);
    expect(explicitGroup.code).toBe(12);
  });

  it("makes the exporter exit 12 for an unsupported buildpack API", async () => {
    const layers = layersWithGroup("f9-exporter", "0.6");
    const r = await runLifecycle("exporter", ["-layers", layers, "127.0.0.1:1/app"]);
    expect(r.code).toBe(12);
  });

  it("does not let booleans take a separate value: -daemon false is a positional", async () => {
    const r = await runLifecycle("restorer", ["-daemon", "false"], { platformApi: "0.12" });
    expect(r.code).toBe(3);
    expect(r.stdout).toContain("received unexpected Args");
  });
});

describe("F7: version-gated flags", () => {
  it("rejects flags that do not exist on older Platform APIs", async () => {
    const cases: [string, string, string[]][] = [
      ["restorer", "0.13", ["-run", "/x"]],
      ["analyzer", "0.12", ["-insecure-registry", "r", "img"]],
      ["analyzer", "0.12", ["-stack", "/x", "img"]],
      ["rebaser", "0.11", ["-force", "img"]],
      ["restorer", "0.11", ["-daemon"]],
    ];
    for (const [bin, api, args] of cases) {
      const r = await runLifecycle(bin as "restorer", args, { platformApi: api });
      expect(r.code, `${bin} ${api} ${args.join(" ")}`).toBe(2);
    }
  });

  it("accepts them on the APIs that define them", async () => {
    const r = await runLifecycle("analyzer", ["-stack", "/x"], { platformApi: "0.11" });
    expect(r.code).toBe(3); // past flag parsing: no positional argument
    const run = await runLifecycle("restorer", ["-run", "/x", "extra"], { platformApi: "0.14" });
    expect(run.code).toBe(3);
  });
});

describe("F8: logging", () => {
  it("prints Starting <phase>... at debug level, warnings with Warning: and errors with ERROR: failed to", async () => {
    const r = await runLifecycle("analyzer", ["-log-level", "debug", "img", "-daemon"]);
    expect(r.stdout).toContain("Starting analyzer...");
    expect(r.stdout).toMatch(/Warning: .*unconsumed flag-like positional arg/);
    expect(r.stdout).toMatch(/ERROR: .*failed to parse arguments/);
    expect(r.code).toBe(3);
  });

  it("reads the level from CNB_LOG_LEVEL and exits 1 on an invalid level", async () => {
    const debug = await runLifecycle("analyzer", [], { env: { CNB_LOG_LEVEL: "debug" } });
    expect(debug.stdout).toContain("Starting analyzer...");
    const bad = await runLifecycle("analyzer", ["-log-level", "loud", "img"]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toContain("failed to parse log level");
  });

  it("colours output unless -no-color / CNB_NO_COLOR", async () => {
    const coloured = await runLifecycle("analyzer", []);
    expect(coloured.stdout).toMatch(ANSI);
    const plain = await runLifecycle("analyzer", ["-no-color"]);
    expect(plain.stdout).not.toMatch(ANSI);
    expect(plain.stdout).toContain("ERROR: failed to parse arguments");
    const env = await runLifecycle("analyzer", [], { env: { CNB_NO_COLOR: "true" } });
    expect(env.stdout).not.toMatch(ANSI);
  });
});
