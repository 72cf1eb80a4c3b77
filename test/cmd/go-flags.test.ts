import { describe, expect, it } from "vitest";
import { FlagError, GoFlagSet, HelpRequested, flagBool, flagInt, flagString, flagStrings, parseGoInt, type FlagSpec } from "../../src/cmd/go-flags.js";
import { ApiVersion } from "../../src/platform/api-version.js";

const specs: FlagSpec[] = [
  { name: "layers", kind: "string", env: ["CNB_LAYERS_DIR"], default: "/layers", usage: "" },
  { name: "daemon", kind: "bool", env: ["CNB_USE_DAEMON"], usage: "" },
  { name: "skip-layers", kind: "bool", env: ["CNB_SKIP_LAYERS", "CNB_SKIP_RESTORE"], usage: "" },
  { name: "uid", kind: "int", env: ["CNB_USER_ID"], usage: "" },
  { name: "tag", kind: "strings", usage: "" },
  { name: "insecure-registry", kind: "strings", env: ["CNB_INSECURE_REGISTRIES"], since: "0.13", usage: "" },
  { name: "stack", kind: "string", before: "0.12", usage: "" },
  { name: "force", kind: "bool", env: ["CNB_FORCE_REBASE"], since: "0.12", envWhenUndefined: true, usage: "" },
];
const api = (v: string) => ApiVersion.must(v);
const set = (v = "0.14") => new GoFlagSet("analyzer", specs, api(v), "<image>");

describe("Go flag semantics", () => {
  it("treats -f v, -f=v, --f=v and --f v the same", () => {
    for (const argv of [["-layers", "/x"], ["-layers=/x"], ["--layers=/x"], ["--layers", "/x"]]) {
      expect(flagString(set().parse(argv, {}), "layers")).toBe("/x");
    }
  });

  it("never lets a boolean consume the next argument", () => {
    const p = set().parse(["-daemon", "false", "img"], {});
    expect(flagBool(p, "daemon")).toBe(true);
    expect(p.args).toEqual(["false", "img"]);
    expect(flagBool(set().parse(["-daemon=false"], { CNB_USE_DAEMON: "true" }), "daemon")).toBe(false);
    expect(() => set().parse(["-daemon=yes"], {})).toThrow(FlagError);
  });

  it("stops at the first positional and at --", () => {
    const p = set().parse(["img", "-daemon"], {});
    expect(p.args).toEqual(["img", "-daemon"]);
    expect(flagBool(p, "daemon")).toBe(false);
    expect(set().parse(["--", "-daemon"], {}).args).toEqual(["-daemon"]);
    expect(set().parse(["-", "x"], {}).args).toEqual(["-", "x"]);
  });

  it("rejects undefined flags, missing values and bad syntax", () => {
    expect(() => set().parse(["-nope"], {})).toThrow("flag provided but not defined: -nope");
    expect(() => set().parse(["-layers"], {})).toThrow("flag needs an argument: -layers");
    expect(() => set().parse(["---x"], {})).toThrow("bad flag syntax: ---x");
    expect(() => set().parse(["-=x"], {})).toThrow("bad flag syntax");
    expect(() => set().parse(["-h"], {})).toThrow(HelpRequested);
    expect(() => set().parse(["-help"], {})).toThrow(HelpRequested);
  });

  it("gives a flag precedence over its env var, and the env var over the default", () => {
    expect(flagString(set().parse([], {}), "layers")).toBe("/layers");
    expect(flagString(set().parse([], { CNB_LAYERS_DIR: "/env" }), "layers")).toBe("/env");
    expect(flagString(set().parse(["-layers", "/flag"], { CNB_LAYERS_DIR: "/env" }), "layers")).toBe("/flag");
    expect(flagString(set().parse([], { CNB_LAYERS_DIR: "" }), "layers")).toBe("/layers");
  });

  it("reads env booleans leniently and ORs several variables", () => {
    expect(flagBool(set().parse([], { CNB_USE_DAEMON: "yes" }), "daemon")).toBe(false);
    expect(flagBool(set().parse([], { CNB_USE_DAEMON: "T" }), "daemon")).toBe(true);
    expect(flagBool(set().parse([], { CNB_SKIP_RESTORE: "true" }), "skip-layers")).toBe(true);
  });

  it("parses Go integer syntax on the command line and decimal only from the environment", () => {
    expect(flagInt(set().parse(["-uid", "0x10"], {}), "uid")).toBe(16);
    expect(flagInt(set().parse(["-uid=010"], {}), "uid")).toBe(8);
    expect(flagInt(set().parse([], { CNB_USER_ID: "1000" }), "uid")).toBe(1000);
    expect(flagInt(set().parse([], { CNB_USER_ID: "abc" }), "uid")).toBe(0);
    expect(() => set().parse(["-uid", "abc"], {})).toThrow("invalid value");
  });

  it("refuses user and group IDs that cannot be IDs, from the flag or the environment", () => {
    expect(() => set().parse(["-uid", "-5"], {})).toThrow(new FlagError('invalid value "-5" for flag -uid: not a user ID (0 to 4294967294)'));
    expect(() => set().parse(["-uid=4294967295"], {})).toThrow("not a user ID");
    expect(() => set().parse([], { CNB_USER_ID: "-5" })).toThrow(new FlagError('invalid value "-5" for CNB_USER_ID: not a user ID (0 to 4294967294)'));
    expect(flagInt(set().parse(["-uid", "4294967294"], {}), "uid")).toBe(4294967294);
    expect(parseGoInt("0b101")).toBe(5);
    expect(parseGoInt("0o17")).toBe(15);
    expect(parseGoInt("1_000")).toBeUndefined();
    expect(parseGoInt("0x_1F")).toBe(31);
  });

  it("appends repeated flags to the list from the environment (F10)", () => {
    const p = set().parse(["-insecure-registry", "c", "-insecure-registry=d,e"], { CNB_INSECURE_REGISTRIES: "a,b" });
    expect(flagStrings(p, "insecure-registry")).toEqual(["a", "b", "c", "d,e"]);
    expect(flagStrings(set().parse(["-tag", "x", "-tag", "y"], {}), "tag")).toEqual(["x", "y"]);
  });

  it("defines version-gated flags only on their Platform APIs", () => {
    expect(() => set("0.12").parse(["-insecure-registry", "x"], {})).toThrow("not defined: -insecure-registry");
    expect(() => set("0.12").parse(["-stack", "x"], {})).toThrow("not defined: -stack");
    expect(flagString(set("0.11").parse(["-stack", "/s.toml"], {}), "stack")).toBe("/s.toml");
    expect(() => set("0.11").parse(["-force"], {})).toThrow("not defined: -force");
    // the environment variable still counts where the flag does not exist
    expect(flagBool(set("0.11").parse([], { CNB_FORCE_REBASE: "true" }), "force")).toBe(true);
  });

  it("renders usage with Go-style flag names, types and env vars", () => {
    const usage = set().usage();
    expect(usage).toContain("-layers string");
    expect(usage).toContain("CNB_LAYERS_DIR");
    expect(usage).toContain("-daemon ");
    expect(usage).not.toContain("-stack");
  });
});
