import { mkdir, mkdtemp, rm, stat, symlink, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { BadPatternError, EMPTY_LAYER_DIFF_ID, appSliceSources, diffIdOf, goMatch } from "../../src/layers/index.js";
import type { LayerSource } from "../../src/layers/index.js";
import { readTar, tarBytes } from "./tar-read.js";

let base: string;
let app: string;
const owner = { uid: 2000, gid: 3000 };

async function put(rel: string, content = rel): Promise<void> {
  await mkdir(dirname(join(app, rel)), { recursive: true });
  await writeFile(join(app, rel), content);
}

beforeAll(async () => {
  base = await mkdtemp(join(tmpdir(), "app-slices-test-"));
  app = join(base, "workspace");
  for (const f of ["a/x", "a-b", "a/y/z.txt", "static/css/site.css", "static/js/app.js", "README.md", "src/main.go"]) await put(f);
  await mkdir(join(app, "empty"));
  await symlink("static", join(app, "zlink"));
});

afterAll(async () => {
  await rm(base, { recursive: true, force: true });
});

/** Names in a layer, relative to the app dir ("" for the app dir itself), app-dir ancestors dropped. */
async function namesOf(src: LayerSource): Promise<string[]> {
  const entries = await readTar(await tarBytes(src));
  return entries.filter((e) => e.name === app || e.name.startsWith(`${app}/`)).map((e) => e.name.slice(app.length));
}

describe("app slices", () => {
  it("gives n+1 layers: matched subtrees with their parents, empty slices as the empty tar, then the rest", async () => {
    const sources = await appSliceSources(app, [{ paths: ["static"] }, { paths: ["*.md", "a/*"] }, { paths: ["nomatch*"] }, { paths: ["static/css/*"] }], owner);
    expect(sources).toHaveLength(5);
    expect(await namesOf(sources[0]!)).toEqual(["", "/static", "/static/css", "/static/css/site.css", "/static/js", "/static/js/app.js"]);
    expect(await namesOf(sources[1]!)).toEqual(["", "/README.md", "/a", "/a/x", "/a/y", "/a/y/z.txt"]);
    expect((await diffIdOf(sources[2]!)).diffId).toBe(EMPTY_LAYER_DIFF_ID);
    expect((await diffIdOf(sources[3]!)).diffId).toBe(EMPTY_LAYER_DIFF_ID); // already taken by slice 1
    // "/a" was consumed (all its children were); the app dir was not, so it is in the last layer.
    expect(await namesOf(sources[4]!)).toEqual(["", "/a-b", "/empty", "/src", "/src/main.go", "/zlink"]);
  });

  it("sorts a slice by full path bytes (/a-b before /a/x), with app-dir ancestors first", async () => {
    const [slice, rest] = await appSliceSources(app, [{ paths: ["a/x", "a-b"] }], owner);
    const entries = await readTar(await tarBytes(slice!));
    const ancestors: string[] = [];
    for (let d = dirname(app); d !== "/"; d = dirname(d)) ancestors.unshift(d);
    expect(entries.map((e) => e.name)).toEqual([...ancestors, app, `${app}/a`, `${app}/a-b`, `${app}/a/x`]);
    for (const [i, a] of ancestors.entries()) expect(entries[i]!.uid).toBe((await stat(a)).uid);
    expect(entries.slice(ancestors.length).every((e) => e.uid === 2000 && e.gid === 3000)).toBe(true);
    // "/a" still has "/a/y" unconsumed, so it appears again in the remainder.
    expect(await namesOf(rest!)).toEqual(["", "/README.md", "/a", "/a/y", "/a/y/z.txt", "/empty", "/src", "/src/main.go", "/static", "/static/css", "/static/css/site.css", "/static/js", "/static/js/app.js", "/zlink"]);
  });

  it("cleans patterns and matches each path segment like filepath.Glob", async () => {
    const [s1, s2, s3] = await appSliceSources(app, [{ paths: ["./static/js/"] }, { paths: ["*/*/*.css", "?-b", "[rR]EADME.*"] }], owner);
    expect(await namesOf(s1!)).toEqual(["", "/static", "/static/js", "/static/js/app.js"]);
    expect(await namesOf(s2!)).toEqual(["", "/README.md", "/a-b", "/static", "/static/css", "/static/css/site.css"]);
    expect(await namesOf(s3!)).toContain("/src/main.go");
    expect(await namesOf(s3!)).not.toContain("/static/js/app.js");
  });

  it("does not follow symlinked directories: the link itself can be sliced, paths through it cannot", async () => {
    const [through, itself] = await appSliceSources(app, [{ paths: ["zlink/*"] }, { paths: ["zlink"] }], owner);
    expect((await diffIdOf(through!)).diffId).toBe(EMPTY_LAYER_DIFF_ID);
    const entries = await readTar(await tarBytes(itself!));
    expect(entries.filter((e) => e.name.startsWith(app)).map((e) => [e.name.slice(app.length), e.type, e.linkname ?? ""])).toEqual([
      ["", "directory", ""],
      ["/zlink", "symlink", "static"],
    ]);
  });

  it("gives identical layers on repeated runs (and a plain app layer without slices)", async () => {
    const [only] = await appSliceSources(app, [], owner);
    const again = (await appSliceSources(app, [], owner))[0]!;
    expect((await diffIdOf(only!)).diffId).toBe((await diffIdOf(again)).diffId);
    expect((await namesOf(only!))[0]).toBe("");
  });

  it("reports malformed patterns like Go", async () => {
    await expect(appSliceSources(app, [{ paths: ["static/["] }], owner)).rejects.toThrow("bad pattern for glob path: syntax error in pattern");
  });
});

describe("goMatch (Go filepath.Match)", () => {
  const cases: [string, string, boolean][] = [
    ["abc", "abc", true],
    ["*", "abc", true],
    ["*c", "abc", true],
    ["a*", "a", true],
    ["a*", "ab/c", false],
    ["a*/b", "abc/b", true],
    ["a*/b", "a/c/b", false],
    ["a*b*c*d*e*/f", "axbxcxdxe/f", true],
    ["a*b*c*d*e*/f", "axbxcxdxexxx/f", true],
    ["a*b*c*d*e*/f", "axbxcxdxe/xxx/f", false],
    ["a*b?c*x", "abxbbxdbxebxczzx", true],
    ["a*b?c*x", "abxbbxdbxebxczzy", false],
    ["ab[c]", "abc", true],
    ["ab[b-d]", "abc", true],
    ["ab[e-g]", "abc", false],
    ["ab[^c]", "abc", false],
    ["ab[^b-d]", "abe", true],
    ["a\\*b", "a*b", true],
    ["a\\*b", "ab", false],
    ["a?b", "a☺b", true],
    ["a[^a]b", "a☺b", true],
    ["a???b", "a☺b", false],
    ["[a-ζ]*", "α", true],
    ["*[a-ζ]", "A", false],
    ["a?b", "a/b", false],
    ["a*b", "a/b", false],
    ["[\\]a]", "]", true],
    ["[\\-]", "-", true],
    ["[x\\-]", "z", false],
    ["*x", "xxx", true],
  ];
  it.each(cases)("Match(%j, %j) = %s", (pattern, name, want) => {
    expect(goMatch(pattern, name)).toBe(want);
  });

  const bad = ["[]a]", "[-]", "[x-]", "[a-b-c]", "[", "[^", "[^bc", "a[", "\\", "a*[", "[a-"];
  it.each(bad)("Match(%j) is a bad pattern", (pattern) => {
    expect(() => goMatch(pattern, "a")).toThrow(BadPatternError);
  });
});
