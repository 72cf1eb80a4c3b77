import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runTool, type ToolResult } from "../../test/harness/index.js";

/**
 * Runs an image with rootful podman the way this machine allows (test-environment.md §6): runc,
 * lowered ulimits, no network, vfs storage and cgroupfs, all state under `stateDir`, and the
 * registry allowed over plain HTTP. The state is removed afterwards.
 */
export async function podmanRun(image: string, args: readonly string[] = []): Promise<ToolResult> {
  // podman refuses a runroot longer than 50 characters, so its state lives in a short /tmp dir
  const stateDir = mkdtempSync("/tmp/pm-");
  try {
    return await run(stateDir, image, args);
  } finally {
    rmSync(stateDir, { recursive: true, force: true });
  }
}

async function run(stateDir: string, image: string, args: readonly string[]): Promise<ToolResult> {
  const registriesConf = join(stateDir, "registries.conf");
  writeFileSync(registriesConf, "");
  const global = [
    "--root", join(stateDir, "root"),
    "--runroot", join(stateDir, "runroot"),
    "--tmpdir", join(stateDir, "tmp"),
    "--storage-driver", "vfs",
    "--cgroup-manager", "cgroupfs",
    "--events-backend", "file",
  ];
  return runTool(
    "podman",
    [
      ...global,
      "run", "--rm", "--runtime", "runc", "--network", "none",
      "--ulimit", "nofile=1024:1024", "--ulimit", "nproc=1024:1024",
      "--tls-verify=false",
      image,
      ...args,
    ],
    { env: { ...process.env, CONTAINERS_REGISTRIES_CONF: registriesConf }, timeoutMs: 120_000 },
  );
}
