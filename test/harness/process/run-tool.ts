import { spawn } from "node:child_process";
import { onProcessExit } from "./safety-net.js";

/** Options for one run of a command-line tool. */
export interface RunToolOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  /** Written to the tool's stdin, which is then closed. */
  input?: string;
  /** Killed (SIGTERM, then SIGKILL 2 s later) after this long; default 120 s. */
  timeoutMs?: number;
}

/** Captured output of a tool that exited with status 0. */
export interface ToolResult {
  stdout: string;
  stderr: string;
}

/** A tool exited with a non-zero status, was killed, or could not start. */
export class ToolError extends Error {
  constructor(
    message: string,
    readonly exitCode: number | null,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(message);
    this.name = "ToolError";
  }
}

const CREDENTIAL_FLAG = /^--(src-|dest-)?creds$/;

/** The command line with credential arguments replaced, for error messages. */
export function redactedCommandLine(command: string, args: readonly string[]): string {
  const shown = args.map((arg, i) => {
    if (i > 0 && CREDENTIAL_FLAG.test(args[i - 1] ?? "")) return "<redacted>";
    const inline = /^(--(?:src-|dest-)?creds=).*/.exec(arg);
    return inline ? `${inline[1] ?? ""}<redacted>` : arg;
  });
  return [command, ...shown].join(" ");
}

let running = 0;

/** How many tool runs are in progress. */
export function runningTools(): number {
  return running;
}

/** Runs a tool to completion; rejects with ToolError (stderr included) on failure. */
export function runTool(command: string, args: readonly string[], options: RunToolOptions = {}): Promise<ToolResult> {
  const shown = redactedCommandLine(command, args);
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, {
      cwd: options.cwd,
      env: options.env ?? process.env,
      stdio: ["pipe", "pipe", "pipe"],
    });
    running++;
    const unregister = onProcessExit(() => child.kill("SIGKILL"));
    const stdout: Buffer[] = [];
    const stderr: Buffer[] = [];
    child.stdout.on("data", (chunk: Buffer) => stdout.push(chunk));
    child.stderr.on("data", (chunk: Buffer) => stderr.push(chunk));
    child.stdin.on("error", () => undefined);
    child.stdin.end(options.input ?? "");
    let timedOut = false;
    const timer = setTimeout(() => {
      timedOut = true;
      child.kill("SIGTERM");
      setTimeout(() => child.kill("SIGKILL"), 2_000).unref();
    }, options.timeoutMs ?? 120_000);
    let settled = false;
    const finish = (error: ToolError | undefined): void => {
      if (settled) return;
      settled = true;
      running--;
      clearTimeout(timer);
      unregister();
      if (error) reject(error);
      else resolve({ stdout: Buffer.concat(stdout).toString("utf8"), stderr: Buffer.concat(stderr).toString("utf8") });
    };
    child.once("error", (error) => {
      finish(new ToolError(`${shown}: ${error.message}`, null, "", ""));
    });
    child.once("close", (code, signal) => {
      const out = Buffer.concat(stdout).toString("utf8");
      const err = Buffer.concat(stderr).toString("utf8");
      if (code === 0 && !timedOut) return finish(undefined);
      const why = timedOut ? "timed out" : signal ? `killed by ${signal}` : `exited with ${String(code)}`;
      finish(new ToolError(`${shown} ${why}: ${err.trim()}`, code, out, err));
    });
  });
}
