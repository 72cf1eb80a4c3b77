import { describe, expect, it } from "vitest";
import { daemonKind, usesContainerdStore } from "../../../src/image/daemon/daemon-kind.js";
import { InfoSchema } from "../../../src/image/daemon/engine-schemas.js";
import { daemonName, DaemonNameError, imagePath, isImageId, tagTarget } from "../../../src/image/daemon/image-names.js";
import { DaemonLayerIndex } from "../../../src/image/daemon/layer-index.js";

// Shapes of real answers: Docker Engine 27 (/_ping headers, /info with the containerd store) and podman 4.3 (/_ping headers).
const dockerPing = { apiVersion: "1.47", server: "Docker/27.3.1 (linux)" };
const podmanPing = { apiVersion: "1.41", server: "Libpod/4.3.1 (linux)", libpodApiVersion: "4.3.1" };
const containerdInfo = InfoSchema.parse({ Driver: "overlayfs", DriverStatus: [["driver-type", "io.containerd.snapshotter.v1"]] });
const overlay2Info = InfoSchema.parse({ Driver: "overlay2", DriverStatus: [["Backing Filesystem", "extfs"], ["Supports d_type", "true"]] });

describe("which layers a load may leave out", () => {
  it("tells podman, Docker with a graph driver and Docker with the containerd store apart", () => {
    expect(daemonKind(podmanPing, undefined)).toBe("podman");
    expect(daemonKind({ server: "Libpod/5.0.0 (linux)" }, undefined)).toBe("podman");
    expect(daemonKind(dockerPing, overlay2Info)).toBe("docker");
    expect(daemonKind(dockerPing, containerdInfo)).toBe("docker-containerd");
    expect(usesContainerdStore(InfoSchema.parse({ Driver: "vfs", DriverStatus: null }))).toBe(false);
  });

  it("podman: any layer it holds, at any position; Docker: a stored chain from the bottom; containerd store: none", () => {
    const index = new DaemonLayerIndex();
    index.record(["a", "b", "c"]); // e.g. the run image plus one layer
    index.record(["a", "x"]);
    const image = ["a", "b", "n", "x", "c"];
    expect(index.placeholders("podman", image)).toEqual([true, true, false, true, true]);
    expect(index.placeholders("docker", image)).toEqual([true, true, false, false, false]);
    expect(index.placeholders("docker-containerd", image)).toEqual([false, false, false, false, false]);
    // a chain must match from the bottom, not just contain the layers
    expect(index.placeholders("docker", ["b", "c"])).toEqual([false, false]);
    expect(index.storedChainLength(["a", "x", "y"])).toBe(2);
  });
});

describe("image names in the daemon", () => {
  it("qualifies references as Docker does and gives IDs their sha256: prefix", () => {
    expect(daemonName("app")).toBe("docker.io/library/app:latest");
    expect(daemonName("index.docker.io/acme/app:v1")).toBe("docker.io/acme/app:v1");
    expect(daemonName("localhost:5000/acme/app")).toBe("localhost:5000/acme/app:latest");
    expect(daemonName(`registry.example.com/app@sha256:${"c".repeat(64)}`)).toBe(`registry.example.com/app@sha256:${"c".repeat(64)}`);
    expect(daemonName("f".repeat(64))).toBe(`sha256:${"f".repeat(64)}`);
    expect(daemonName(`sha256:${"f".repeat(64)}`)).toBe(`sha256:${"f".repeat(64)}`);
    expect(isImageId(`sha256:${"0".repeat(64)}`)).toBe(true);
    expect(() => daemonName("UPPER/Case")).toThrow(new DaemonNameError("invalid image name 'UPPER/Case'"));
  });

  it("splits tag targets and refuses digests", () => {
    expect(tagTarget("localhost:5000/acme/app:v2")).toEqual({ repo: "localhost:5000/acme/app", tag: "v2" });
    expect(tagTarget("app")).toEqual({ repo: "docker.io/library/app", tag: "latest" });
    expect(() => tagTarget(`app@sha256:${"d".repeat(64)}`)).toThrow("cannot tag an image with the digest reference");
  });

  it("keeps slashes and colons in API paths and escapes the rest", () => {
    expect(imagePath("localhost:5000/acme/app:v1", "/json")).toBe("/images/localhost:5000/acme/app:v1/json");
    expect(imagePath("a b?c#d", "/get")).toBe("/images/a%20b%3Fc%23d/get");
  });
});
