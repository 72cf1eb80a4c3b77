// openRemoteImage (the Go lifecycle's OpenRemoteImage retry, contract §7) against a real registry
// behind the fault proxy: attempts counted from the proxy, the Go lifecycle's log lines, which
// statuses are not retried, and no second retry layer underneath (the transport uses NO_RETRY).
import { createHash } from "node:crypto";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { openRemoteImage } from "../../src/image/open-remote.js";
import { RemoteImage } from "../../src/image/remote-image.js";
import { MemoryLogger } from "../../src/log/logger.js";
import { RegistryClient } from "../../src/registry/client.js";
import { statusOf } from "../../src/registry/errors.js";
import { anonymousKeychain } from "../../src/registry/keychain.js";
import { Reference } from "../../src/registry/reference.js";
import { NO_RETRY, type RetryPolicy } from "../../src/registry/retry.js";
import {
  buildRunImage,
  expectNoLeakedProcesses,
  faults,
  pushImage as skopeoPush,
  useFaultProxy,
  useRegistry,
  useTempDir,
  type BuiltImage,
  type Fault,
} from "../harness/index.js";

expectNoLeakedProcesses();
const temp = useTempDir("open-remote");
const registry = useRegistry("plain");
const proxy = useFaultProxy(registry);

/** The transport would retry 4 times; openRemoteImage's images must not use it. */
const TRANSPORT_RETRY: RetryPolicy = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 60_000 };
const MANIFESTS = /^\/v2\/cnb\/run\/manifests\//;
const DELAYS = ["100ms", "200ms", "500ms", "1s", "2s"];

let fixture: BuiltImage;

beforeAll(async () => {
  fixture = await buildRunImage(join(temp(), "layout"));
  await skopeoPush(fixture, registry(), "cnb/run:latest");
});

async function open(tag = "latest", options: { delays?: number[] } = {}): Promise<{ image?: RemoteImage; error?: unknown; logger: MemoryLogger; attempts: number }> {
  const client = new RegistryClient({ keychain: anonymousKeychain, retry: TRANSPORT_RETRY });
  const logger = new MemoryLogger("debug");
  let attempts = 0;
  const ref = Reference.parse(`${proxy().host}/cnb/run:${tag}`);
  const makeImage = (): RemoteImage => {
    attempts++;
    return new RemoteImage(client, ref, { retry: NO_RETRY });
  };
  try {
    const image = await openRemoteImage(makeImage, logger, options);
    // the opened image is usable: its top layer still reads and verifies
    const top = (await image.layers()).at(-1);
    if (!top) throw new Error("opened image has no layers");
    const hash = createHash("sha256");
    for await (const chunk of await top.open()) hash.update(chunk as Buffer);
    expect(`sha256:${hash.digest("hex")}`).toBe(top.digest);
    return { image, logger, attempts };
  } catch (error) {
    return { error, logger, attempts };
  } finally {
    await client.close();
  }
}

const warnings = (logger: MemoryLogger): string[] => logger.lines.filter((l) => l.startsWith("Warning: "));
const manifestGets = (): number => proxy().count({ method: "GET", path: MANIFESTS });

describe("openRemoteImage", () => {
  it("retries a mirror serving a manifest without layers, with the Go lifecycle's log lines", async () => {
    const rule = proxy().addRule({ method: "GET", path: MANIFESTS, times: 2, fault: faults.emptyLayers() });
    const { image, error, logger, attempts } = await open();
    expect(error).toBeUndefined();
    expect((await image?.manifest())?.digest).toBe(fixture.descriptor.digest);
    expect(rule.hits).toBe(2);
    expect(attempts).toBe(3);
    expect(manifestGets()).toBe(3);
    expect(warnings(logger)).toEqual([
      "Warning: Failed to open remote image (attempt 1/6): image has no layers, retrying in 100ms",
      "Warning: Failed to open remote image (attempt 2/6): image has no layers, retrying in 200ms",
    ]);
    expect(logger.lines.filter((l) => l.startsWith("Successfully"))).toEqual(["Successfully opened remote image after 2 retries"]);
  });

  it("logs nothing when the first attempt succeeds", async () => {
    const { error, logger, attempts } = await open();
    expect(error).toBeUndefined();
    expect(attempts).toBe(1);
    expect(warnings(logger)).toEqual([]);
    expect(logger.lines.some((l) => l.startsWith("Successfully"))).toBe(false);
  });

  it("fails after exactly six attempts (100 ms … 2 s apart) when the fault persists", async () => {
    proxy().addRule({ method: "GET", path: MANIFESTS, fault: faults.emptyLayers() });
    const started = performance.now();
    const { error, logger, attempts } = await open();
    expect(performance.now() - started).toBeGreaterThanOrEqual(3800 - 20);
    expect((error as Error).message).toBe("image has no layers");
    expect(attempts).toBe(6);
    expect(manifestGets()).toBe(6);
    expect(warnings(logger)).toEqual(
      DELAYS.map((d, i) => `Warning: Failed to open remote image (attempt ${i + 1}/6): image has no layers, retrying in ${d}`),
    );
  });

  it.each<[number, Fault]>([
    [400, faults.registryError(400, "MANIFEST_INVALID", "manifest invalid")],
    [401, faults.registryError(401, "UNAUTHORIZED", "authentication required")],
    [403, faults.registryError(403, "DENIED", "requested access to the resource is denied")],
    [405, faults.registryError(405, "UNSUPPORTED", "The operation is unsupported.")],
    [429, faults.tooManyRequests(1)],
  ])("does not retry a %d (exactly one manifest GET)", async (status, fault) => {
    proxy().addRule({ method: "GET", path: MANIFESTS, fault });
    const { error, logger, attempts } = await open();
    expect(statusOf(error)).toBe(status);
    expect(attempts).toBe(1);
    expect(manifestGets()).toBe(1);
    expect(warnings(logger)).toEqual([]);
  });

  it("retries a 503 itself, without a second retry in the transport", async () => {
    const rule = proxy().addRule({ method: "GET", path: MANIFESTS, times: 2, fault: faults.serverError(503) });
    const { error, logger, attempts } = await open();
    expect(error).toBeUndefined();
    expect(rule.hits).toBe(2);
    expect(attempts).toBe(3);
    expect(manifestGets()).toBe(3);
    const url = `http://${proxy().host}/v2/cnb/run/manifests/latest`;
    expect(warnings(logger)).toEqual([
      `Warning: Failed to open remote image (attempt 1/6): GET ${url}: UNAVAILABLE: injected 503, retrying in 100ms`,
      `Warning: Failed to open remote image (attempt 2/6): GET ${url}: UNAVAILABLE: injected 503, retrying in 200ms`,
    ]);
    expect(logger.lines).toContain("Successfully opened remote image after 2 retries");
  });

  it("makes six manifest GETs in all for a persistent 503 (no 6 × 4 amplification)", async () => {
    proxy().addRule({ method: "GET", path: MANIFESTS, fault: faults.serverError(503) });
    const { error, attempts } = await open("latest", { delays: [1, 1, 1, 1, 1] });
    expect(statusOf(error)).toBe(503);
    expect(attempts).toBe(6);
    expect(manifestGets()).toBe(6);
  });

  it("retries a 404 (a mirror still syncing) like the Go lifecycle", async () => {
    const { error, logger, attempts } = await open("not-there-yet", { delays: [1, 1, 1, 1, 1] });
    expect(statusOf(error)).toBe(404);
    expect(attempts).toBe(6);
    expect(manifestGets()).toBe(6);
    expect(warnings(logger)[0]).toMatch(/^Warning: Failed to open remote image \(attempt 1\/6\): GET .*: MANIFEST_UNKNOWN: manifest unknown.*, retrying in 1ms$/);
  });
});
