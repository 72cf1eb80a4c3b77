// The HTTP, ping and redirect layers each alone, against a real registry behind the fault proxy:
// no layer retries anything by itself, time limits and aborts end exchanges that are in flight,
// and a shared ping is cancelled only when every request waiting for it has given up.
import { createHash } from "node:crypto";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RegistryError, NetworkError } from "../../src/registry/errors.js";
import type { Exchange, Send } from "../../src/registry/exchange.js";
import { HttpPool, readCapped } from "../../src/registry/http.js";
import { Pinger } from "../../src/registry/ping.js";
import { checkedLocation, redirectLayer } from "../../src/registry/redirect-layer.js";
import {
  busyboxLayer,
  buildRunImage,
  expectNoLeakedProcesses,
  faults,
  pushImage as skopeoPush,
  useFaultProxy,
  useRegistry,
  useTempDir,
  type BuiltImage,
} from "../harness/index.js";

expectNoLeakedProcesses();
const temp = useTempDir("transport-layers");
const registry = useRegistry("plain");
const proxy = useFaultProxy(registry);

const BIG = 2 * 1024 * 1024 + 11;
const TLS = { insecure: false, ca: [] };
let fixture: BuiltImage;
let bigDigest: string;
const pool = new HttpPool({});
const http: Send = (ex) => pool.send(ex, TLS);

beforeAll(async () => {
  fixture = await buildRunImage(join(temp(), "layout"), { layers: [busyboxLayer(), { files: [{ path: "data/big.bin", size: BIG }] }] });
  await skopeoPush(fixture, registry(), "cnb/run:latest");
  bigDigest = fixture.manifest.layers[1]?.digest ?? "";
});

afterAll(async () => {
  await pool.close();
});

const exchange = (path: string, extra: Partial<Exchange> = {}): Exchange => ({
  method: "GET",
  url: new URL(path, proxy().url),
  headers: {},
  scopes: [],
  ...extra,
});

async function failure(promise: Promise<unknown>): Promise<unknown> {
  return promise.then(
    () => {
      throw new Error("expected a failure");
    },
    (err: unknown) => err,
  );
}

/** Resolves once `check` holds (polled every 10 ms), rejects after 5 s. */
async function until(check: () => boolean): Promise<void> {
  for (const started = Date.now(); !check(); ) {
    if (Date.now() - started > 5000) throw new Error("condition not reached within 5 s");
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe("the HTTP layer", () => {
  it("returns the registry's answer whatever its status, after exactly one exchange", async () => {
    proxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.serverError(503) });
    const res = await http(exchange("/v2/"));
    await res.body.dump();
    expect(res.status).toBe(503);
    expect(proxy().count({ path: "/v2/" })).toBe(1);
  });

  it("turns a connection dropped before the headers into a temporary NetworkError, without retrying", async () => {
    proxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.drop({ rst: true }) });
    const err = await failure(http(exchange("/v2/")));
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).temporary).toBe(true);
    expect((err as Error).message).toMatch(new RegExp(`^GET http://${proxy().host.replace(/\./g, "\\.")}/v2/: `));
    expect(proxy().count({ path: "/v2/" })).toBe(1);
  });

  it("gives up with an ETIMEDOUT NetworkError when the headers miss timeoutMs, and closes the connection", async () => {
    const rule = proxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.stall() });
    const started = performance.now();
    const err = await failure(http(exchange("/v2/", { timeoutMs: 300 })));
    const elapsed = performance.now() - started;
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).code).toBe("ETIMEDOUT");
    expect((err as Error).message).toMatch(/\/v2\/: no response within 300 ms$/);
    expect(elapsed).toBeGreaterThanOrEqual(290);
    expect(elapsed).toBeLessThan(2000);
    // the proxy saw the client close the stalled request
    await until(() => rule.hits === 1);
  });

  it("does not cut a body that takes longer than timeoutMs once the headers arrived", async () => {
    const res = await http(exchange(`/v2/cnb/run/blobs/${bigDigest}`, { timeoutMs: 100 }));
    expect(res.status).toBe(200);
    await sleep(300);
    const data = await readCapped(res, BIG * 2, "blob");
    expect(`sha256:${createHash("sha256").update(data).digest("hex")}`).toBe(bigDigest);
  });

  it("cancels an exchange in flight when the signal aborts, rejecting with the abort reason", async () => {
    const rule = proxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.stall() });
    const controller = new AbortController();
    const pending = failure(http(exchange("/v2/", { signal: controller.signal })));
    await until(() => proxy().count({ path: "/v2/" }) === 1);
    controller.abort(new Error("probe cancelled"));
    expect(((await pending) as Error).message).toBe("probe cancelled");
    await until(() => rule.hits === 1);
  });
});

describe("the ping", () => {
  const pinger = (): Pinger => new Pinger({ registry: proxy().host, allowHttp: true, send: http });

  it("learns the scheme and an anonymous registry (no challenge)", async () => {
    const result = await pinger().ping();
    expect(result.base.toString()).toBe(`http://${proxy().host}/`);
    expect(result.challenge).toBeUndefined();
  });

  it("reports a failing ping as the registry's answer after one exchange (not the https attempt's TLS error)", async () => {
    proxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.serverError(503) });
    const err = await failure(pinger().ping());
    expect(err).toBeInstanceOf(RegistryError);
    expect((err as RegistryError).status).toBe(503);
    expect((err as RegistryError).temporary).toBe(true);
    expect(proxy().count({ path: "/v2/" })).toBe(1);
  });

  it("reports a dropped ping as a temporary NetworkError of the plain-HTTP attempt", async () => {
    proxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.drop() });
    const err = await failure(pinger().ping());
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).temporary).toBe(true);
    expect((err as Error).message).toMatch(/^GET http:\/\//);
  });

  it("is shared by concurrent callers and remembered once it succeeds", async () => {
    const p = pinger();
    const results = await Promise.all([p.ping(), p.ping(), p.ping({ signal: new AbortController().signal })]);
    expect(new Set(results).size).toBe(1);
    await p.ping();
    expect(proxy().count({ path: "/v2/" })).toBe(1);
  });

  it("does not remember a failure: the next call pings again", async () => {
    proxy().addRule({ method: "GET", path: /^\/v2\/$/, times: 1, fault: faults.serverError(502) });
    const p = pinger();
    expect(await failure(p.ping())).toBeInstanceOf(RegistryError);
    expect((await p.ping()).base.protocol).toBe("http:");
    expect(proxy().requests({ path: "/v2/" }).map((r) => r.status)).toEqual([502, 200]);
  });

  it("ends one caller's wait at its time limit, and cancels the ping only when the last caller leaves", async () => {
    const rule = proxy().addRule({ method: "GET", path: /^\/v2\/$/, fault: faults.stall() });
    const p = pinger();
    const patient = new AbortController();
    const bounded = failure(p.ping({ timeoutMs: 150 }));
    const waiting = failure(p.ping({ signal: patient.signal }));
    const err = await bounded;
    expect(err).toBeInstanceOf(NetworkError);
    expect((err as NetworkError).code).toBe("ETIMEDOUT");
    // the other caller still waits: the stalled ping was not cancelled
    await sleep(200);
    expect(rule.hits).toBe(0);
    patient.abort(new Error("gave up too"));
    expect(((await waiting) as Error).message).toBe("gave up too");
    await until(() => rule.hits === 1);
    expect(proxy().count({ path: "/v2/" })).toBe(1);
  });
});

describe("the redirect layer", () => {
  const send = redirectLayer({ allowHttp: true })(http);
  const blob = (): string => `/v2/cnb/run/blobs/${bigDigest}`;

  it("follows a redirect to another host when the exchange asks for it", async () => {
    const rule = proxy().addRule({ method: "GET", path: /\/blobs\//, times: 1, fault: faults.redirectToOtherHost() });
    const res = await send(exchange(blob(), { followRedirects: true }));
    const data = await readCapped(res, BIG * 2, "blob");
    expect(res.status).toBe(200);
    expect(res.url.origin).toBe(proxy().redirects.origin);
    expect(`sha256:${createHash("sha256").update(data).digest("hex")}`).toBe(bigDigest);
    expect(rule.hits).toBe(1);
    expect(proxy().redirects.requests().map((r) => r.status)).toEqual([200]);
  });

  it("returns the redirect itself when the exchange does not ask to follow", async () => {
    proxy().addRule({ method: "GET", path: /\/blobs\//, times: 1, fault: faults.redirectToOtherHost() });
    const res = await send(exchange(blob()));
    await res.body.dump();
    expect(res.status).toBe(307);
    expect(proxy().redirects.requests()).toEqual([]);
  });

  it("refuses locations a registry must not send a client to", () => {
    const from = new URL("https://registry.example.com/v2/app/blobs/sha256:1");
    expect(() => checkedLocation("http://10.0.0.5/blob", from, { allowHttp: true })).toThrow(/to a private address/);
    expect(() => checkedLocation("http://cdn.example.com/blob", from, { allowHttp: false })).toThrow(/from https to http/);
    expect(() => checkedLocation("file:///etc/passwd", from, { allowHttp: true })).toThrow(/refusing redirect/);
    expect(checkedLocation("/v2/app/blobs/uploads/123?_state=x", from, { allowHttp: false }).toString()).toBe(
      "https://registry.example.com/v2/app/blobs/uploads/123?_state=x",
    );
    const local = new URL("http://127.0.0.1:5000/v2/");
    expect(checkedLocation("http://localhost:6000/blob", local, { allowHttp: true }).host).toBe("localhost:6000");
  });
});
