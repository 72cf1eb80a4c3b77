// What a phase reads, by file: the phase runs under strace (only successful read, pread64, readv,
// preadv and preadv2 calls are stopped on, through a seccomp filter) and the bytes each call
// returned are summed per path. Timings are never taken from a traced run.
import { readFile } from "node:fs/promises";
import { runTool } from "../test/harness/process/run-tool.js";

const READ_CALL = /^\d+\s+(?:read|pread64|readv|preadv2?)\(\d+<([^>]*)>.*\)\s+=\s+(\d+)$/;

/** Bytes read per path (sockets and pipes appear under their strace names). */
export type ReadCounts = ReadonlyMap<string, number>;

/** Runs `command args` under strace; returns its stdout and the bytes it read per file. */
export async function tracedRun(command: string, args: readonly string[], env: NodeJS.ProcessEnv, traceFile: string): Promise<{ stdout: string; reads: ReadCounts }> {
  const strace = ["--seccomp-bpf", "-f", "-qq", "-s", "0", "-y", "-e", "trace=read,pread64,readv,preadv,preadv2", "-e", "status=successful", "-o", traceFile];
  const { stdout } = await runTool("strace", [...strace, command, ...args], { env, timeoutMs: 600_000 });
  const reads = new Map<string, number>();
  for (const line of (await readFile(traceFile, "utf8")).split("\n")) {
    const m = READ_CALL.exec(line);
    if (m?.[1] !== undefined && m[2] !== undefined) reads.set(m[1], (reads.get(m[1]) ?? 0) + Number(m[2]));
  }
  return { stdout, reads };
}

/** Sums the bytes read under each of the named directories or files; the rest goes to "other". */
export function readsByPlace(reads: ReadCounts, places: readonly { name: string; path: string }[]): Map<string, number> {
  const out = new Map<string, number>(places.map((p) => [p.name, 0]));
  out.set("other", 0);
  for (const [path, bytes] of reads) {
    const place = places.find((p) => path === p.path || path.startsWith(`${p.path}/`));
    const name = place?.name ?? "other";
    out.set(name, (out.get(name) ?? 0) + bytes);
  }
  return out;
}
