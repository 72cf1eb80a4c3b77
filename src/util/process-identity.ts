// Who owns a lock file or a temp directory, recorded so that another process can later tell
// whether the owner still runs. A PID alone is not enough: PIDs are reused, and a cache volume is
// shared between containers whose PID namespaces differ. So the record also has the process's
// start time (clock ticks since boot), the boot ID and the PID namespace; only when boot and
// namespace match can liveness be checked, otherwise it is "unknown" and callers fall back to age.
import { readFileSync, readlinkSync } from "node:fs";
import { hostname } from "node:os";
import { z } from "zod";

/** The identity of a process as written into lock files and owner files. */
export const ProcessIdentitySchema = z.object({
  pid: z.number().int().positive(),
  /** Field 22 of /proc/<pid>/stat ("" when /proc is unavailable). */
  start: z.string(),
  bootId: z.string(),
  /** `pid:[<inode>]` from /proc/self/ns/pid. */
  pidNamespace: z.string(),
  host: z.string(),
});
/** The identity of a process. */
export type ProcessIdentity = z.output<typeof ProcessIdentitySchema>;

/** Whether a recorded process still runs: "unknown" when it ran on another boot, machine or PID namespace. */
export type ProcessState = "alive" | "dead" | "unknown";

function readOr(path: string, fallback: string, read: (p: string) => string): string {
  try {
    return read(path).trim();
  } catch {
    return fallback;
  }
}

/** `state` and `starttime` of /proc/<pid>/stat, or undefined when there is no such process. */
function procStat(pid: number | "self"): { state: string; start: string } | undefined {
  let text: string;
  try {
    text = readFileSync(`/proc/${pid}/stat`, "utf8");
  } catch {
    return undefined;
  }
  // "pid (comm) state ppid ..."; comm may contain spaces and parentheses, so split after the last ')'
  const fields = text.slice(text.lastIndexOf(")") + 2).split(" ");
  return { state: fields[0] ?? "", start: fields[19] ?? "" };
}

/** The current process's identity. */
export function currentProcessIdentity(): ProcessIdentity {
  return {
    pid: process.pid,
    start: procStat("self")?.start ?? "",
    bootId: readOr("/proc/sys/kernel/random/boot_id", "", (p) => readFileSync(p, "utf8")),
    pidNamespace: readOr("/proc/self/ns/pid", "", readlinkSync),
    host: hostname(),
  };
}

/** Whether the process `owner` describes still runs (zombies count as dead). */
export function processState(owner: ProcessIdentity, self: ProcessIdentity = currentProcessIdentity()): ProcessState {
  const comparable = owner.start !== "" && self.bootId !== "" && owner.bootId === self.bootId && self.pidNamespace !== "" && owner.pidNamespace === self.pidNamespace;
  if (!comparable) return "unknown";
  const stat = procStat(owner.pid);
  if (stat === undefined || stat.start !== owner.start) return "dead";
  return stat.state === "Z" || stat.state === "X" ? "dead" : "alive";
}

/** Parses an owner record; undefined when it is not one. */
export function parseProcessIdentity(text: string): ProcessIdentity | undefined {
  try {
    const result = ProcessIdentitySchema.safeParse(JSON.parse(text));
    return result.success ? result.data : undefined;
  } catch {
    return undefined;
  }
}
