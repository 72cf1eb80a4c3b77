// What the daemon-mode suites share: reading the podman service's images through the Engine API
// with a plain HTTP client (not the code under test), a launcher stand-in that shows how the app
// started, and snapshots of directories (the launch cache, the cache) to prove they were left as
// they were.
import { lstat, readdir } from "node:fs/promises";
import { join, relative } from "node:path";
import { Agent, request } from "undici";
import { z } from "zod";
import type { PodmanService } from "../../test/harness/index.js";

/** The parts of `GET /images/{name}/json` the suites check. */
export const InspectSchema = z.object({
  Id: z.string(),
  RepoTags: z.array(z.string()).nullish(),
  Created: z.string().optional(),
  Os: z.string(),
  Architecture: z.string(),
  Config: z.object({
    Entrypoint: z.array(z.string()).nullish(),
    Cmd: z.array(z.string()).nullish(),
    Env: z.array(z.string()).nullish(),
    User: z.string().nullish(),
    WorkingDir: z.string().nullish(),
    Labels: z.record(z.string(), z.string()).nullish(),
  }),
  RootFS: z.object({ Layers: z.array(z.string()).nullish() }),
});

/** An inspected image. */
export type Inspected = z.infer<typeof InspectSchema>;

/** Reads the service's images through its Engine API socket. */
export class EngineReader {
  private readonly dispatcher: Agent;

  constructor(service: PodmanService) {
    if (service.socketPath === undefined) throw new Error("EngineReader needs a service on a unix socket");
    this.dispatcher = new Agent({ connect: { socketPath: service.socketPath } });
  }

  /** `GET /images/{name}/json`, or undefined when the daemon has no such image. */
  async inspect(name: string): Promise<Inspected | undefined> {
    const res = await request(`http://d/v1.41/images/${encodeURI(name)}/json`, { dispatcher: this.dispatcher });
    const text = await res.body.text();
    if (res.statusCode === 404) return undefined;
    if (res.statusCode !== 200) throw new Error(`inspecting ${name}: HTTP ${res.statusCode} ${text}`);
    return InspectSchema.parse(JSON.parse(text));
  }

  /** Like {@link inspect}, but the image must exist. */
  async image(name: string): Promise<Inspected> {
    const found = await this.inspect(name);
    if (!found) throw new Error(`the daemon has no image ${name}`);
    return found;
  }

  /** Every image ID in the daemon (`GET /images/json`). */
  async imageIds(): Promise<string[]> {
    const res = await request("http://d/v1.41/images/json?all=true", { dispatcher: this.dispatcher });
    const list = z.array(z.object({ Id: z.string() })).parse(await res.body.json());
    return list.map((i) => i.Id).sort();
  }

  /** `DELETE /images/{name}?force=1` (the image must exist). */
  async remove(name: string): Promise<void> {
    const res = await request(`http://d/v1.41/images/${encodeURI(name)}?force=1`, { method: "DELETE", dispatcher: this.dispatcher });
    const text = await res.body.text();
    if (res.statusCode !== 200) throw new Error(`removing ${name}: HTTP ${res.statusCode} ${text}`);
  }

  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/** The image ID without `sha256:`, as analyzed.toml, labels and report.toml record it. */
export function hex(id: string): string {
  return id.replace(/^sha256:/, "");
}

/** A launcher stand-in: how the app image started it, then the app's message. */
export const DAEMON_TEST_LAUNCHER = `#!/bin/sh
echo "entrypoint=$0"
echo "cwd=$(pwd)"
echo "user=$(id -u):$(id -g)"
echo "platform-api=$CNB_PLATFORM_API"
echo "args=$*"
cat "$CNB_APP_DIR/message.txt"
`;

/** One entry of a directory snapshot. */
export interface SnapshotEntry {
  readonly size: number;
  readonly mtimeMs: number;
  readonly ino: number;
  readonly mode: number;
}

/** Every path under `dir` (relative) with size, mtime, inode and mode; empty when `dir` is missing. */
export async function snapshotDir(dir: string): Promise<Record<string, SnapshotEntry>> {
  const out: Record<string, SnapshotEntry> = {};
  const walk = async (at: string): Promise<void> => {
    let names: string[];
    try {
      names = (await readdir(at)).sort();
    } catch {
      return;
    }
    for (const name of names) {
      const path = join(at, name);
      const info = await lstat(path);
      out[relative(dir, path)] = { size: info.size, mtimeMs: info.mtimeMs, ino: info.ino, mode: info.mode };
      if (info.isDirectory()) await walk(path);
    }
  };
  await walk(dir);
  return out;
}

/** The `sha256:<hex>` diffIDs in a volume cache's `committed/` directory, sorted. */
export async function committedDiffIds(cacheDir: string): Promise<string[]> {
  const names = await readdir(join(cacheDir, "committed")).catch(() => [] as string[]);
  return names
    .filter((n) => n.endsWith(".tar"))
    .map((n) => n.slice(0, -".tar".length))
    .sort();
}
