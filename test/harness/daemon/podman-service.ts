// podman's Docker-compatible API service (`podman system service`) as a real Docker daemon for
// tests: private vfs storage in a temp dir, listening on a unix socket or on 127.0.0.1:PORT, run
// under the lifeline watchdog like every harness service, removed at stop.
import { readFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { Agent, request } from "undici";
import { createCleanup } from "../process/cleanup.js";
import { runTool, type ToolResult } from "../process/run-tool.js";
import { signalGroup } from "../process/process-group.js";
import { startService } from "../process/service.js";
import { makeTempDir } from "../process/temp-dir.js";
import { podmanEnv, writePodmanConfig, type PodmanPaths } from "./podman-config.js";

/** How the service listens. */
export interface PodmanServiceOptions {
  /** `unix` (default): a socket in the service's directory, which only root can reach; `tcp`: 127.0.0.1 on a free port. */
  listen?: "unix" | "tcp";
  /** Use this existing setup (storage, config) instead of a new one; it is not removed at stop. */
  paths?: PodmanPaths;
  /** Storage driver of a new setup: `vfs` (default; copies every layer in full) or `overlay` (as Docker's overlay2). */
  driver?: "vfs" | "overlay";
}

/** A running podman API service. */
export interface PodmanService {
  /** What DOCKER_HOST should be to reach it: `unix:///…/docker.sock` or `tcp://127.0.0.1:PORT`. */
  readonly dockerHost: string;
  /** The socket path (unix only). */
  readonly socketPath?: string;
  /** The private storage and configuration. */
  readonly paths: PodmanPaths;
  /** The environment for podman, skopeo and buildah CLIs to see the same storage. */
  readonly env: NodeJS.ProcessEnv;
  /** The watchdog's process group. */
  readonly pgid: number;
  /** Runs the podman CLI against the same storage. */
  podman(args: readonly string[], timeoutMs?: number): Promise<ToolResult>;
  /** Everything the service logged. */
  log(): string;
  isRunning(): boolean;
  /** SIGKILLs the service at once (a daemon dying mid-request); its storage stays for a restart. */
  kill(): Promise<void>;
  /** Stops the service and removes its directory (unless `paths` was given). */
  stop(): Promise<void>;
  /** Closes the watchdog's lifeline, as when this process dies (for harness tests). */
  closeLifeline(): void;
  /** Resolves when the service has exited. */
  readonly exited: Promise<unknown>;
}

/** A TCP port that was free a moment ago. */
async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => (typeof address === "object" && address ? resolve(address.port) : reject(new Error("no port"))));
    });
  });
}

/** Polls `GET /_ping` until the service answers 200 (or `timeoutMs` passes, or it exits). */
async function waitUntilReady(url: string, dispatcher: Agent, isRunning: () => boolean, log: () => string, timeoutMs = 30_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let last = "";
  while (Date.now() < deadline) {
    if (!isRunning()) throw new Error(`podman system service exited before answering; log:\n${log()}`);
    try {
      const res = await request(`${url}/_ping`, { dispatcher, headersTimeout: 2_000, bodyTimeout: 2_000 });
      const body = await res.body.text();
      if (res.statusCode === 200) return;
      last = `HTTP ${res.statusCode} ${body}`;
    } catch (err) {
      last = err instanceof Error ? err.message : String(err);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`podman system service did not answer /_ping within ${timeoutMs} ms (${last}); log:\n${log()}`);
}

/** Mount points under `dir` (podman may leave some when killed), deepest first. */
function mountsUnder(dir: string): string[] {
  let text: string;
  try {
    text = readFileSync("/proc/self/mounts", "utf8");
  } catch {
    return [];
  }
  return text
    .split("\n")
    .map((line) => line.split(" ")[1] ?? "")
    .map((p) => p.replace(/\\040/g, " "))
    .filter((p) => p === dir || p.startsWith(`${dir}/`))
    .sort((a, b) => b.length - a.length);
}

/** Starts `podman system service --time=0` with private storage and waits until it answers. */
export async function startPodmanService(options: PodmanServiceOptions = {}): Promise<PodmanService> {
  const cleanup = createCleanup();
  try {
    let paths = options.paths;
    let ownDir: string | undefined;
    if (!paths) {
      const temp = await makeTempDir("podman");
      cleanup.add(() => temp.remove());
      cleanup.add(async () => {
        for (const mount of mountsUnder(temp.path)) await runTool("umount", ["-l", mount]).catch(() => undefined);
      });
      ownDir = temp.path;
      paths = await writePodmanConfig(temp.path, options.driver);
    }
    const env = podmanEnv(paths);
    const listen = options.listen ?? "unix";
    let dockerHost: string;
    let socketPath: string | undefined;
    let url: string;
    let dispatcher: Agent;
    if (listen === "unix") {
      socketPath = join(paths.dir, `docker-${process.pid}-${Date.now()}.sock`);
      dockerHost = `unix://${socketPath}`;
      url = "http://podman";
      dispatcher = new Agent({ connect: { socketPath } });
    } else {
      const port = await freePort();
      dockerHost = `tcp://127.0.0.1:${port}`;
      url = `http://127.0.0.1:${port}`;
      dispatcher = new Agent();
    }
    cleanup.add(() => dispatcher.close());

    const service = startService({
      name: `podman system service (${listen})`,
      command: "podman",
      args: ["system", "service", "--time=0", dockerHost],
      env,
      orphanDir: ownDir,
    });
    cleanup.add(() => service.stop());
    await waitUntilReady(url, dispatcher, () => service.isRunning(), () => service.log());

    let stopped: Promise<void> | undefined;
    return {
      dockerHost,
      socketPath,
      paths,
      env,
      pgid: service.pgid,
      podman: (args, timeoutMs) => runTool("podman", args, { env, timeoutMs }),
      log: () => service.log(),
      isRunning: () => service.isRunning(),
      async kill() {
        signalGroup(service.pgid, "SIGKILL");
        await service.exited;
      },
      stop() {
        stopped ??= cleanup.run();
        return stopped;
      },
      closeLifeline: () => service.closeLifeline(),
      exited: service.exited,
    };
  } catch (error) {
    await cleanup.run().catch(() => undefined);
    throw error;
  }
}
