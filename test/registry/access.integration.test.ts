// Read and write access probes (checkReadAccess / checkWriteAccess) against real registries:
// existing and missing images, anonymous clients of an htpasswd registry, and a token user whose
// grants allow pull but not push.
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { checkReadAccess, checkWriteAccess, type AccessResult } from "../../src/registry/access.js";
import { RegistryClient } from "../../src/registry/client.js";
import { DefaultKeychain } from "../../src/registry/keychain.js";
import { Reference } from "../../src/registry/reference.js";
import { NetworkError } from "../../src/registry/errors.js";
import { NO_RETRY, type RetryPolicy } from "../../src/registry/retry.js";
import {
  basicAuthorization,
  buildRunImage,
  expectNoLeakedProcesses,
  faults,
  pushImage as skopeoPush,
  useFaultProxy,
  useRegistry,
  useTempDir,
  type BuiltImage,
  type Credentials,
  type TokenServer,
} from "../harness/index.js";

expectNoLeakedProcesses();
const temp = useTempDir("registry-access");

const FAST: RetryPolicy = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 60_000 };
const PULLER: Credentials = { username: "puller", password: "pull-only-pw" };

let fixture: BuiltImage;

beforeAll(async () => {
  fixture = await buildRunImage(join(temp(), "layout"));
});

async function probe(
  host: string,
  credentials: Credentials | undefined,
  fn: (client: RegistryClient) => Promise<AccessResult>,
  retry: RetryPolicy = FAST,
): Promise<AccessResult> {
  const env: NodeJS.ProcessEnv = { HOME: temp() };
  if (credentials) env.CNB_REGISTRY_AUTH = JSON.stringify({ [host]: basicAuthorization(credentials) });
  const client = new RegistryClient({ keychain: new DefaultKeychain({ env }), env, retry });
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

const ref = (host: string, name: string): Reference => Reference.parse(`${host}/${name}`);

describe("checkReadAccess", () => {
  const registry = useRegistry("plain");
  const htpasswd = useRegistry("htpasswd");

  beforeAll(async () => {
    await skopeoPush(fixture, registry(), "cnb/run:latest");
    await skopeoPush(fixture, htpasswd(), "cnb/run:latest");
  });

  it("is true for an existing image", async () => {
    expect(await probe(registry().host, undefined, (c) => checkReadAccess(c, ref(registry().host, "cnb/run:latest")))).toEqual({ ok: true });
    const byDigest = ref(registry().host, `cnb/run@${fixture.descriptor.digest}`);
    expect(await probe(registry().host, undefined, (c) => checkReadAccess(c, byDigest))).toEqual({ ok: true });
  });

  it("is false with status 404 for a missing image, unless 404 counts as readable", async () => {
    const missing = ref(registry().host, "cnb/run:missing");
    const denied = await probe(registry().host, undefined, (c) => checkReadAccess(c, missing));
    expect(denied).toMatchObject({ ok: false, status: 404 });
    expect(denied.error?.message).toMatch(/HEAD .*\/v2\/cnb\/run\/manifests\/missing: unexpected status code 404 Not Found/);
    expect(await probe(registry().host, undefined, (c) => checkReadAccess(c, missing, { notFoundIsReadable: true }))).toMatchObject({ ok: true, status: 404 });
  });

  it("is false with status 401 for an htpasswd registry without credentials, true with them", async () => {
    const image = ref(htpasswd().host, "cnb/run:latest");
    expect(await probe(htpasswd().host, undefined, (c) => checkReadAccess(c, image))).toMatchObject({ ok: false, status: 401 });
    expect(await probe(htpasswd().host, undefined, (c) => checkReadAccess(c, image, { notFoundIsReadable: true }))).toMatchObject({ ok: false, status: 401 });
    expect(await probe(htpasswd().host, htpasswd().credentials, (c) => checkReadAccess(c, image))).toEqual({ ok: true });
  });
});

describe("checkReadAccess with bounds (retry, timeoutMs, signal)", () => {
  const registry = useRegistry("plain");
  const proxy = useFaultProxy(registry);
  const PING = /^\/v2\/$/;
  const MANIFEST = /^\/v2\/cnb\/run\/manifests\//;
  const image = (): Reference => ref(proxy().host, "cnb/run:latest");

  beforeAll(async () => {
    await skopeoPush(fixture, registry(), "cnb/run:latest");
  });

  /** Resolves once `check` holds (polled every 10 ms), rejects after 5 s. */
  async function until(check: () => boolean): Promise<void> {
    for (const started = Date.now(); !check(); ) {
      if (Date.now() - started > 5000) throw new Error("condition not reached within 5 s");
      await new Promise((resolve) => setTimeout(resolve, 10));
    }
  }

  it("with retry: NO_RETRY makes exactly one ping attempt when the ping fails", async () => {
    proxy().addRule({ method: "GET", path: PING, fault: faults.serverError(503) });
    const result = await probe(proxy().host, undefined, (c) => checkReadAccess(c, image(), { retry: NO_RETRY }));
    expect(result).toMatchObject({ ok: false, status: 503 });
    expect(proxy().count({ path: PING })).toBe(1);
    expect(proxy().count({ path: MANIFEST })).toBe(0);
  });

  it("with retry: NO_RETRY makes exactly one HEAD attempt (the client's policy would make four)", async () => {
    proxy().addRule({ method: "HEAD", path: MANIFEST, fault: faults.serverError(503) });
    const once = await probe(proxy().host, undefined, (c) => checkReadAccess(c, image(), { retry: NO_RETRY }));
    expect(once).toMatchObject({ ok: false, status: 503 });
    expect([proxy().count({ path: PING }), proxy().count({ method: "HEAD", path: MANIFEST })]).toEqual([1, 1]);
    proxy().resetCounters();
    await probe(proxy().host, undefined, (c) => checkReadAccess(c, image()));
    expect(proxy().count({ method: "HEAD", path: MANIFEST })).toBe(FAST.attempts);
  });

  it("with timeoutMs gives up on a stalled manifest HEAD in time and closes its connection", async () => {
    const rule = proxy().addRule({ method: "HEAD", path: MANIFEST, fault: faults.stall() });
    const started = performance.now();
    const result = await probe(proxy().host, undefined, (c) => checkReadAccess(c, image(), { retry: NO_RETRY, timeoutMs: 300 }));
    expect(performance.now() - started).toBeLessThan(1500);
    expect(result.ok).toBe(false);
    expect(result.error).toBeInstanceOf(NetworkError);
    expect((result.error as NetworkError).code).toBe("ETIMEDOUT");
    await until(() => rule.hits === 1);
    expect(proxy().count({ method: "HEAD", path: MANIFEST })).toBe(1);
  });

  it("with timeoutMs gives up on a stalled ping in time", async () => {
    const rule = proxy().addRule({ method: "GET", path: PING, fault: faults.stall() });
    const started = performance.now();
    const result = await probe(proxy().host, undefined, (c) => checkReadAccess(c, image(), { retry: NO_RETRY, timeoutMs: 200 }));
    expect(performance.now() - started).toBeLessThan(1500);
    expect((result.error as NetworkError).code).toBe("ETIMEDOUT");
    await until(() => rule.hits === 1);
    expect(proxy().count({ path: MANIFEST })).toBe(0);
  });

  it("stops at once when its signal aborts: an in-flight HEAD is cancelled", async () => {
    const rule = proxy().addRule({ method: "HEAD", path: MANIFEST, fault: faults.stall() });
    const controller = new AbortController();
    const pending = probe(proxy().host, undefined, (c) => checkReadAccess(c, image(), { signal: controller.signal }));
    await until(() => proxy().count({ method: "HEAD", path: MANIFEST }) === 1);
    controller.abort(new Error("selection decided without this probe"));
    const result = await pending;
    expect(result).toMatchObject({ ok: false });
    expect(result.error?.message).toBe("selection decided without this probe");
    await until(() => rule.hits === 1);
  });

  it("stops at once when its signal aborts: a pending backoff is cancelled", async () => {
    proxy().addRule({ method: "HEAD", path: MANIFEST, fault: faults.serverError(503) });
    const slow: RetryPolicy = { attempts: 5, baseDelayMs: 30_000, maxDelayMs: 60_000, maxRetryAfterMs: 60_000 };
    const controller = new AbortController();
    const started = performance.now();
    const pending = probe(proxy().host, undefined, (c) => checkReadAccess(c, image(), { retry: slow, signal: controller.signal }));
    await until(() => proxy().count({ method: "HEAD", path: MANIFEST }) === 1);
    controller.abort(new Error("no longer needed"));
    const result = await pending;
    expect(performance.now() - started).toBeLessThan(2000);
    expect(result.error?.message).toBe("no longer needed");
    expect(proxy().count({ method: "HEAD", path: MANIFEST })).toBe(1);
  });
});

describe("checkWriteAccess", () => {
  const htpasswd = useRegistry("htpasswd");
  const proxy = useFaultProxy(htpasswd);
  const token = useRegistry("token", { token: { users: [{ ...PULLER, access: [{ name: "cnb/run", actions: ["pull"] }] }] } });
  const server = (): TokenServer => {
    const s = token().tokenServer;
    if (!s) throw new Error("no token server");
    return s;
  };

  beforeAll(async () => {
    await skopeoPush(fixture, token(), "cnb/run:latest");
  });

  it("is true with push rights, and cancels the probe's upload session", async () => {
    const result = await probe(proxy().host, htpasswd().credentials, (c) => checkWriteAccess(c, ref(proxy().host, "cnb/new-app:latest")));
    expect(result).toEqual({ ok: true });
    expect(proxy().requests().filter((r) => r.path !== "/v2/").map((r) => `${r.method} ${r.status}`)).toEqual(["HEAD 404", "POST 202", "DELETE 204"]);
  });

  it("is false with 401 for an htpasswd registry without credentials", async () => {
    const result = await probe(proxy().host, undefined, (c) => checkWriteAccess(c, ref(proxy().host, "cnb/new-app:latest")));
    expect(result).toMatchObject({ ok: false, status: 401 });
    expect(proxy().count({ method: "POST" })).toBe(0);
  });

  it("is true for a token user with push rights, asking for the push scope", async () => {
    server().clearRequests();
    const result = await probe(token().host, token().credentials, (c) => checkWriteAccess(c, ref(token().host, "cnb/run:latest")));
    expect(result).toEqual({ ok: true });
    // (cancelling the probe's upload session may ask for a further, delete, scope)
    expect(server().requests()[0]).toMatchObject({ username: "testuser", status: 200, scopes: ["repository:cnb/run:push,pull"] });
  });

  it("is false for a token user whose grants allow pull only, while reading works", async () => {
    const image = ref(token().host, "cnb/run:latest");
    expect(await probe(token().host, PULLER, (c) => checkReadAccess(c, image))).toEqual({ ok: true });
    server().clearRequests();
    const result = await probe(token().host, PULLER, (c) => checkWriteAccess(c, image));
    expect(result).toMatchObject({ ok: false, status: 401 });
    expect(result.error?.message).toMatch(/POST .*\/v2\/cnb\/run\/blobs\/uploads\/: UNAUTHORIZED/);
    // the push scope, then once more after the registry's insufficient_scope challenge (which
    // names the scope as "pull,push" or "push,pull": distribution prints a Go map); pull granted only
    const normalized = (scope: string): string => `${scope.slice(0, scope.lastIndexOf(":"))}:${scope.slice(scope.lastIndexOf(":") + 1).split(",").sort().join(",")}`;
    expect(server().requests().map((r) => [r.username, r.status, [...new Set(r.scopes.map(normalized))]])).toEqual([
      ["puller", 200, ["repository:cnb/run:pull,push"]],
      ["puller", 200, ["repository:cnb/run:pull,push"]],
    ]);
    expect(server().requests().flatMap((r) => r.granted.map((g) => g.actions)).every((a) => a.length === 1 && a[0] === "pull")).toBe(true);
  });
});
