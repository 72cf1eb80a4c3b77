import { describe, expect, it } from "vitest";
import { ApiVersion } from "../../src/platform/api-version.js";
import { LifecycleError } from "../../src/platform/errors.js";
import { negotiatePlatformApi, verifyBuildpackApi } from "../../src/platform/platform-api.js";

function code(fn: () => unknown): number | undefined {
  try {
    fn();
  } catch (err) {
    return err instanceof LifecycleError ? err.exitCode : -1;
  }
  return undefined;
}

describe("Platform API negotiation", () => {
  it("parses versions like the Go lifecycle", () => {
    expect(ApiVersion.parse("0.12")?.toString()).toBe("0.12");
    expect(ApiVersion.parse("v0.12")?.toString()).toBe("0.12");
    expect(ApiVersion.parse("1")?.toString()).toBe("1.0");
    expect(ApiVersion.parse("abc")).toBeUndefined();
    expect(ApiVersion.parse("0.1.2")).toBeUndefined();
    expect(ApiVersion.must("0.9").lessThan("0.10")).toBe(true);
  });

  it("requires CNB_PLATFORM_API and accepts 0.7 to 0.15 only", () => {
    expect(code(() => negotiatePlatformApi({}))).toBe(11);
    expect(code(() => negotiatePlatformApi({ CNB_PLATFORM_API: "  " }))).toBe(11);
    for (const bad of ["0.6", "0.16", "abc", "1.0"]) expect(code(() => negotiatePlatformApi({ CNB_PLATFORM_API: bad }))).toBe(11);
    for (const good of ["0.7", "0.10", "0.15", "v0.15"]) expect(negotiatePlatformApi({ CNB_PLATFORM_API: good }).atLeast("0.7")).toBe(true);
  });

  it("uses the Go lifecycle's messages", () => {
    expect(() => negotiatePlatformApi({})).toThrow("please set 'CNB_PLATFORM_API' to specify the desired platform API version");
    expect(() => negotiatePlatformApi({ CNB_PLATFORM_API: "abc" })).toThrow("failed to parse platform API 'abc'");
    expect(() => negotiatePlatformApi({ CNB_PLATFORM_API: "0.16" })).toThrow(
      "failed to set platform API: platform API version '0.16' is incompatible with the lifecycle",
    );
  });

  it("checks buildpack APIs with exit 12", () => {
    expect(code(() => verifyBuildpackApi("buildpack", "acme/node", "1.0.0", "0.6", {}))).toBe(12);
    expect(() => verifyBuildpackApi("buildpack", "acme/node", "1.0.0", "0.6", {})).toThrow(
      "failed to set API for buildpack 'acme/node@1.0.0': buildpack API version '0.6' is incompatible with the lifecycle",
    );
    expect(verifyBuildpackApi("buildpack", "acme/node", "1.0.0", "0.12", {}).toString()).toBe("0.12");
  });
});
