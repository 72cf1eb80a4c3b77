// The exporter on a full or small temp filesystem (issue 11 item 2): every failure ends in the
// phase's error handling (exit 62, one ERROR: line, temp files removed, nothing tagged).
import { execFileSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdirSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { buildRunImage, expectNoLeakedProcesses, pushImage } from "../test/harness/index.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { runLifecycle } from "./helpers/lifecycle.js";
import { createWorkspace, exporterArgs, type BuildSpec, type Workspace } from "./helpers/workspace.js";

expectNoLeakedProcesses();
const reg = useRegistry("plain");
const temp = useTempDir("exporter-full-disk");

const RUNS = Number(process.env.FULL_DISK_RUNS ?? "15");
const mounts: string[] = [];

/** A tmpfs of `size` mounted at a fresh directory (unmounted after the suite). */
function smallTmpfs(name: string, size: string): string {
  const dir = join(temp(), name);
  mkdirSync(dir, { recursive: true });
  execFileSync("mount", ["-t", "tmpfs", "-o", `size=${size}`, "tmpfs", dir]);
  mounts.push(dir);
  return dir;
}

afterAll(() => {
  for (const dir of mounts.reverse()) execFileSync("umount", [dir]);
});

/** Writes up to `bytes` into `path`; a full filesystem just ends the file early. */
function fill(path: string, bytes: number): void {
  try {
    writeFileSync(path, Buffer.alloc(bytes));
  } catch (err) {
    if ((err as { code?: string }).code !== "ENOSPC") throw err;
  }
}

/** Incompressible file contents (so the layer blobs really need the space). */
const noise = (bytes: number) => randomBytes(bytes).toString("base64");

function spec(): BuildSpec {
  return {
    group: [{ id: "acme/node", version: "1.0.0" }, { id: "acme/npm", version: "1.0.0" }],
    layers: [
      { bp: "acme/node", name: "node", types: { launch: true, cache: true }, files: { "bin/node": noise(700_000) } },
      { bp: "acme/node", name: "tools", types: { launch: true }, files: { "bin/tools": noise(700_000) } },
      { bp: "acme/npm", name: "modules", types: { launch: true, cache: true }, files: { "a/index.js": noise(700_000) } },
    ],
    app: { "server.js": noise(300_000) },
    processes: [{ type: "web", command: ["node", "server.js"], default: true }],
  };
}

let n = 0;
async function prepared(): Promise<Workspace> {
  const ws = createWorkspace(join(temp(), `ws-${++n}`), spec(), `[[images]]\n  image = "${reg().host}/acme/run:1"\n`);
  const r = await runLifecycle("analyzer", ["-no-color", "-layers", ws.layers, "-run", ws.run, `${reg().host}/acme/app:${n}`]);
  expect(r.code, r.stdout).toBe(0);
  return ws;
}

beforeAll(async () => {
  const run = await buildRunImage(join(temp(), "run-layout"), {});
  await pushImage(run, reg(), "acme/run:1");
});

describe("exporter with TMPDIR on a small filesystem", () => {
  it(`fails cleanly every time: exit 62, one ERROR: line, no temp dir left, nothing tagged (${RUNS} runs)`, async () => {
    const tmp = smallTmpfs("tmp-small", "1m");
    const outcomes: string[] = [];
    for (let i = 0; i < RUNS; i++) {
      const ws = await prepared();
      const image = `${reg().host}/acme/app:${n}`;
      // from no room at all to room for the first layer files: the failing write moves around
      fill(join(tmp, "filler"), 1024 * 1024 - (i % 5) * 200 * 1024);
      const parallel = i % 2 === 1 ? ["-parallel"] : [];
      const r = await runLifecycle("exporter", ["-no-color", ...exporterArgs(ws), "-cache-dir", ws.cache, ...parallel, image], { env: { TMPDIR: tmp } });
      const errors = r.stdout.split("\n").filter((l) => l.startsWith("ERROR: "));
      const left = readdirSync(tmp).filter((e) => e.startsWith("cnb-export-"));
      const tagged = (await fetch(`${reg().url}/v2/acme/app/manifests/${n}`, { method: "HEAD", headers: { accept: "application/vnd.oci.image.manifest.v1+json" } })).status;
      const enospc = errors.every((l) => l.includes("no space left on device"));
      outcomes.push(`code=${r.code} errors=${errors.length} enospc=${enospc} left=${left.length} tagged=${tagged} stderr=${r.stderr}`);
      for (const e of readdirSync(tmp)) rmSync(join(tmp, e), { recursive: true, force: true });
    }
    const bad = outcomes.filter((o) => o !== "code=62 errors=1 enospc=true left=0 tagged=404 stderr=");
    expect(bad, outcomes.join("\n")).toEqual([]);
  });
});
