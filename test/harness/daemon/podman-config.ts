// Configuration files that give a podman service (and the podman CLI beside it) private storage
// under one directory (vfs, or overlay where the kernel allows it), with the runtime settings that work on these machines (test-environment.md
// §6/§6b: rootful, runc, nofile/nproc 1024, cgroupfs, file events, no network namespace).
import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";

/** Paths of a private podman setup under `dir`. */
export interface PodmanPaths {
  readonly dir: string;
  readonly storageConf: string;
  readonly containersConf: string;
  readonly graphroot: string;
  readonly runroot: string;
  /** Where podman writes uploaded archives before loading them (instead of /var/tmp). */
  readonly copyTmp: string;
}

/** Writes storage.conf and containers.conf for a private store under `dir` (vfs unless `driver` says overlay). */
export async function writePodmanConfig(dir: string, driver: "vfs" | "overlay" = "vfs"): Promise<PodmanPaths> {
  const paths: PodmanPaths = {
    dir,
    storageConf: join(dir, "storage.conf"),
    containersConf: join(dir, "containers.conf"),
    graphroot: join(dir, "root"),
    runroot: join(dir, "runroot"),
    copyTmp: join(dir, "copy-tmp"),
  };
  const engineTmp = join(dir, "engine-tmp");
  const networks = join(dir, "networks");
  for (const d of [paths.graphroot, paths.runroot, paths.copyTmp, engineTmp, networks]) await mkdir(d, { recursive: true });
  await writeFile(
    paths.storageConf,
    `[storage]\ndriver = "${driver}"\ngraphroot = "${paths.graphroot}"\nrunroot = "${paths.runroot}"\n`,
  );
  await writeFile(
    paths.containersConf,
    [
      "[containers]",
      'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
      'netns = "none"',
      "[network]",
      `network_config_dir = "${networks}"`,
      "[engine]",
      'runtime = "runc"',
      'cgroup_manager = "cgroupfs"',
      'events_logger = "file"',
      `tmp_dir = "${engineTmp}"`,
      `image_copy_tmp_dir = "${paths.copyTmp}"`,
      "",
    ].join("\n"),
  );
  return paths;
}

/** The environment that points podman (service or CLI) at the private setup. */
export function podmanEnv(paths: PodmanPaths, base: NodeJS.ProcessEnv = process.env): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base, CONTAINERS_STORAGE_CONF: paths.storageConf, CONTAINERS_CONF: paths.containersConf, TMPDIR: paths.copyTmp };
  delete env.DOCKER_HOST;
  delete env.CONTAINER_HOST;
  return env;
}
