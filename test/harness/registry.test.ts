import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { fetch } from "undici";
import { skopeoInspectConfig, skopeoInspectRaw, skopeoPushLayout } from "./check/skopeo.js";
import { buildRunImage, type BuiltImage } from "./fixtures/run-image.js";
import { ACCEPT_MANIFESTS, basicAuthorization, registryAuthorization } from "./registry/registry-http.js";
import type { RegistryHandle } from "./registry/start-registry.js";
import { useRegistry } from "./vitest/use-registry.js";
import { useTempDir } from "./vitest/use-temp-dir.js";
import { expectNoLeakedProcesses } from "./vitest/expect-no-leaks.js";

expectNoLeakedProcesses();
const plain = useRegistry("plain");
const htpasswd = useRegistry("htpasswd");
const tls = useRegistry("tls");
const token = useRegistry("token");
const temp = useTempDir("registry-test");

describe("registry kinds answer /v2/", () => {
  it("plain registry answers 200 anonymously over http", async () => {
    const r = plain();
    expect(r.url).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
    const response = await fetch(`${r.url}/v2/`, { dispatcher: r.dispatcher });
    expect(response.status).toBe(200);
    expect(response.headers.get("docker-distribution-api-version")).toBe("registry/2.0");
    expect(await response.json()).toEqual({});
  });

  it("htpasswd registry challenges with Basic and accepts only the right password", async () => {
    const r = htpasswd();
    const anonymous = await fetch(`${r.url}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toMatch(/^Basic realm="/);
    await anonymous.body?.cancel();
    const credentials = r.credentials;
    if (!credentials) throw new Error("htpasswd registry without credentials");
    const good = await fetch(`${r.url}/v2/`, { headers: { authorization: basicAuthorization(credentials) } });
    expect(good.status).toBe(200);
    await good.body?.cancel();
    const bad = await fetch(`${r.url}/v2/`, { headers: { authorization: basicAuthorization({ ...credentials, password: "wrong" }) } });
    expect(bad.status).toBe(401);
    await bad.body?.cancel();
  });

  it("tls registry answers over https only for clients trusting the per-run CA", async () => {
    const r = tls();
    expect(r.url).toMatch(/^https:\/\//);
    expect(r.caPath).toBeDefined();
    expect(r.certDir).toBeDefined();
    const trusted = await fetch(`${r.url}/v2/`, { dispatcher: r.dispatcher });
    expect(trusted.status).toBe(200);
    const untrusted = await fetch(`${r.url}/v2/`).then(
      () => "succeeded",
      (error: unknown) => String((error as { cause?: { code?: unknown } }).cause?.code),
    );
    expect(untrusted).toMatch(/UNABLE_TO_VERIFY_LEAF_SIGNATURE|SELF_SIGNED|UNABLE_TO_GET_ISSUER/);
    const viaLocalhost = await fetch(r.url.replace("127.0.0.1", "localhost") + "/v2/", { dispatcher: r.dispatcher });
    expect(viaLocalhost.status).toBe(200);
    const plainHttp = await fetch(`http://${r.host}/v2/`);
    expect(plainHttp.status).toBe(400);
    await plainHttp.body?.cancel();
  });

  it("token registry challenges with Bearer pointing at the token server", async () => {
    const r = token();
    const server = r.tokenServer;
    if (!server) throw new Error("token registry without token server");
    const anonymous = await fetch(`${r.url}/v2/`);
    expect(anonymous.status).toBe(401);
    expect(anonymous.headers.get("www-authenticate")).toBe(`Bearer realm="${server.realm}",service="${server.service}"`);
    await anonymous.body?.cancel();
    const authorized = await fetch(`${r.url}/v2/`, { headers: await registryAuthorization(r, []) });
    expect(authorized.status).toBe(200);
    await authorized.body?.cancel();
  });

  it("exposes the registry log", () => {
    expect(plain().log()).toMatch(/listening on 127\.0\.0\.1:\d+/);
    expect(plain().log()).toContain('"GET /v2/ HTTP/1.1" 200');
  });
});

describe("skopeo pushes a fixture run image to every kind", () => {
  let image: BuiltImage;
  beforeAll(async () => {
    image = await buildRunImage(join(temp(), "layout"), {
      architecture: "arm64",
      distro: { name: "ubuntu", version: "24.04" },
      stackId: "io.buildpacks.stacks.noble",
    });
  });

  const kinds: [string, () => RegistryHandle][] = [["plain", plain], ["htpasswd", htpasswd], ["tls", tls], ["token", token]];
  it.each(kinds)("%s", async (_kind, registry) => {
    const pushed = await skopeoPushLayout(image.layoutDir, image.tag, registry(), "cnb/run:latest");
    expect(pushed.digest).toBe(image.descriptor.digest);
    const config = await skopeoInspectConfig(registry(), "cnb/run:latest");
    expect(config.os).toBe("linux");
    expect(config.architecture).toBe("arm64");
    expect(config.config?.Labels).toMatchObject({
      "io.buildpacks.base.distro.name": "ubuntu",
      "io.buildpacks.base.distro.version": "24.04",
      "io.buildpacks.stack.id": "io.buildpacks.stacks.noble",
    });
    const raw = await skopeoInspectRaw(registry(), `cnb/run@${pushed.digest}`);
    expect(raw.manifest?.layers).toHaveLength(2);
  });

  it("plain registry has deletes enabled", async () => {
    const { digest } = await skopeoPushLayout(image.layoutDir, image.tag, plain(), "cnb/delete-me:latest");
    const url = `${plain().url}/v2/cnb/delete-me/manifests/${digest}`;
    const deleted = await fetch(url, { method: "DELETE" });
    expect(deleted.status).toBe(202);
    const gone = await fetch(url, { headers: { accept: ACCEPT_MANIFESTS } });
    expect(gone.status).toBe(404);
    await gone.body?.cancel();
  });

  it("htpasswd rejects a push with a wrong password", async () => {
    const credentials = { username: "testuser", password: "wrong-password" };
    const error = await skopeoPushLayout(image.layoutDir, image.tag, htpasswd(), "cnb/run:bad", { credentials }).then(
      () => undefined,
      (e: unknown) => e as Error,
    );
    expect(error?.message).toMatch(/unauthorized|authentication required/);
    expect(error?.message).toContain("--dest-creds <redacted>");
    expect(error?.message).not.toContain("wrong-password");
  });
});
