import { describe, expect, it } from "vitest";
import { Reference, sameImageName } from "../../src/registry/reference.js";

describe("image references are normalised like go-containerregistry", () => {
  it("defaults to Docker Hub, library/ and latest", () => {
    const r = Reference.parse("ubuntu");
    expect([r.registry, r.repository, r.tag, r.name]).toEqual(["index.docker.io", "library/ubuntu", "latest", "index.docker.io/library/ubuntu:latest"]);
    expect(Reference.parse("docker.io/acme/run:jammy").name).toBe("index.docker.io/acme/run:jammy");
    expect(Reference.parse("acme/run").repository).toBe("acme/run");
  });

  it("detects registries by '.', ':' or localhost in the first segment", () => {
    expect(Reference.parse("localhost:5000/app").registry).toBe("localhost:5000");
    expect(Reference.parse("localhost/app").registry).toBe("localhost");
    expect(Reference.parse("gcr.io/acme/run:1").registry).toBe("gcr.io");
    expect(Reference.parse("127.0.0.1:5000/a/b:c").name).toBe("127.0.0.1:5000/a/b:c");
    expect(Reference.parse("acme/run").registry).toBe("index.docker.io");
  });

  it("handles digests, with or without a tag", () => {
    const d = `sha256:${"a".repeat(64)}`;
    const r = Reference.parse(`gcr.io/acme/run:jammy@${d}`);
    expect([r.digest, r.tag, r.name]).toEqual([d, undefined, `gcr.io/acme/run@${d}`]);
    expect(Reference.parse(`run@${d}`).name).toBe(`index.docker.io/library/run@${d}`);
    expect(Reference.parse("reg.io/app:v1").withDigest(d).name).toBe(`reg.io/app@${d}`);
  });

  it("rejects invalid names with ggcr's message", () => {
    for (const bad of ["", "UPPER/case", "a", "repo@sha256:short", "a//b", "reg.io/app:bad tag", "reg.io/app:" + "x".repeat(129)]) {
      expect(() => Reference.parse(bad), bad).toThrow(`could not parse reference: ${bad}`);
    }
  });

  it("compares names ignoring digests, after normalisation", () => {
    expect(sameImageName("acme/run", "index.docker.io/acme/run:latest")).toBe(true);
    expect(sameImageName(`acme/run@sha256:${"b".repeat(64)}`, "acme/run")).toBe(true);
    expect(sameImageName(`acme/run:jammy@sha256:${"b".repeat(64)}`, "index.docker.io/acme/run:jammy")).toBe(true);
    expect(sameImageName("acme/run:jammy", "docker.io/acme/run:jammy")).toBe(true);
    expect(sameImageName("acme/run:jammy", "acme/run:noble")).toBe(false);
  });
});
