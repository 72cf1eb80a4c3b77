import { createServer, type Server } from "node:net";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { CLIENT_MAX_API_VERSION, compareApiVersions, negotiateApiVersion } from "../../../src/image/daemon/api-version.js";
import { DockerHostError, parseDockerHost } from "../../../src/image/daemon/docker-host.js";
import { EngineClient } from "../../../src/image/daemon/engine-client.js";
import { DaemonError } from "../../../src/image/daemon/engine-errors.js";
import { z } from "zod";
import { expectNoLeakedProcesses, useEngineProxy, usePodmanService, useTempDir } from "../../harness/index.js";

/** The part of `GET /version` these tests read. */
const VersionSchema = z.object({ ApiVersion: z.string() }).loose();

describe("DOCKER_HOST", () => {
  it("defaults to the Docker socket and parses unix and tcp hosts", () => {
    expect(parseDockerHost(undefined)).toEqual({ kind: "unix", socketPath: "/var/run/docker.sock", display: "unix:///var/run/docker.sock" });
    expect(parseDockerHost("")).toMatchObject({ kind: "unix", socketPath: "/var/run/docker.sock" });
    expect(parseDockerHost("unix:///run/podman/podman.sock")).toMatchObject({ kind: "unix", socketPath: "/run/podman/podman.sock" });
    expect(parseDockerHost("tcp://10.0.0.5:2376")).toEqual({ kind: "tcp", host: "10.0.0.5", port: 2376, display: "tcp://10.0.0.5:2376" });
    expect(parseDockerHost("tcp://docker")).toMatchObject({ kind: "tcp", host: "docker", port: 2375 });
    expect(parseDockerHost("tcp://[::1]:2375/")).toMatchObject({ kind: "tcp", host: "[::1]", port: 2375 });
  });

  it("refuses what it cannot reach, naming the value", () => {
    expect(() => parseDockerHost("ssh://me@host")).toThrow(/unsupported DOCKER_HOST 'ssh:\/\/me@host'.*ssh:\/\//);
    expect(() => parseDockerHost("npipe:////./pipe/docker_engine")).toThrow(DockerHostError);
    expect(() => parseDockerHost("/var/run/docker.sock")).toThrow(/invalid DOCKER_HOST '\/var\/run\/docker.sock'/);
    expect(() => parseDockerHost("unix://relative.sock")).toThrow(/absolute path/);
    expect(() => parseDockerHost("tcp://host:99999")).toThrow(/bad port/);
    expect(() => parseDockerHost("tcp://host/prefix")).toThrow(/path prefix/);
  });
});

describe("API version negotiation", () => {
  it("uses the lower of the daemon's version and the client's, never more than the daemon offers", () => {
    expect(negotiateApiVersion("1.41")).toBe("1.41");
    expect(negotiateApiVersion("1.9")).toBe("1.9");
    expect(negotiateApiVersion("1.52")).toBe(CLIENT_MAX_API_VERSION);
    expect(negotiateApiVersion(undefined)).toBe("1.24");
    expect(compareApiVersions("1.41", "1.100")).toBeLessThan(0);
    expect(compareApiVersions("1.44", "1.44")).toBe(0);
  });
});

describe("Engine API client against podman's service", () => {
  expectNoLeakedProcesses();
  const unix = usePodmanService();
  const tcp = usePodmanService({ listen: "tcp" });
  const proxy = useEngineProxy(unix);
  const temp = useTempDir("engine-client");

  it("negotiates API 1.41 with podman 4.3 over a unix socket from its ping, and knows it is podman", async () => {
    const client = await EngineClient.connect({ env: { DOCKER_HOST: unix().dockerHost } });
    try {
      expect(client.apiVersion).toBe("1.41");
      expect(client.ping).toMatchObject({ apiVersion: "1.41", server: expect.stringMatching(/^Libpod\//) as unknown });
      expect(client.kind).toBe("podman");
      expect(client.endpoint).toMatchObject({ kind: "unix", socketPath: unix().socketPath });
      // requests go to versioned paths and are parsed at the boundary
      const version = await client.getJson("/version", VersionSchema, "reading the version");
      expect(version.ApiVersion).toBe("1.41");
    } finally {
      await client.close();
    }
  });

  it("connects with one ping, as Docker's clients negotiate (podman takes half a second to answer /version)", async () => {
    proxy().reset();
    const client = await EngineClient.connect({ env: { DOCKER_HOST: proxy().dockerHost } });
    try {
      expect(client.kind).toBe("podman");
      expect(proxy().requests().map((r) => `${r.method} ${r.path}`)).toEqual(["GET /_ping"]);
    } finally {
      await client.close();
    }
  });

  it("negotiates over TCP too", async () => {
    const client = await EngineClient.connect({ env: { DOCKER_HOST: tcp().dockerHost } });
    try {
      expect(client.apiVersion).toBe("1.41");
      expect(client.endpoint.kind).toBe("tcp");
      const res = await client.request({ method: "GET", path: "/_ping", what: "ping" });
      expect(res.statusCode).toBe(200);
      expect(await res.body.text()).toBe("OK");
    } finally {
      await client.close();
    }
  });

  it("uses DOCKER_API_VERSION as given instead of negotiating", async () => {
    const client = await EngineClient.connect({ env: { DOCKER_HOST: unix().dockerHost, DOCKER_API_VERSION: "1.40" } });
    try {
      expect(client.apiVersion).toBe("1.40");
      const res = await client.request({ method: "GET", path: "/info", what: "info" });
      expect(res.statusCode).toBe(200);
      await res.body.dump();
    } finally {
      await client.close();
    }
    await expect(EngineClient.connect({ env: { DOCKER_HOST: unix().dockerHost, DOCKER_API_VERSION: "latest" } })).rejects.toThrow(
      "invalid DOCKER_API_VERSION 'latest': expected a version like 1.41",
    );
  });

  it("says which image the daemon does not have, with the daemon's reason", async () => {
    const client = await EngineClient.connect({ env: { DOCKER_HOST: unix().dockerHost } });
    try {
      const err = await client.getJson("/images/localhost/nothing:here/json", VersionSchema, "inspecting image 'localhost/nothing:here'").catch((e: unknown) => e);
      expect(err).toBeInstanceOf(DaemonError);
      expect(err).toMatchObject({ code: "not-found", status: 404 });
      expect((err as Error).message).toMatch(/^inspecting image 'localhost\/nothing:here': .*localhost\/nothing:here.*/);
      expect((err as Error).message).not.toContain("\n");
    } finally {
      await client.close();
    }
  });

  it("fails with one clear line when no daemon listens at the socket", async () => {
    const socket = join(temp(), "absent.sock");
    const err = await EngineClient.connect({ env: { DOCKER_HOST: `unix://${socket}` } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonError);
    expect((err as Error).message).toBe(`cannot connect to the Docker daemon at unix://${socket}: no such file or directory`);
  });

  it("fails clearly for a TCP port where nothing listens", async () => {
    const server: Server = createServer();
    const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
    await new Promise((resolve) => server.close(resolve));
    const err = await EngineClient.connect({ env: { DOCKER_HOST: `tcp://127.0.0.1:${port}` } }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DaemonError);
    expect((err as Error).message).toBe(`pinging the daemon: cannot connect to the Docker daemon at tcp://127.0.0.1:${port}: connection refused`);
  });

  it("rejects a wrong DOCKER_HOST and TLS settings it cannot honour before connecting", async () => {
    await expect(EngineClient.connect({ env: { DOCKER_HOST: "ssh://builder@example" } })).rejects.toThrow(DockerHostError);
    await expect(EngineClient.connect({ env: { DOCKER_HOST: "tcp://127.0.0.1:2376", DOCKER_TLS_VERIFY: "1" } })).rejects.toThrow(
      "DOCKER_TLS_VERIFY is set, but TLS connections to the Docker daemon at tcp://127.0.0.1:2376 are not supported",
    );
  });

  it("says so when something that is not a Docker daemon answers", async () => {
    const { createServer: createHttpServer } = await import("node:http");
    const server = createHttpServer((_req, res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html>hello</html>");
    });
    const port = await new Promise<number>((resolve) => server.listen(0, "127.0.0.1", () => resolve((server.address() as { port: number }).port)));
    try {
      await expect(EngineClient.connect({ env: { DOCKER_HOST: `tcp://127.0.0.1:${port}` } })).rejects.toThrow(
        `pinging the daemon at tcp://127.0.0.1:${port}: the answer is not a Docker daemon's (no API-Version header, body "<html>hello</html>")`,
      );
    } finally {
      server.closeAllConnections();
      await new Promise((resolve) => server.close(resolve));
    }
  });
});
