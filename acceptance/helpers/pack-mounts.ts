// Runs a phase binary at pack's paths without a container: `unshare -m` gives it a private mount
// namespace in which a tmpfs becomes the root (chroot) with the host's /usr, /etc, /dev and /proc,
// a private /tmp, the lifecycle folder at /cnb/lifecycle, the test's directories bound at /layers,
// /workspace, /cache and /launch-cache, and the daemon's socket at /var/run/docker.sock (/var/run
// is a link to /run, as in Debian images). Nothing of it is visible outside the namespace, and it
// all goes away with the process. Needs root.
import { spawn } from "node:child_process";
import { copyFileSync, existsSync, linkSync, mkdirSync, readdirSync, readlinkSync, lstatSync, symlinkSync } from "node:fs";
import { join } from "node:path";
import { collectOutput, type RunResult } from "./lifecycle.js";

/** What the phase sees. */
export interface PackMounts {
  /** An empty directory to mount the root tmpfs on. */
  readonly root: string;
  /** The lifecycle folder to show at /cnb/lifecycle (with a launcher in it). */
  readonly lifecycle: string;
  /** Container path → host directory. */
  readonly binds: Readonly<Record<string, string>>;
  /** A unix socket to bind at /var/run/docker.sock. */
  readonly dockerSocket?: string;
}

const q = (s: string): string => `'${s.replaceAll("'", "'\\''")}'`;

/**
 * A copy of the lifecycle folder (`dir`) with `launcher` added, as the lifecycle image lays it out:
 * the executable hard-linked when it can be, the phase links as links, lifecycle.toml copied.
 */
export function lifecycleFolder(dir: string, launcher: string, into: string): string {
  mkdirSync(into, { recursive: true });
  for (const name of readdirSync(dir)) {
    const from = join(dir, name);
    const to = join(into, name);
    if (existsSync(to)) continue;
    if (lstatSync(from).isSymbolicLink()) symlinkSync(readlinkSync(from), to);
    else {
      try {
        linkSync(from, to);
      } catch {
        copyFileSync(from, to);
      }
    }
  }
  copyFileSync(launcher, join(into, "launcher"));
  return into;
}

/** The shell script that sets up the namespace and execs the phase. */
function script(mounts: PackMounts, env: Readonly<Record<string, string>>, argv: readonly string[]): string {
  const r = q(mounts.root);
  const lines = [
    "set -e",
    `mount -t tmpfs -o mode=0755 tmpfs ${r}`,
    `cd ${r}`,
    "mkdir -p usr etc dev proc tmp run var cnb/lifecycle",
    "ln -s usr/bin bin && ln -s usr/lib lib && ln -s usr/lib64 lib64 && ln -s usr/sbin sbin && ln -s ../run var/run",
    ...["usr", "etc", "dev", "proc"].map((d) => `mount --rbind /${d} ${r}/${d}`),
    `mount -t tmpfs -o mode=1777 tmpfs ${r}/tmp`,
    `mount --bind ${q(mounts.lifecycle)} ${r}/cnb/lifecycle`,
  ];
  for (const [at, from] of Object.entries(mounts.binds)) lines.push(`mkdir -p ${r}${q(at)}`, `mount --bind ${q(from)} ${r}${q(at)}`);
  if (mounts.dockerSocket !== undefined) lines.push(`touch ${r}/run/docker.sock`, `mount --bind ${q(mounts.dockerSocket)} ${r}/run/docker.sock`);
  const assignments = Object.entries(env).map(([k, v]) => q(`${k}=${v}`));
  lines.push(`cd ${r}`, `exec chroot ${r} /usr/bin/env -i ${assignments.join(" ")} ${argv.map(q).join(" ")}`);
  return lines.join("\n");
}

/** Runs `argv` as root inside the namespace, with exactly `env` (plus PATH when not given). */
export function runAtPackPaths(mounts: PackMounts, env: Readonly<Record<string, string>>, argv: readonly string[], timeoutMs = 120_000): Promise<RunResult> {
  const full = { PATH: "/usr/local/bin:/usr/bin:/bin", ...env };
  const child = spawn("unshare", ["--mount", "--propagation", "private", "sh", "-c", script(mounts, full, argv)], { stdio: ["ignore", "pipe", "pipe"] });
  return collectOutput(child, timeoutMs);
}
