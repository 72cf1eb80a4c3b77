import { access } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { groupMembers, isGroupAlive } from "./process/process-group.js";
import { runTool, ToolError } from "./process/run-tool.js";
import { liveServices, startService } from "./process/service.js";
import { makeTempDir } from "./process/temp-dir.js";
import { startRegistry } from "./registry/start-registry.js";
import { expectNoLeakedProcesses } from "./vitest/expect-no-leaks.js";

expectNoLeakedProcesses();

const living = (pgid: number): string[] => groupMembers(pgid).filter((p) => p.state !== "Z").map((p) => p.comm);

function sleeper(script = "echo ready; exec sleep 60"): ReturnType<typeof startService> {
  return startService({ name: "sleeper", command: "/bin/busybox", args: ["sh", "-c", script] });
}

describe("process management", () => {
  it("stops a service's whole process group with SIGTERM and reaps it", async () => {
    const service = sleeper();
    await service.waitForLog(/ready/);
    expect(living(service.pgid).length).toBeGreaterThanOrEqual(2);
    expect(liveServices()).toContainEqual({ name: "sleeper", pgid: service.pgid });
    await service.stop();
    expect(service.isRunning()).toBe(false);
    expect(isGroupAlive(service.pgid)).toBe(false);
    expect(liveServices()).toEqual([]);
    expect((await service.exited).code).toBe(143);
  });

  it("escalates to SIGKILL when a service ignores SIGTERM", async () => {
    const script = "process.on('SIGTERM', () => console.log('ignored')); console.log('ready'); setInterval(() => {}, 1000)";
    const service = startService({ name: "stubborn", command: process.execPath, args: ["-e", script] });
    await service.waitForLog(/ready/);
    const started = Date.now();
    await service.stop(300);
    expect(Date.now() - started).toBeGreaterThanOrEqual(250);
    expect(service.log()).toContain("ignored");
    expect((await service.exited).code).toBe(137);
    // The wrapper reaped the killed service: not even a zombie is left in the group.
    expect(isGroupAlive(service.pgid)).toBe(false);
  });

  it("kills the service and removes its directory when its owner dies (lifeline pipe closed)", async () => {
    const dir = await makeTempDir("orphan");
    const service = startService({ name: "orphan", command: "/bin/busybox", args: ["sh", "-c", "echo ready; exec sleep 60"], orphanDir: dir.path });
    try {
      await service.waitForLog(/ready/);
      service.closeLifeline();
      const exit = await service.exited;
      expect(exit.code).toBe(137);
      expect(isGroupAlive(service.pgid)).toBe(false);
      await expect(access(dir.path)).rejects.toThrow();
    } finally {
      await service.stop();
      await dir.remove();
    }
  });

  it("reports a service that exits before logging what it waits for", async () => {
    const service = sleeper("echo boom; exit 3");
    await expect(service.waitForLog(/never/)).rejects.toThrow(/exited before logging[\s\S]*boom/);
    await service.stop();
  });

  it("stops a registry, its token server and removes its directories", async () => {
    const registry = await startRegistry("token");
    expect(living(registry.pgid)).toContain("docker-registry");
    await registry.stop();
    expect(isGroupAlive(registry.pgid)).toBe(false);
    await expect(access(registry.workDir)).rejects.toThrow();
    await expect(fetch(registry.tokenServer?.realm ?? "")).rejects.toThrow();
  });

  it("runs tools to completion and reports failures with stderr", async () => {
    expect((await runTool("/bin/busybox", ["echo", "hi"])).stdout).toBe("hi\n");
    const error = await runTool("/bin/busybox", ["sh", "-c", "echo oops >&2; exit 4"]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ToolError);
    expect(error).toMatchObject({ exitCode: 4, message: expect.stringContaining("oops") as unknown });
    await expect(runTool("/bin/busybox", ["sleep", "10"], { timeoutMs: 100 })).rejects.toThrow(/timed out/);
  });

  it("removes temp dirs", async () => {
    const dir = await makeTempDir("proc-test");
    await access(dir.path);
    await dir.remove();
    await expect(access(dir.path)).rejects.toThrow();
  });
});
