import { readdirSync, readFileSync } from "node:fs";

/** True while any process of the group led by `pgid` exists (zombies included). */
export function isGroupAlive(pgid: number): boolean {
  try {
    process.kill(-pgid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

/** Sends `signal` to every process of the group led by `pgid`; false when the group is gone. */
export function signalGroup(pgid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pgid, signal);
    return true;
  } catch {
    return false;
  }
}

/** A process found in /proc. */
export interface ProcessInfo {
  pid: number;
  /** Single-letter state from /proc/PID/stat ("Z" for a zombie). */
  state: string;
  comm: string;
}

/** The processes of group `pgid`, read from /proc (Linux only). */
export function groupMembers(pgid: number): ProcessInfo[] {
  const out: ProcessInfo[] = [];
  for (const name of readdirSync("/proc")) {
    if (!/^\d+$/.test(name)) continue;
    let stat: string;
    try {
      stat = readFileSync(`/proc/${name}/stat`, "utf8");
    } catch {
      continue;
    }
    // Format: pid (comm) state ppid pgrp ...; comm may contain spaces and parentheses.
    const close = stat.lastIndexOf(")");
    const fields = stat.slice(close + 2).split(" ");
    if (Number(fields[2]) === pgid) {
      out.push({ pid: Number(name), state: fields[0] ?? "?", comm: stat.slice(stat.indexOf("(") + 1, close) });
    }
  }
  return out;
}
