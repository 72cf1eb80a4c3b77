// The registry client end to end against real registries of every auth kind: pulls of
// skopeo-pushed fixtures, pushes that skopeo and umoci read back, credential failures, and the
// token flows (scope order, token cache, OAuth2 refresh tokens with the GET fallback).
import { createHash, randomBytes } from "node:crypto";
import { copyFile, mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { Readable } from "node:stream";
import { gzipSync } from "node:zlib";
import tar from "tar-stream";
import { fetch } from "undici";
import { beforeAll, describe, expect, it } from "vitest";
import { FileLayer } from "../../src/image/file-layer.js";
import { MutableImage } from "../../src/image/mutable-image.js";
import { pushImage } from "../../src/image/registry-writer.js";
import { RemoteImage } from "../../src/image/remote-image.js";
import { type Layer } from "../../src/image/types.js";
import { RegistryClient } from "../../src/registry/client.js";
import { NetworkError, RegistryError, statusOf } from "../../src/registry/errors.js";
import { DefaultKeychain } from "../../src/registry/keychain.js";
import { Reference } from "../../src/registry/reference.js";
import type { RetryPolicy } from "../../src/registry/retry.js";
import { uploadBlob, type UploadOutcome } from "../../src/registry/upload.js";
import {
  basicAuthorization,
  buildRunImage,
  expectNoLeakedProcesses,
  faults,
  pushImage as skopeoPush,
  skopeoCopyToLayout,
  skopeoInspectConfig,
  skopeoInspectRaw,
  statTree,
  umociUnpack,
  useFaultProxy,
  useRegistry,
  useTempDir,
  type BuiltImage,
  type Credentials,
  type RegistryHandle,
  type TokenServer,
} from "../harness/index.js";
import { MediaType } from "../../src/oci/media-types.js";

expectNoLeakedProcesses();
const temp = useTempDir("registry-auth");

const FAST: RetryPolicy = { attempts: 4, baseDelayMs: 20, maxDelayMs: 200, maxRetryAfterMs: 60_000 };
const APP_FILE = "Hello from the pushed app layer\n";

let fixture: BuiltImage;
let appLayer: FileLayer;

const sha256 = (data: Uint8Array | string): string => `sha256:${createHash("sha256").update(data).digest("hex")}`;

/** A gzip layer file with /app (uid 1000) and /app/hello.txt, built with tar-stream. */
async function makeAppLayer(dir: string): Promise<FileLayer> {
  const pack = tar.pack();
  const mtime = new Date("2021-02-03T04:05:06Z");
  pack.entry({ name: "app/", type: "directory", mode: 0o755, uid: 1000, gid: 1000, mtime });
  pack.entry({ name: "app/hello.txt", mode: 0o644, uid: 1000, gid: 1000, mtime }, APP_FILE);
  pack.finalize();
  const chunks: Buffer[] = [];
  for await (const chunk of pack) chunks.push(chunk as Buffer);
  const uncompressed = Buffer.concat(chunks);
  const compressed = gzipSync(uncompressed, { level: 1 });
  const path = join(dir, "app-layer.tar.gz");
  await writeFile(path, compressed);
  return new FileLayer(path, sha256(compressed), sha256(uncompressed), compressed.length, MediaType.OciLayerGzip);
}

async function sha256Of(stream: Readable): Promise<string> {
  const hash = createHash("sha256");
  for await (const chunk of stream) hash.update(chunk as Buffer);
  return `sha256:${hash.digest("hex")}`;
}

/** `{ CNB_REGISTRY_AUTH: { host: "<scheme> <value>" } }` plus a HOME without a docker config. */
function authEnv(host: string, header: string | undefined): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { HOME: join(temp(), "home") };
  if (header !== undefined) env.CNB_REGISTRY_AUTH = JSON.stringify({ [host]: header });
  return env;
}

/** A client for `registry`: its own credentials (`header` undefined), these (a header value) or none (null); the harness CA. */
function clientFor(
  registry: { host: string; credentials?: Credentials; caPath?: string },
  header?: string | null,
  extra: { env?: NodeJS.ProcessEnv; certsDir?: string } = {},
): RegistryClient {
  const creds = header === undefined ? (registry.credentials ? basicAuthorization(registry.credentials) : undefined) : (header ?? undefined);
  const env = { ...authEnv(registry.host, creds), ...(extra.env ?? (registry.caPath ? { SSL_CERT_FILE: registry.caPath } : {})) };
  return new RegistryClient({ keychain: new DefaultKeychain({ env }), env, retry: FAST, certsDir: extra.certsDir });
}

async function withClient<T>(client: RegistryClient, fn: (client: RegistryClient) => Promise<T>): Promise<T> {
  try {
    return await fn(client);
  } finally {
    await client.close();
  }
}

function tokenServer(registry: RegistryHandle): TokenServer {
  if (!registry.tokenServer) throw new Error("not a token registry");
  return registry.tokenServer;
}

beforeAll(async () => {
  await mkdir(join(temp(), "home"));
  fixture = await buildRunImage(join(temp(), "layout"), { stackId: "io.test.stack" });
  appLayer = await makeAppLayer(temp());
});

describe.each(["plain", "htpasswd", "tls", "token"] as const)("a %s registry", (kind) => {
  const registry = useRegistry(kind);
  let runDigest: string;

  beforeAll(async () => {
    runDigest = await skopeoPush(fixture, registry(), "cnb/run:latest");
  });

  it("serves a skopeo-pushed run image to RemoteImage: manifest, config and layers matching their digests and diffIDs", async () => {
    await withClient(clientFor(registry()), async (client) => {
      const image = new RemoteImage(client, Reference.parse(`${registry().host}/cnb/run:latest`));
      const manifest = await image.manifest();
      expect(manifest.digest).toBe(runDigest);
      expect(manifest.digest).toBe(fixture.descriptor.digest);
      expect(manifest.mediaType).toBe(MediaType.OciManifest);
      expect(manifest.manifest.layers.map((l) => l.digest)).toEqual(fixture.manifest.layers.map((l) => l.digest));

      const config = await image.config();
      expect(config.digest).toBe(fixture.manifest.config.digest);
      expect(sha256(config.raw)).toBe(config.digest);
      expect(config.config.config?.Labels?.["io.buildpacks.stack.id"]).toBe("io.test.stack");

      const layers = await image.layers();
      expect(layers.map((l) => l.diffId)).toEqual(fixture.config.rootfs.diff_ids);
      for (const layer of layers) {
        expect(await sha256Of(await layer.uncompressed())).toBe(layer.diffId);
        expect(await sha256Of(await layer.open())).toBe(layer.digest);
      }
    });
  });

  it("pushes an image (fixture + a new file layer) that skopeo and umoci read back identically", async () => {
    const repo = `cnb/app-${kind}`;
    await withClient(clientFor(registry()), async (client) => {
      const base = new RemoteImage(client, Reference.parse(`${registry().host}/cnb/run:latest`));
      const image = await MutableImage.from(base);
      image.addLayer(appLayer, { created_by: "test: app layer" });
      image.setLabel("io.test.pushed-to", kind);
      const outcomes = new Map<string, UploadOutcome>();
      const result = await pushImage(client, image, [Reference.parse(`${registry().host}/${repo}:v1`)], {
        onLayer: (layer: Layer, upload) => outcomes.set(layer.digest, upload.outcome),
      });
      const ours = await image.manifest();
      expect(result.digest).toBe(ours.digest);
      // base layers come from the same registry: mounted, not re-sent; the new layer is uploaded
      expect(Object.fromEntries(outcomes)).toEqual({
        ...Object.fromEntries(fixture.manifest.layers.map((l) => [l.digest, "mounted"])),
        [appLayer.digest]: "uploaded",
      });

      const raw = await skopeoInspectRaw(registry(), `${repo}:v1`);
      expect(Buffer.from(raw.raw, "utf8").equals(ours.raw)).toBe(true);
      expect(sha256(raw.raw)).toBe(result.digest);
      expect(raw.mediaType).toBe(MediaType.OciManifest);

      const config = await skopeoInspectConfig(registry(), `${repo}:v1`);
      const ourConfig = (await image.config()).config;
      expect(config.rootfs.diff_ids).toEqual([...fixture.config.rootfs.diff_ids, appLayer.diffId]);
      expect(config.config?.Labels).toEqual(ourConfig.config?.Labels);
      expect(config.config?.Labels?.["io.test.pushed-to"]).toBe(kind);
      expect(config.history?.at(-1)?.created_by).toBe("test: app layer");
      expect(raw.manifest?.config.digest).toBe((await image.config()).digest);

      const copy = join(temp(), `copy-${kind}`);
      await skopeoCopyToLayout(registry(), `${repo}:v1`, copy, "v1");
      const { rootfs } = await umociUnpack(copy, "v1", join(temp(), `bundle-${kind}`));
      expect(await readFile(join(rootfs, "app/hello.txt"), "utf8")).toBe(APP_FILE);
      const tree = await statTree(rootfs);
      expect(tree.get("app/hello.txt")).toMatchObject({ type: "file", mode: 0o644, uid: 1000, gid: 1000 });
      expect(tree.get("app")).toMatchObject({ type: "directory", uid: 1000 });
      expect(tree.get("bin/sh")).toMatchObject({ type: "symlink", link: "busybox" });
      expect(tree.get("etc/passwd")?.type).toBe("file");
    });
  });
});

describe("an htpasswd registry", () => {
  const registry = useRegistry("htpasswd");

  it("rejects wrong credentials with a 401 error that does not contain the password", async () => {
    const password = "wrong-secret-pw";
    const header = basicAuthorization({ username: "testuser", password });
    await withClient(clientFor(registry(), header), async (client) => {
      const err = await new RemoteImage(client, Reference.parse(`${registry().host}/cnb/run:latest`)).manifest().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(RegistryError);
      expect(statusOf(err)).toBe(401);
      const message = (err as Error).message;
      expect(message).toMatch(/UNAUTHORIZED: authentication required/);
      expect(message).toContain(`${registry().host}/v2/cnb/run/manifests/latest`);
      expect(message).not.toContain(password);
      expect(message).not.toContain(header.slice("Basic ".length));
    });
  });

  it("answers 401 to anonymous requests without retrying them", async () => {
    await withClient(clientFor(registry(), null), async (client) => {
      await expect(new RemoteImage(client, Reference.parse(`${registry().host}/cnb/run:latest`)).manifest()).rejects.toMatchObject({
        status: 401,
      });
    });
  });
});

describe("a tls registry", () => {
  const registry = useRegistry("tls");

  beforeAll(async () => {
    await skopeoPush(fixture, registry(), "cnb/run:latest");
  });

  it("trusts a CA from a docker-style certs dir (<dir>/<host:port>/*.crt)", async () => {
    const certsDir = join(temp(), "certs.d");
    await mkdir(join(certsDir, registry().host), { recursive: true });
    await copyFile(registry().caPath ?? "", join(certsDir, registry().host, "ca.crt"));
    await withClient(clientFor(registry(), null, { env: {}, certsDir }), async (client) => {
      const manifest = await new RemoteImage(client, Reference.parse(`${registry().host}/cnb/run:latest`)).manifest();
      expect(manifest.digest).toBe(fixture.descriptor.digest);
    });
  });

  it("fails with a certificate error (not a plain-HTTP fallback) when the CA is not trusted", async () => {
    await withClient(clientFor(registry(), null, { env: {} }), async (client) => {
      const err = await new RemoteImage(client, Reference.parse(`${registry().host}/cnb/run:latest`)).manifest().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(err).toBeInstanceOf(NetworkError);
      expect((err as NetworkError).temporary).toBe(false);
      expect((err as Error).message).toMatch(/^GET https:\/\/127\.0\.0\.1:\d+\/v2\/: .*certificate/);
    });
  });
});

describe("a token registry", () => {
  const IDENTITY = "identity-token-for-get-fallback";
  const registry = useRegistry("token", { token: { users: [{ username: "<token>", password: IDENTITY }] } });
  const proxy = useFaultProxy(registry);
  const server = (): TokenServer => tokenServer(registry());

  beforeAll(async () => {
    await skopeoPush(fixture, registry(), "cnb/run:latest");
  });

  it("fetches one token per scope set and reuses it for every blob request", async () => {
    server().clearRequests();
    await withClient(clientFor(proxy()), async (client) => {
      const image = new RemoteImage(client, Reference.parse(`${proxy().host}/cnb/run:latest`));
      for (const layer of await image.layers()) expect(await sha256Of(await layer.open())).toBe(layer.digest);
    });
    const blobGets = proxy().requests({ method: "GET", path: /\/blobs\/sha256:/ });
    expect(blobGets.length).toBe(fixture.manifest.layers.length + 1);
    expect(blobGets.every((r) => r.authorization && r.status === 200)).toBe(true);
    expect(server().requests().map((r) => [r.method, r.authorization, r.status, r.scopes])).toEqual([
      ["GET", "basic", 200, ["repository:cnb/run:pull"]],
    ]);
  });

  it("asks for the push scope first (with the mount source's pull scope after it), one token per scope set", async () => {
    await withClient(clientFor(registry()), async (client) => {
      const image = await MutableImage.from(new RemoteImage(client, Reference.parse(`${registry().host}/cnb/run:latest`)));
      image.addLayer(appLayer);
      server().clearRequests();
      await pushImage(client, image, [Reference.parse(`${registry().host}/cnb/scoped:v1`)]);
    });
    const records = server().requests();
    expect(records.length).toBeGreaterThan(0);
    expect(records.every((r) => r.status === 200 && r.scopes[0] === "repository:cnb/scoped:push,pull")).toBe(true);
    // every scope set is fetched once and then served from the cache
    const sets = records.map((r) => [...r.scopes].sort().join(" "));
    expect(new Set(sets).size).toBe(sets.length);
    // the mounts of the base layers ran with a token that may also pull from the source repository
    const mounting = records.find((r) => r.scopes.includes("repository:cnb/run:pull"));
    expect(mounting?.scopes).toEqual(["repository:cnb/scoped:push,pull", "repository:cnb/run:pull"]);
    expect(mounting?.granted).toEqual([
      { type: "repository", name: "cnb/scoped", actions: ["push", "pull"] },
      { type: "repository", name: "cnb/run", actions: ["pull"] },
    ]);
  });

  it("puts a scope the registry challenges for first, fetches a token for it and retries once", async () => {
    const challenge = `Bearer realm="${server().realm}",service="${server().service}",scope="repository:cnb/extra:pull",error="insufficient_scope"`;
    const rule = proxy().addRule({ method: "GET", path: /\/manifests\/latest$/, times: 1, fault: faults.plainTextUnauthorized("insufficient scope\n", challenge) });
    server().clearRequests();
    await withClient(clientFor(proxy()), async (client) => {
      const image = new RemoteImage(client, Reference.parse(`${proxy().host}/cnb/run:latest`));
      expect((await image.manifest()).digest).toBe(fixture.descriptor.digest);
    });
    expect(rule.hits).toBe(1);
    expect(proxy().requests({ method: "GET", path: /\/manifests\// }).map((r) => [r.status, r.authorization])).toEqual([
      [401, true],
      [200, true],
    ]);
    expect(server().requests().map((r) => [r.status, r.scopes])).toEqual([
      [200, ["repository:cnb/run:pull"]],
      [200, ["repository:cnb/extra:pull", "repository:cnb/run:pull"]],
    ]);
  });

  it("restarts an upload from POST when a token refresh needs the streamed PATCH body a second time", async () => {
    const repo = "cnb/refreshed";
    const challenge = `Bearer realm="${server().realm}",service="${server().service}",scope="repository:${repo}:push,pull",error="invalid_token"`;
    const rule = proxy().addRule({ method: "PATCH", path: /\/blobs\/uploads\//, times: 1, fault: faults.plainTextUnauthorized("token expired\n", challenge) });
    const blob = randomBytes(2 * 1024 * 1024 + 3);
    const digest = sha256(blob);
    server().clearRequests();
    const result = await withClient(clientFor(proxy()), (client) =>
      uploadBlob(client.repository(Reference.parse(`${proxy().host}/${repo}:latest`), { push: true }), {
        digest,
        size: blob.length,
        open: () => Readable.from([blob.subarray(0, 1 << 20), blob.subarray(1 << 20)]),
      }),
    );
    expect(result).toEqual({ digest, size: blob.length, outcome: "uploaded" });
    expect(rule.hits).toBe(1);
    expect(proxy().requests({ path: new RegExp(`^/v2/${repo}/blobs/uploads/`) }).map((r) => `${r.method} ${r.status}`)).toEqual([
      "POST 202",
      "PATCH 401",
      "POST 202",
      "PATCH 202",
      "PUT 201",
    ]);
    // the refresh fetched a second token; the restarted upload used it from the cache
    expect(server().requests().map((r) => r.status)).toEqual([200, 200]);
  });

  it("rejects wrong credentials with the token server's 401, without the password in the message", async () => {
    const password = "not-the-password-42";
    await withClient(clientFor(registry(), basicAuthorization({ username: "testuser", password })), async (client) => {
      const err = await new RemoteImage(client, Reference.parse(`${registry().host}/cnb/run:latest`)).manifest().then(
        () => undefined,
        (e: unknown) => e,
      );
      expect(statusOf(err)).toBe(401);
      expect((err as Error).message).toMatch(/UNAUTHORIZED: invalid username\/password/);
      expect((err as Error).message).toContain(server().realm);
      expect((err as Error).message).not.toContain(password);
    });
  });

  it("exchanges an X-Identity refresh token with the OAuth2 POST flow", async () => {
    const url = `${server().realm}?service=${server().service}&offline_token=true&client_id=test`;
    const res = await fetch(url, { headers: { authorization: basicAuthorization(registry().credentials ?? { username: "", password: "" }) } });
    const refresh = ((await res.json()) as { refresh_token?: string }).refresh_token ?? "";
    expect(refresh).not.toBe("");
    server().clearRequests();
    await withClient(clientFor(registry(), `X-Identity ${refresh}`), async (client) => {
      const manifest = await new RemoteImage(client, Reference.parse(`${registry().host}/cnb/run:latest`)).manifest();
      expect(manifest.digest).toBe(fixture.descriptor.digest);
    });
    expect(server().requests().map((r) => [r.method, r.grantType, r.authorization, r.status, r.scopes])).toEqual([
      ["POST", "refresh_token", "none", 200, ["repository:cnb/run:pull"]],
    ]);
    expect(server().requests()[0]?.form.refresh_token).toEqual(["<redacted>"]);
  });

  it("falls back from the OAuth2 POST to the GET flow when the realm answers 404", async () => {
    server().update({ oauthPost: "not-found" });
    server().clearRequests();
    try {
      await withClient(clientFor(registry(), `X-Identity ${IDENTITY}`), async (client) => {
        const manifest = await new RemoteImage(client, Reference.parse(`${registry().host}/cnb/run:latest`)).manifest();
        expect(manifest.digest).toBe(fixture.descriptor.digest);
      });
    } finally {
      server().update({ oauthPost: "serve" });
    }
    expect(server().requests().map((r) => [r.method, r.authorization, r.username, r.status])).toEqual([
      ["POST", "none", undefined, 404],
      ["GET", "basic", "<token>", 200],
    ]);
  });
});
