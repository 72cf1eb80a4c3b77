// `npm run bench -- registry [--layers 4] [--layer-mib 64] [--runs 3]`
//
// Our registry client against skopeo, on one plain harness registry behind a counting fault
// proxy (no rules; it runs in a worker thread so it does not share our event loop):
//   push: pushImage(LayoutImage)            vs  skopeo copy oci:<layout> docker://<proxy>/...
//   pull: RemoteImage, every blob verified   vs  skopeo copy docker://<proxy>/... oci:<tmp>
//         and discarded
// Every push goes to a fresh repository so no blob is skipped by a HEAD check. Reports the
// median wall time of the runs, MiB/s over the blob bytes moved, and requests by method.
import { once } from "node:events";
import { join } from "node:path";
import { isMainThread, parentPort, Worker, workerData } from "node:worker_threads";
import { LayoutImage } from "../src/image/layout-image.js";
import { pushImage } from "../src/image/registry-writer.js";
import { RemoteImage } from "../src/image/remote-image.js";
import { RegistryClient } from "../src/registry/client.js";
import { anonymousKeychain } from "../src/registry/keychain.js";
import { Reference } from "../src/registry/reference.js";
// (not test/harness/index.js: that also loads the vitest helpers, which need a vitest runner)
import { runTool } from "../test/harness/process/run-tool.js";
import { makeTempDir, type TempDir } from "../test/harness/process/temp-dir.js";
import { startFaultProxy, type FaultProxy } from "../test/harness/proxy/fault-proxy.js";
import { startRegistry, type RegistryHandle } from "../test/harness/registry/start-registry.js";
import { writeTextImage, type TextImage } from "./_text-image.js";
import { option, median } from "./_args.js";

const MiB = 1024 * 1024;
const TAG = "latest";

/** Requests by method, as counted by the proxy. */
type MethodCounts = Record<string, number>;

interface ProxyCall {
  readonly id: number;
  readonly cmd: "reset" | "counts" | "stop";
}

interface ProxyReply {
  readonly id: number;
  readonly counts?: MethodCounts;
}

// ---- worker thread: the counting proxy ---------------------------------------------------

async function proxyWorker(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("proxy worker without a parent port");
  const proxy: FaultProxy = await startFaultProxy({ upstream: { url: String((workerData as { upstream: string }).upstream) } });
  port.on("message", (call: ProxyCall) => {
    void (async () => {
      const reply: ProxyReply = { id: call.id };
      if (call.cmd === "reset") proxy.resetCounters();
      if (call.cmd === "counts") {
        const counts: MethodCounts = {};
        for (const r of proxy.requests()) counts[r.method] = (counts[r.method] ?? 0) + 1;
        Object.assign(reply, { counts });
      }
      if (call.cmd === "stop") {
        await proxy.stop();
        port.postMessage(reply);
        port.close();
        return;
      }
      port.postMessage(reply);
    })();
  });
  port.postMessage({ ready: proxy.host });
}

/** The proxy worker seen from the main thread. */
class ProxyHandle {
  private next = 0;
  private readonly pending = new Map<number, (reply: ProxyReply) => void>();

  private constructor(
    private readonly worker: Worker,
    readonly host: string,
  ) {
    worker.on("message", (reply: ProxyReply) => {
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
  }

  static async start(upstream: string): Promise<ProxyHandle> {
    const worker = new Worker(new URL(import.meta.url), { workerData: { upstream } });
    const [first] = (await once(worker, "message")) as [{ ready: string }];
    return new ProxyHandle(worker, first.ready);
  }

  private call(cmd: ProxyCall["cmd"]): Promise<ProxyReply> {
    const id = ++this.next;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ id, cmd } satisfies ProxyCall);
    });
  }

  async reset(): Promise<void> {
    await this.call("reset");
  }

  async counts(): Promise<MethodCounts> {
    return (await this.call("counts")).counts ?? {};
  }

  async stop(): Promise<void> {
    await this.call("stop");
    await this.worker.terminate();
  }
}

// ---- main thread -------------------------------------------------------------------------

interface Measurement {
  readonly seconds: number[];
  counts: MethodCounts;
}



function formatCounts(counts: MethodCounts): string {
  const order = ["GET", "HEAD", "POST", "PATCH", "PUT", "DELETE"];
  const methods = Object.keys(counts).sort((a, b) => (order.indexOf(a) + 99) % 99 - (order.indexOf(b) + 99) % 99);
  return methods.map((m) => `${m} ${counts[m] ?? 0}`).join(", ");
}

const total = (counts: MethodCounts): number => Object.values(counts).reduce((a, b) => a + b, 0);

async function timed(proxy: ProxyHandle, into: Measurement, fn: () => Promise<void>): Promise<void> {
  await proxy.reset();
  const started = performance.now();
  await fn();
  into.seconds.push((performance.now() - started) / 1000);
  into.counts = await proxy.counts();
}

/**
 * Runs `skopeo copy` with a blob-info cache of its own: skopeo remembers where it saw blobs (for
 * root in /var/lib/containers/cache) and would mount them from the previous runs' repositories
 * instead of uploading. `_CONTAINERS_ROOTLESS_UID` makes it use `$XDG_DATA_HOME` instead.
 */
async function skopeo(args: string[], cacheHome: string): Promise<void> {
  const env = { ...process.env, _CONTAINERS_ROOTLESS_UID: "1000", XDG_DATA_HOME: cacheHome };
  await runTool("skopeo", ["--insecure-policy", "copy", "-q", ...args], { timeoutMs: 600_000, env });
}

/** Our pull: manifest, config and every layer blob streamed, verified and discarded. */
async function pullAll(client: RegistryClient, ref: Reference, image: TextImage): Promise<void> {
  const remote = new RemoteImage(client, ref, { platform: { os: "linux", architecture: "amd64" } });
  const layers = await remote.layers();
  let bytes = 0;
  await Promise.all(
    layers.map(async (layer) => {
      for await (const chunk of await layer.open()) bytes += (chunk as Buffer).length;
    }),
  );
  const expected = image.layers.reduce((sum, l) => sum + l.size, 0);
  if (bytes !== expected) throw new Error(`pulled ${bytes} layer bytes, expected ${expected}`);
}

async function main(args: readonly string[]): Promise<void> {
  const layerCount = option(args, "layers", 4);
  const layerMiB = option(args, "layer-mib", 64);
  const runs = option(args, "runs", 3);

  let temp: TempDir | undefined;
  let registry: RegistryHandle | undefined;
  let proxy: ProxyHandle | undefined;
  try {
    temp = await makeTempDir("bench-registry");
    const workDir = temp.path;
    const layout = join(workDir, "layout");
    const started = performance.now();
    const image = await writeTextImage(layout, { layers: layerCount, layerBytes: layerMiB * MiB, gzipLevel: 1, seed: 42, tag: TAG });
    const uncompressed = image.layers.reduce((sum, l) => sum + l.uncompressedSize, 0);
    console.log(
      `image: ${layerCount} layers × ${layerMiB} MiB text (${(uncompressed / MiB).toFixed(0)} MiB as tar), gzip -1 → ` +
        `${(image.blobBytes / MiB).toFixed(1)} MiB of blobs (generated in ${((performance.now() - started) / 1000).toFixed(1)} s)`,
    );

    registry = await startRegistry("plain");
    proxy = await ProxyHandle.start(registry.url);
    const host = proxy.host;
    console.log(`registry ${registry.url} behind counting proxy http://${host} (worker thread); ${runs} run(s), median reported\n`);

    const results = {
      oursPush: { seconds: [], counts: {} } as Measurement,
      skopeoPush: { seconds: [], counts: {} } as Measurement,
      oursPull: { seconds: [], counts: {} } as Measurement,
      skopeoPull: { seconds: [], counts: {} } as Measurement,
    };
    for (let run = 1; run <= runs; run++) {
      const pushed = Reference.parse(`${host}/bench/ours-${run}:${TAG}`);
      const client = new RegistryClient({ keychain: anonymousKeychain });
      try {
        await timed(proxy, results.oursPush, async () => {
          const result = await pushImage(client, new LayoutImage(layout, { refName: TAG }), [pushed]);
          if (result.digest !== image.digest) throw new Error(`pushed ${result.digest}, expected ${image.digest}`);
        });
      } finally {
        await client.close();
      }
      await timed(proxy, results.skopeoPush, () =>
        skopeo(["--dest-tls-verify=false", `oci:${layout}:${TAG}`, `docker://${host}/bench/skopeo-${run}:${TAG}`], join(workDir, `skopeo-cache-push-${run}`)),
      );

      const puller = new RegistryClient({ keychain: anonymousKeychain });
      try {
        await timed(proxy, results.oursPull, () => pullAll(puller, pushed, image));
      } finally {
        await puller.close();
      }
      const target = await makeTempDir("bench-skopeo-pull");
      try {
        await timed(proxy, results.skopeoPull, () =>
          skopeo(["--src-tls-verify=false", `docker://${pushed.name}`, `oci:${join(target.path, "layout")}:${TAG}`], join(target.path, "cache")),
        );
      } finally {
        await target.remove();
      }
      console.log(
        `run ${run}: push ours ${results.oursPush.seconds.at(-1)?.toFixed(2)} s, skopeo ${results.skopeoPush.seconds.at(-1)?.toFixed(2)} s; ` +
          `pull ours ${results.oursPull.seconds.at(-1)?.toFixed(2)} s, skopeo ${results.skopeoPull.seconds.at(-1)?.toFixed(2)} s`,
      );
    }

    const rate = (seconds: number): string => `${(image.blobBytes / MiB / seconds).toFixed(0)} MiB/s`;
    const rows: string[][] = [["", "ours", "skopeo", "ours / skopeo"]];
    for (const [label, ours, theirs] of [
      ["push", results.oursPush, results.skopeoPush],
      ["pull", results.oursPull, results.skopeoPull],
    ] as const) {
      const a = median(ours.seconds);
      const b = median(theirs.seconds);
      rows.push([`${label} wall time`, `${a.toFixed(2)} s`, `${b.toFixed(2)} s`, (a / b).toFixed(2)]);
      rows.push([`${label} throughput`, rate(a), rate(b), (b / a).toFixed(2)]);
      rows.push([`${label} requests`, String(total(ours.counts)), String(total(theirs.counts)), (total(ours.counts) / total(theirs.counts)).toFixed(2)]);
      rows.push([`  by method`, formatCounts(ours.counts), formatCounts(theirs.counts), ""]);
    }
    const widths = rows[0]?.map((_, col) => Math.max(...rows.map((r) => (r[col] ?? "").length))) ?? [];
    console.log("");
    for (const [i, row] of rows.entries()) {
      console.log(row.map((cell, col) => cell.padEnd(widths[col] ?? 0)).join("  │  ").trimEnd());
      if (i === 0) console.log(widths.map((w) => "─".repeat(w)).join("──┼──"));
    }
    console.log(`\nthroughput = ${(image.blobBytes / MiB).toFixed(1)} MiB of blobs / wall time; throughput ratio > 1 means ours is faster`);
    console.log("ours pull verifies and discards the bytes; skopeo pull writes them into a fresh OCI layout");
  } finally {
    await proxy?.stop().catch(() => undefined);
    await registry?.stop().catch(() => undefined);
    await temp?.remove().catch(() => undefined);
  }
}

if (isMainThread) {
  await main(process.argv.slice(2)).catch((err: unknown) => {
    console.error(err);
    process.exitCode = 1;
  });
} else {
  await proxyWorker();
}
