import { spawn } from "node:child_process";
import { onProcessExit } from "./safety-net.js";
import { groupMembers, isGroupAlive, signalGroup } from "./process-group.js";
import { watchdogArgs } from "./watchdog-script.js";

/** How a long-running child process is started. */
export interface ServiceOptions {
  /** Name used in error messages and `liveServices()`. */
  name: string;
  command: string;
  args: readonly string[];
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Keep at most this many characters of combined stdout/stderr (default 1 MiB). */
  logLimit?: number;
  /** Directory the watchdog removes if this process dies without stopping the service. */
  orphanDir?: string;
}

/** How a service process ended. */
export interface ServiceExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A running long-lived child process (registry, ...) in its own process group. */
export interface ServiceProcess {
  readonly name: string;
  /** PID of the watchdog shell, which is also the process group id. */
  readonly pgid: number;
  /** Combined stdout and stderr captured so far (the tail when over the limit). */
  log(): string;
  /** Resolves with the first match of `pattern` in the log; rejects on exit or timeout. */
  waitForLog(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
  /** Resolves when the watchdog shell has exited. */
  readonly exited: Promise<ServiceExit>;
  isRunning(): boolean;
  /**
   * SIGTERM to the whole group; after `graceMs` (default 5 s) SIGKILL to the service (so the
   * wrapper still reaps it), and 1 s later to the whole group. Resolves when the wrapper exited.
   */
  stop(graceMs?: number): Promise<void>;
  /** Closes every pipe to the wrapper, as the kernel does when this process dies (for watchdog tests). */
  closeLifeline(): void;
}

const live = new Map<number, ServiceProcess>();

/** The services started by this process that have not exited yet. */
export function liveServices(): { name: string; pgid: number }[] {
  return [...live.values()].map((s) => ({ name: s.name, pgid: s.pgid }));
}

/** Starts `command` under the lifeline watchdog in a new process group, capturing its output. */
export function startService(options: ServiceOptions): ServiceProcess {
  const limit = options.logLimit ?? 1024 * 1024;
  const child = spawn("/bin/sh", watchdogArgs(options.command, options.args, options.orphanDir), {
    cwd: options.cwd,
    env: options.env ?? process.env,
    detached: true,
    stdio: ["pipe", "pipe", "pipe"],
  });
  const pgid = child.pid;
  if (pgid === undefined) throw new Error(`${options.name}: spawn of ${options.command} failed`);

  let output = "";
  let running = true;
  const listeners = new Set<() => void>();
  const append = (chunk: Buffer): void => {
    output += chunk.toString("utf8");
    if (output.length > limit) output = output.slice(output.length - limit);
    for (const listener of [...listeners]) listener();
  };
  child.stdout.on("data", append);
  child.stderr.on("data", append);
  child.stdin.on("error", () => undefined);

  const unregister = onProcessExit(() => {
    signalGroup(pgid, "SIGTERM");
  });
  // The output is complete once stdout/stderr closed (or shortly after exit, should an orphaned
  // grandchild keep the pipes open); only then can waitForLog give up.
  let outputComplete = false;
  const completeOutput = (): void => {
    if (outputComplete) return;
    outputComplete = true;
    for (const listener of [...listeners]) listener();
  };
  child.once("close", completeOutput);
  const exited = new Promise<ServiceExit>((resolve) => {
    child.once("exit", (code, signal) => {
      running = false;
      live.delete(pgid);
      unregister();
      child.stdin.destroy();
      setTimeout(completeOutput, 200).unref();
      resolve({ code, signal });
    });
  });

  const service: ServiceProcess = {
    name: options.name,
    pgid,
    log: () => output,
    exited,
    isRunning: () => running,
    waitForLog(pattern, timeoutMs = 10_000) {
      return new Promise((resolve, reject) => {
        const check = (): void => {
          const match = pattern.exec(output);
          if (match) {
            done();
            resolve(match);
          } else if (outputComplete) {
            done();
            reject(new Error(`${options.name} exited before logging ${String(pattern)}; log:\n${tail(output)}`));
          }
        };
        const timer = setTimeout(() => {
          done();
          reject(new Error(`${options.name} did not log ${String(pattern)} within ${timeoutMs} ms; log:\n${tail(output)}`));
        }, timeoutMs);
        const done = (): void => {
          clearTimeout(timer);
          listeners.delete(check);
        };
        listeners.add(check);
        check();
      });
    },
    async stop(graceMs = 5_000) {
      if (running) {
        signalGroup(pgid, "SIGTERM");
        let last: NodeJS.Timeout | undefined;
        const timer = setTimeout(() => {
          for (const member of groupMembers(pgid)) if (member.pid !== pgid) killQuietly(member.pid);
          last = setTimeout(() => signalGroup(pgid, "SIGKILL"), 1_000);
        }, graceMs);
        await exited;
        clearTimeout(timer);
        clearTimeout(last);
      }
      // The wrapper reaps its children before exiting; anything left is a bug worth killing.
      if (isGroupAlive(pgid)) signalGroup(pgid, "SIGKILL");
    },
    closeLifeline() {
      child.stdout.destroy();
      child.stderr.destroy();
      child.stdin.destroy();
    },
  };
  live.set(pgid, service);
  return service;
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, "SIGKILL");
  } catch {
    // already gone
  }
}

function tail(text: string, lines = 40): string {
  return text.split("\n").slice(-lines).join("\n");
}
