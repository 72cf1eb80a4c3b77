// Runs the host tools the image build uses (apt-get, dpkg-deb) with their errors in one line.
import { spawn } from "node:child_process";
import type { Readable } from "node:stream";

/** A host command failed or could not be started. */
export class CommandError extends Error {
  override name = "CommandError";
}

/** The first non-empty line of a tool's stderr (or stdout), for one-line errors. */
function firstLine(text: string): string {
  return (
    text
      .split("\n")
      .map((l) => l.trim())
      .find((l) => l !== "") ?? ""
  );
}

function describeExit(command: string, code: number | null, signal: NodeJS.Signals | null, stderr: string): string {
  const how = code !== null ? `exited ${code}` : `was killed by ${signal ?? "a signal"}`;
  const line = firstLine(stderr);
  return `${command} ${how}${line ? `: ${line}` : ""}`;
}

/** Options of {@link runCommand} and {@link streamCommand}. */
export interface CommandOptions {
  readonly cwd?: string;
  readonly env?: NodeJS.ProcessEnv;
}

/** Runs a command to completion; resolves with its stdout, rejects with a one-line CommandError. */
export function runCommand(command: string, args: readonly string[], options: CommandOptions = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
    const out: Buffer[] = [];
    const err: Buffer[] = [];
    child.stdout.on("data", (b: Buffer) => out.push(b));
    child.stderr.on("data", (b: Buffer) => err.push(b));
    child.on("error", (e) => reject(new CommandError(`cannot run ${command}: ${e.message}`)));
    child.on("close", (code, signal) => {
      const stdout = Buffer.concat(out).toString("utf8");
      if (code === 0) resolve(stdout);
      else reject(new CommandError(describeExit(command, code, signal, Buffer.concat(err).toString("utf8") || stdout)));
    });
  });
}

/**
 * Starts a command whose stdout is consumed as a stream. `done` settles when it exits (rejecting
 * with a one-line CommandError on failure); always await it after reading `stdout`.
 */
export function streamCommand(command: string, args: readonly string[], options: CommandOptions = {}): { stdout: Readable; done: Promise<void> } {
  const child = spawn(command, args, { cwd: options.cwd, env: options.env ?? process.env, stdio: ["ignore", "pipe", "pipe"] });
  const err: Buffer[] = [];
  child.stderr.on("data", (b: Buffer) => err.push(b));
  const done = new Promise<void>((resolve, reject) => {
    child.on("error", (e) => reject(new CommandError(`cannot run ${command}: ${e.message}`)));
    child.on("close", (code, signal) => {
      if (code === 0) resolve();
      else reject(new CommandError(describeExit(command, code, signal, Buffer.concat(err).toString("utf8"))));
    });
  });
  done.catch(() => undefined);
  return { stdout: child.stdout, done };
}
