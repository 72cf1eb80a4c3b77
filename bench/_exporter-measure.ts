// How the exporter benchmark measures: wall time, and where the machine's CPU time went meanwhile
// (the measured tool, the registry, this process with its proxy worker, everything else, steal),
// so a run disturbed by other work on the shared machine can be recognised.
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { groupMembers } from "../test/harness/process/process-group.js";
import { runTool } from "../test/harness/process/run-tool.js";

const CLOCK_TICKS = 100;

/** One measurement. CPU figures are seconds of CPU time during the measurement. */
export interface Sample {
  readonly seconds: number;
  /** The measured child process (exporter, skopeo), from `/usr/bin/time -v`; 0 for in-process work. */
  readonly toolCpu: number;
  /** Peak RSS of the child, bytes (0 for in-process work). */
  readonly maxRss: number;
  /** The registry (its process group). */
  readonly registryCpu: number;
  /** This process: the proxy worker, or the in-process baseline itself. */
  readonly benchCpu: number;
  /** Everything else that ran on the machine meanwhile. */
  readonly otherCpu: number;
  /** Time the hypervisor gave our vCPUs to someone else. */
  readonly steal: number;
}

/** What a measured step reports about itself. */
export interface StepResult {
  readonly toolCpu?: number;
  readonly maxRss?: number;
}

/** CPU seconds used so far by the processes of group `pgid` (the registry and its watchdog). */
function groupCpuSeconds(pgid: number): number {
  let ticks = 0;
  for (const member of groupMembers(pgid)) {
    try {
      const stat = readFileSync(`/proc/${member.pid}/stat`, "utf8");
      const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
      ticks += Number(fields[11]) + Number(fields[12]);
    } catch {
      // exited meanwhile
    }
  }
  return ticks / CLOCK_TICKS;
}

/** Busy and steal CPU seconds of the whole machine so far (/proc/stat). */
function machineCpu(): { busy: number; steal: number } {
  const fields = (readFileSync("/proc/stat", "utf8").split("\n")[0] ?? "").trim().split(/\s+/).slice(1).map(Number);
  const [user = 0, nice = 0, system = 0, , , irq = 0, softirq = 0, steal = 0] = fields;
  return { busy: (user + nice + system + irq + softirq) / CLOCK_TICKS, steal: steal / CLOCK_TICKS };
}

function ownCpu(): number {
  const u = process.cpuUsage();
  return (u.user + u.system) / 1e6;
}

/**
 * Measures `step`: flushes dirty pages first (the registry's writes of the previous step would
 * otherwise be written back during this one), then records wall time and the CPU accounting.
 */
export async function measure(registryPgid: number, step: () => Promise<StepResult>): Promise<Sample> {
  await runTool("sync", []);
  const machine = machineCpu();
  const registry = groupCpuSeconds(registryPgid);
  const own = ownCpu();
  const started = performance.now();
  const result = await step();
  const seconds = (performance.now() - started) / 1000;
  const benchCpu = ownCpu() - own;
  const registryCpu = groupCpuSeconds(registryPgid) - registry;
  const after = machineCpu();
  const toolCpu = result.toolCpu ?? 0;
  const otherCpu = Math.max(0, after.busy - machine.busy - benchCpu - registryCpu - toolCpu);
  return { seconds, toolCpu, maxRss: result.maxRss ?? 0, registryCpu, benchCpu, otherCpu, steal: after.steal - machine.steal };
}

/** A child process run to completion under `/usr/bin/time -v`. */
export interface TimedRun extends StepResult {
  readonly toolCpu: number;
  readonly maxRss: number;
  readonly stdout: string;
}

/** Runs `command args` under `/usr/bin/time -v` (report in `timeFile`); fails on a non-zero exit. */
export async function timedRun(command: string, args: readonly string[], env: NodeJS.ProcessEnv, timeFile: string): Promise<TimedRun> {
  const { stdout } = await runTool("/usr/bin/time", ["-v", "-o", timeFile, command, ...args], { env, timeoutMs: 600_000 });
  const report = await readFile(timeFile, "utf8");
  const field = (name: string): number => {
    const match = new RegExp(`${name}[^:]*: ([0-9.]+)`).exec(report);
    if (!match?.[1]) throw new Error(`no "${name}" in /usr/bin/time output:\n${report}`);
    return Number(match[1]);
  };
  return { maxRss: field("Maximum resident set size") * 1024, toolCpu: field("User time") + field("System time"), stdout };
}
