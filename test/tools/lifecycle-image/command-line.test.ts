import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { parseImageCommand, UsageError } from "../../../src/tools/lifecycle-image/command-line.js";
import { ImageSinkError, parseLoadNames, parsePushReferences } from "../../../src/tools/lifecycle-image/image-sinks.js";

const root = join(import.meta.dirname, "..", "..", "..");
const { version } = JSON.parse(readFileSync(join(root, "package.json"), "utf8")) as { version: string };

describe("npm run image command line", () => {
  it("defaults to the release tarball of package.json's version, apt with the cache under node_modules, and dist/image", () => {
    const cmd = parseImageCommand(["--launcher", "launcher"], root, "/home/me/work", {});
    expect(cmd).toEqual({
      launcher: "/home/me/work/launcher",
      push: [],
      load: [],
      release: join(root, "dist", "release", `lifecycle-v${version}+linux.x86-64.tgz`),
      packages: { kind: "apt", cacheDir: join(root, "node_modules", ".cache", "lifecycle-image", "debs") },
      out: join(root, "dist", "image"),
    });
  });

  it("takes paths relative to where npm was started, repeated --push, --debs for offline builds and LIFECYCLE_IMAGE_CACHE", () => {
    const cmd = parseImageCommand(
      ["--launcher=/abs/launcher", "--push", "r.example/a:1", "--push", "r.example/a:latest", "--load", "cnb/lifecycle:0.1.0", "--release", "rel.tgz", "--debs", "debs", "--out", "layout"],
      root,
      "/w",
      { LIFECYCLE_IMAGE_CACHE: "cache" },
    );
    expect(cmd).toEqual({
      launcher: "/abs/launcher",
      push: ["r.example/a:1", "r.example/a:latest"],
      load: ["cnb/lifecycle:0.1.0"],
      release: "/w/rel.tgz",
      packages: { kind: "directory", dir: "/w/debs" },
      out: "/w/layout",
    });
    expect(parseImageCommand(["--launcher", "l"], root, "/w", { LIFECYCLE_IMAGE_CACHE: "cache" }).packages).toEqual({ kind: "apt", cacheDir: "/w/cache/debs" });
  });

  it("refuses to build without a launcher, saying why one is needed", () => {
    expect(() => parseImageCommand([], root, "/w", {})).toThrow(UsageError);
    expect(() => parseImageCommand(["--push", "x/y"], root, "/w", {})).toThrow(/^--launcher is required: the exporter copies \/cnb\/lifecycle\/launcher into every app image/);
  });

  it("refuses unknown options and stray arguments", () => {
    expect(() => parseImageCommand(["--launcher", "l", "--lod"], root, "/w", {})).toThrow(UsageError);
    expect(() => parseImageCommand(["--launcher", "l", "extra"], root, "/w", {})).toThrow(UsageError);
  });

  it("checks --push references before anything is built", () => {
    expect(parsePushReferences(["127.0.0.1:5000/cnb/lifecycle:0.1.0"]).map((r) => r.original)).toEqual(["127.0.0.1:5000/cnb/lifecycle:0.1.0"]);
    expect(() => parsePushReferences(["Bad Ref"])).toThrow(ImageSinkError);
    expect(() => parsePushReferences(["Bad Ref"])).toThrow(/^invalid --push reference "Bad Ref": /);
  });

  it("checks --load names before anything is built: a name the daemon can tag, not a digest", () => {
    expect(parseLoadNames(["cnb/lifecycle:0.1.0", "localhost:5000/cnb/lifecycle"])).toEqual(["cnb/lifecycle:0.1.0", "localhost:5000/cnb/lifecycle"]);
    expect(() => parseLoadNames([`cnb/lifecycle@sha256:${"a".repeat(64)}`])).toThrow(/^invalid --load name "cnb\/lifecycle@sha256:a+": cannot tag an image with the digest reference/);
    expect(() => parseLoadNames(["Bad Name"])).toThrow(ImageSinkError);
  });
});
