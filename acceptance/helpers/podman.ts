import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { runTool, ToolError, useResource, type RegistryEndpoint, type ToolResult } from "../../test/harness/index.js";

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

/** What a private podman needs to know: the test registries it pulls from (plain HTTP, their credentials). */
export interface PodmanSetup {
  readonly registries: readonly RegistryEndpoint[];
}

/** Exit code and output of a podman command that may fail. */
export interface PodmanResult {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

/**
 * A private rootful podman configured by files (test-environment.md §6), so `podman kube play`
 * and the service get the same settings as `podman run`: runc, lowered ulimits, cgroupfs, file
 * events, no network unless a container asks for the host's, overlay storage, the test
 * registries over plain HTTP with their credentials in an auth file. Everything lives in one
 * short /tmp directory (podman refuses long runroots).
 */
export class Podman {
  private constructor(
    readonly stateDir: string,
    /** The environment every podman command runs with (CONTAINERS_*, REGISTRY_AUTH_FILE). */
    readonly env: NodeJS.ProcessEnv,
  ) {}

  /** Writes the configuration files. */
  static create(setup: PodmanSetup): Podman {
    const stateDir = mkdtempSync("/tmp/pm-");
    const file = (name: string, text: string): string => {
      writeFileSync(join(stateDir, name), text);
      return join(stateDir, name);
    };
    const containersConf = file(
      "containers.conf",
      [
        "[containers]",
        'default_ulimits = ["nofile=1024:1024", "nproc=1024:1024"]',
        'netns = "none"',
        "[engine]",
        'runtime = "runc"',
        'cgroup_manager = "cgroupfs"',
        'events_logger = "file"',
        "",
      ].join("\n"),
    );
    const storageConf = file(
      "storage.conf",
      ["[storage]", 'driver = "overlay"', `graphroot = "${join(stateDir, "root")}"`, `runroot = "${join(stateDir, "run")}"`, ""].join("\n"),
    );
    const registriesConf = file("registries.conf", setup.registries.map((r) => `[[registry]]\nlocation = "${r.host}"\ninsecure = true\n`).join("\n"));
    const auths: Record<string, { auth: string }> = {};
    for (const r of setup.registries) {
      if (r.credentials) auths[r.host] = { auth: Buffer.from(`${r.credentials.username}:${r.credentials.password}`).toString("base64") };
    }
    const authFile = file("auth.json", JSON.stringify({ auths }));
    const env: NodeJS.ProcessEnv = {
      ...process.env,
      CONTAINERS_CONF: containersConf,
      CONTAINERS_STORAGE_CONF: storageConf,
      CONTAINERS_REGISTRIES_CONF: registriesConf,
      REGISTRY_AUTH_FILE: authFile,
      TMPDIR: join(stateDir, "tmp"),
    };
    mkdirSync(join(stateDir, "tmp"));
    return new Podman(stateDir, env);
  }

  /** Runs `podman <args>`; rejects with a ToolError (its stderr included) when it fails. */
  run(args: readonly string[], timeoutMs = 300_000): Promise<ToolResult> {
    return runTool("podman", args, { env: this.env, timeoutMs });
  }

  /** Runs `podman <args>` and resolves with its exit code whatever it is. */
  async attempt(args: readonly string[], timeoutMs = 300_000): Promise<PodmanResult> {
    try {
      return { code: 0, ...(await this.run(args, timeoutMs)) };
    } catch (err) {
      if (!(err instanceof ToolError)) throw err;
      return { code: err.exitCode ?? -1, stdout: err.stdout, stderr: err.stderr };
    }
  }

  /** Stores an image of an OCI layout in this podman's storage under `name` (skopeo, same storage config). */
  async loadLayout(layoutDir: string, tag: string, name: string): Promise<void> {
    await runTool("skopeo", ["--insecure-policy", "copy", "-q", `oci:${layoutDir}:${tag}`, `containers-storage:${name}`], { env: this.env, timeoutMs: 300_000 });
  }

  /** The host directory of a named volume. */
  async volumePath(name: string): Promise<string> {
    return (await this.run(["volume", "inspect", "--format", "{{.Mountpoint}}", name])).stdout.trim();
  }

  /** Removes pods, containers, volumes and secrets, unmounts what is left and deletes the state. */
  async stop(): Promise<void> {
    await this.attempt(["pod", "rm", "--all", "--force"]);
    await this.attempt(["rm", "--all", "--force"]);
    await this.attempt(["volume", "rm", "--all", "--force"]);
    await this.attempt(["secret", "rm", "--all"]);
    for (const mount of mountsUnder(this.stateDir).reverse()) await runTool("umount", ["-l", mount]).catch(() => undefined);
    rmSync(this.stateDir, { recursive: true, force: true });
  }
}

/** Mount points at or below `dir` (from /proc/self/mounts), outermost first. */
function mountsUnder(dir: string): string[] {
  return readFileSync("/proc/self/mounts", "utf8")
    .split("\n")
    .map((line) => (line.split(" ")[1] ?? "").replace(/\\040/g, " "))
    .filter((point) => point === dir || point.startsWith(`${dir}/`));
}

/** A private {@link Podman} for the suite (beforeAll/afterAll); `setup` is read in beforeAll. */
export function usePodman(setup: () => PodmanSetup): () => Podman {
  return useResource("podman", () => Promise.resolve(Podman.create(setup())));
}
