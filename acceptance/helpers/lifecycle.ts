import { spawn, type ChildProcessByStdio } from "node:child_process";
import { accessSync, constants, existsSync } from "node:fs";
import { delimiter, join, resolve } from "node:path";
import type { Readable } from "node:stream";

/**
 * The lifecycle folder under test: `dist/lifecycle` from `npm run build`, or another build (the
 * release executable) named by `LIFECYCLE_DIR`.
 */
export const LIFECYCLE_DIR = resolve(process.env.LIFECYCLE_DIR ?? join(import.meta.dirname, "..", "..", "dist", "lifecycle"));

/**
 * `LIFECYCLE_PATH_WITHOUT_NODE=1`: the binaries run with a PATH that has no `node` on it, as on a
 * platform without Node.js (`scripts/test-release.sh` sets it to test the single executable). The
 * test runner keeps its own PATH.
 */
export const PATH_WITHOUT_NODE = process.env.LIFECYCLE_PATH_WITHOUT_NODE === "1";

/** `path` without the directories that hold an executable `node`. */
export function pathWithoutNode(path: string): string {
  return path
    .split(delimiter)
    .filter((dir) => dir !== "" && !isExecutable(join(dir, "node")))
    .join(delimiter);
}

function isExecutable(file: string): boolean {
  try {
    accessSync(file, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The PATH the binaries get unless a test sets its own. */
export function childPath(): string {
  const path = process.env.PATH ?? "/usr/bin:/bin";
  return PATH_WITHOUT_NODE ? pathWithoutNode(path) : path;
}

/** `command` as a path: a bare name is looked up on the test runner's own PATH. */
function onRunnerPath(command: string): string {
  if (command.includes("/")) return command;
  for (const dir of (process.env.PATH ?? "/usr/bin:/bin").split(delimiter)) {
    if (dir !== "" && isExecutable(join(dir, command))) return join(dir, command);
  }
  throw new Error(`${command} is not on the test runner's PATH`);
}

/** The binaries a test may invoke. */
export type Binary = "lifecycle" | "analyzer" | "restorer" | "exporter" | "rebaser";

/** Output and exit code of one run. */
export interface RunResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
  /** stdout and stderr together, for assertions that do not care which. */
  readonly output: string;
}

/** Options of {@link runLifecycle}. */
export interface RunOptions {
  /** Environment on top of a minimal base (PATH, HOME); CNB_* from the test runner never leak in. */
  readonly env?: Record<string, string | undefined>;
  /** `CNB_PLATFORM_API`; `null` leaves it unset. Default 0.14. */
  readonly platformApi?: string | null;
  readonly cwd?: string;
  readonly timeoutMs?: number;
  /**
   * A command the binary is run through, e.g. `["setpriv", "--inh-caps=-all", "--"]`; a bare name is
   * looked up on the test runner's PATH, which may hold directories the binary's PATH leaves out.
   */
  readonly wrapper?: readonly string[];
}

/** Runs a lifecycle binary with arguments and collects its output. */
export function runLifecycle(binary: Binary, args: readonly string[], options: RunOptions = {}): Promise<RunResult> {
  const path = join(LIFECYCLE_DIR, binary);
  if (!existsSync(path)) throw new Error(`${path} does not exist: run "npm run build" first`);
  const env: Record<string, string> = {
    PATH: childPath(),
    HOME: process.env.HOME ?? "/root",
  };
  const api = options.platformApi === undefined ? "0.14" : options.platformApi;
  if (api !== null) env.CNB_PLATFORM_API = api;
  for (const [k, v] of Object.entries(options.env ?? {})) {
    if (v === undefined) delete env[k];
    else env[k] = v;
  }
  const [first = path, ...prefix] = [...(options.wrapper ?? []), path];
  const command = options.wrapper?.length ? onRunnerPath(first) : first;
  const child = spawn(command, [...prefix, ...args], { env, cwd: options.cwd, stdio: ["ignore", "pipe", "pipe"] });
  return collectOutput(child, options.timeoutMs ?? 120_000);
}

/** Collects a child's stdout, stderr and both interleaved, killing it after `timeoutMs`. */
export function collectOutput(child: ChildProcessByStdio<null, Readable, Readable>, timeoutMs: number): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    const all: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => {
      out.push(b);
      all.push(b);
    });
    child.stderr.on("data", (b: Buffer) => {
      err.push(b);
      all.push(b);
    });
    const timer = setTimeout(() => child.kill("SIGKILL"), timeoutMs);
    child.on("error", reject);
    child.on("close", (code, signal) => {
      clearTimeout(timer);
      resolve({
        code: code ?? (signal ? 128 : -1),
        stdout: Buffer.concat(out).toString("utf8"),
        stderr: Buffer.concat(err).toString("utf8"),
        output: Buffer.concat(all).toString("utf8"),
      });
    });
  });
}
