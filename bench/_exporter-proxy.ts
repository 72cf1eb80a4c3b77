// The harness fault proxy (no rules) in a worker thread, so it counts requests and uploaded bytes
// without sharing the benchmark's event loop. The bench entry file runs `proxyWorker()` when it is
// loaded as the worker (esbuild bundles everything into that one file).
import { once } from "node:events";
import { parentPort, Worker, workerData } from "node:worker_threads";
import { startFaultProxy } from "../test/harness/proxy/fault-proxy.js";

/** What the proxy saw since the last reset. */
export interface ProxyStats {
  /** Requests by method. */
  readonly methods: Record<string, number>;
  /** POST and PATCH requests to `/blobs/uploads/` (a blob upload started or sent). */
  readonly blobUploads: number;
  /** Request body bytes of all upload requests (POST/PATCH/PUT to `/blobs/uploads/`). */
  readonly uploadedBytes: number;
}

interface Call {
  readonly id: number;
  readonly cmd: "reset" | "stats" | "stop";
}

interface Reply {
  readonly id: number;
  readonly stats?: ProxyStats;
}

const UPLOADS = /\/blobs\/uploads\//;

/** The worker side: starts the proxy and answers reset/stats/stop calls. */
export async function proxyWorker(): Promise<void> {
  const port = parentPort;
  if (!port) throw new Error("proxy worker without a parent port");
  const proxy = await startFaultProxy({ upstream: { url: String((workerData as { upstream: string }).upstream) } });
  port.on("message", (call: Call) => {
    void (async () => {
      if (call.cmd === "reset") {
        proxy.resetCounters();
        port.postMessage({ id: call.id } satisfies Reply);
      } else if (call.cmd === "stats") {
        const methods: Record<string, number> = {};
        let blobUploads = 0;
        let uploadedBytes = 0;
        for (const r of proxy.requests()) {
          methods[r.method] = (methods[r.method] ?? 0) + 1;
          if (!UPLOADS.test(r.path)) continue;
          if (r.method === "POST" || r.method === "PATCH") blobUploads++;
          uploadedBytes += r.requestBytes;
        }
        port.postMessage({ id: call.id, stats: { methods, blobUploads, uploadedBytes } } satisfies Reply);
      } else {
        await proxy.stop();
        port.postMessage({ id: call.id } satisfies Reply);
        port.close();
      }
    })();
  });
  port.postMessage({ ready: proxy.host });
}

/** The proxy worker seen from the main thread. */
export class ProxyHandle {
  private next = 0;
  private readonly pending = new Map<number, (reply: Reply) => void>();

  private constructor(
    private readonly worker: Worker,
    /** `127.0.0.1:PORT` */
    readonly host: string,
  ) {
    worker.on("message", (reply: Reply) => {
      this.pending.get(reply.id)?.(reply);
      this.pending.delete(reply.id);
    });
  }

  /** Starts the worker from `entry` (the bundled bench file) in front of `upstream`. */
  static async start(entry: URL, upstream: string): Promise<ProxyHandle> {
    const worker = new Worker(entry, { workerData: { upstream } });
    const [first] = (await once(worker, "message")) as [{ ready: string }];
    return new ProxyHandle(worker, first.ready);
  }

  private call(cmd: Call["cmd"]): Promise<Reply> {
    const id = ++this.next;
    return new Promise((resolve) => {
      this.pending.set(id, resolve);
      this.worker.postMessage({ id, cmd } satisfies Call);
    });
  }

  async reset(): Promise<void> {
    await this.call("reset");
  }

  async stats(): Promise<ProxyStats> {
    const reply = await this.call("stats");
    if (!reply.stats) throw new Error("proxy worker sent no stats");
    return reply.stats;
  }

  async stop(): Promise<void> {
    await this.call("stop");
    await this.worker.terminate();
  }
}
