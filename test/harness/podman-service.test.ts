import { access } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { request, Agent } from "undici";
import { z } from "zod";
import { expectNoLeakedProcesses, isGroupAlive, startPodmanService } from "./index.js";

const Version = z.object({ ApiVersion: z.string(), Components: z.array(z.object({ Name: z.string() }).loose()) }).loose();

describe("podman API service", () => {
  expectNoLeakedProcesses();

  it("serves the Docker API on a private unix socket and on TCP, and stop removes its storage", async () => {
    const unix = await startPodmanService();
    const tcp = await startPodmanService({ listen: "tcp", paths: unix.paths });
    const dispatcher = new Agent({ connect: { socketPath: unix.socketPath } });
    try {
      const viaSocket = Version.parse(await (await request("http://d/version", { dispatcher })).body.json());
      expect(viaSocket.ApiVersion).toBe("1.41");
      expect(viaSocket.Components.map((c) => c.Name)).toContain("Podman Engine");
      const viaTcp = Version.parse(await (await request(`${tcp.dockerHost.replace("tcp://", "http://")}/version`)).body.json());
      expect(viaTcp.ApiVersion).toBe("1.41");
      // the CLI sees the same private storage
      const { stdout } = await unix.podman(["info", "--format", "{{.Store.GraphRoot}} {{.Store.GraphDriverName}}"]);
      expect(stdout.trim()).toBe(`${unix.paths.graphroot} vfs`);
    } finally {
      await dispatcher.close();
      await tcp.stop();
      await unix.stop();
    }
    expect(isGroupAlive(unix.pgid)).toBe(false);
    expect(isGroupAlive(tcp.pgid)).toBe(false);
    await expect(access(unix.paths.dir)).rejects.toThrow();
  });

  it("can store images with the overlay driver", async () => {
    const service = await startPodmanService({ driver: "overlay" });
    try {
      const { stdout } = await service.podman(["info", "--format", "{{.Store.GraphDriverName}}"]);
      expect(stdout.trim()).toBe("overlay");
    } finally {
      await service.stop();
    }
    await expect(access(service.paths.dir)).rejects.toThrow();
  });

  it("is killed and its storage removed when its owner dies (lifeline closed)", async () => {
    const service = await startPodmanService();
    try {
      service.closeLifeline();
      await service.exited;
      expect(isGroupAlive(service.pgid)).toBe(false);
      await expect(access(service.paths.dir)).rejects.toThrow();
    } finally {
      await service.stop();
    }
  });
});
