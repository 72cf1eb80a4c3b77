import { describe, expect, it } from "vitest";
import { buildpackDirName, pathComponentProblem, usableLayers } from "../../../src/platform/files/layer-names.js";

describe("layer and buildpack names that become paths", () => {
  it("accepts ordinary names and refuses every name that is not one path component", () => {
    for (const ok of ["node", "node_modules", "a..b", ".hidden", "x.toml", "__proto__", "ünïcode"]) expect(pathComponentProblem(ok), ok).toBeUndefined();
    expect(pathComponentProblem("")).toBe("is empty");
    expect(pathComponentProblem("..")).toBe('is ".."');
    expect(pathComponentProblem(".")).toBe('is "."');
    expect(pathComponentProblem("../group")).toBe('contains "/"');
    expect(pathComponentProblem("a\0b")).toBe("contains a NUL byte");
    expect(pathComponentProblem("a\nb")).toBe("contains a control character");
  });

  it("escapes buildpack IDs and refuses those whose directory name is not one component", () => {
    expect(buildpackDirName("acme/node")).toBe("acme_node");
    expect(() => buildpackDirName("..")).toThrow('invalid buildpack ID "..": not usable as a directory name (is "..")');
    expect(() => buildpackDirName("")).toThrow("is empty");
  });

  it("keeps the usable layers of a record and reports the others", () => {
    const skipped: string[] = [];
    const layers = JSON.parse('{"ok": 1, "../x": 2, "__proto__": 3, "": 4}') as Record<string, number>;
    const usable = usableLayers(layers, (name, problem) => skipped.push(`${name}: ${problem}`));
    expect(Object.keys(usable).sort()).toEqual(["__proto__", "ok"]);
    expect(Object.getPrototypeOf(usable)).toBe(Object.prototype);
    expect(skipped).toEqual(['../x: contains "/"', ": is empty"]);
  });
});
