// A counting, fault-injecting HTTP proxy in front of a Docker Engine API on a unix socket (the
// podman service), listening on 127.0.0.1:PORT: give a phase `DOCKER_HOST=tcp://127.0.0.1:PORT`
// and see every request it makes, the bytes and entries of each `POST /images/load` body (headers
// scanned on the way, contents only counted), and how many image saves (`GET /images/…/get`) it
// asked for. Faults apply to loads: refuse them with an error status, or cut the body midway.
import { Agent, createServer, request, type IncomingHttpHeaders, type IncomingMessage, type ServerResponse } from "node:http";
import type { AddressInfo, Socket } from "node:net";
import { TarScanner, type TarScanEntry } from "./tar-scan.js";

/** What happens to loads while set. */
export type EngineFault =
  /** Read the body, then answer `status` (default 500) with `{"message": …}`; nothing reaches the daemon. */
  | { readonly kind: "refuse-load"; readonly status?: number; readonly message?: string }
  /** Forward the first `afterBytes` bytes of the body, then close both connections. */
  | { readonly kind: "cut-load"; readonly afterBytes: number };

/** One request the proxy received. */
export interface EngineRequestRecord {
  readonly seq: number;
  readonly method: string;
  /** Path without the `/v1.xx` prefix and without the query. */
  readonly path: string;
  /** Query string including `?`, or "". */
  readonly query: string;
  /** Request body bytes received. */
  requestBytes: number;
  /** Status sent back (0 until sent; stays 0 when the connection was cut). */
  status: number;
  /** The fault applied, if any. */
  fault?: EngineFault["kind"];
}

/** One `POST /images/load`: its body's size and the archive entries seen in it. */
export interface LoadRecord {
  readonly request: EngineRequestRecord;
  /** Entries (name, size) in archive order, as far as the body went. */
  readonly entries: readonly TarScanEntry[];
}

/** The running proxy. */
export interface EngineProxy {
  /** `127.0.0.1:PORT` */
  readonly host: string;
  /** `tcp://127.0.0.1:PORT`, for DOCKER_HOST. */
  readonly dockerHost: string;
  /** Requests since the last reset, optionally only those of `method` whose path matches. */
  requests(filter?: { method?: string; path?: RegExp }): EngineRequestRecord[];
  /** Loads since the last reset. */
  loads(): LoadRecord[];
  /** Image saves (`GET /images/{name}/get`, `GET /images/get`) since the last reset. */
  imageSaves(): number;
  /** Applies `fault` to every load from now on (undefined: none). */
  setFault(fault: EngineFault | undefined): void;
  /** Forgets the recorded requests (the fault stays). */
  reset(): void;
  stop(): Promise<void>;
}

const HOP_BY_HOP = new Set(["connection", "keep-alive", "transfer-encoding", "proxy-connection", "te", "trailer", "upgrade"]);
const IMAGE_SAVE = /^\/images\/(?:.+\/)?get$/;

function forwardHeaders(headers: IncomingHttpHeaders): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [k, v] of Object.entries(headers)) if (v !== undefined && !HOP_BY_HOP.has(k)) out[k] = v;
  return out;
}

/** Bytes of a load's archive that are layer contents (see {@link layerEntries}). */
export function loadLayerBytes(load: LoadRecord): number {
  return layerEntries(load).reduce((n, e) => n + e.size, 0);
}

/**
 * The regular entries of a load's archive that carry layers: `*.tar` (this project's `<diffID
 * hex>.tar`, skopeo's `<digest hex>.tar`, legacy `<id>/layer.tar`) and this project's zero-byte
 * `blank_<i>` placeholders. Config, `manifest.json`, `repositories` and legacy `VERSION`/`json`
 * files are not layers; skopeo's legacy `layer.tar` symlinks are not regular entries.
 */
export function layerEntries(load: LoadRecord): TarScanEntry[] {
  return load.entries.filter((e) => (e.type === "0" || e.type === "\0") && (e.name.endsWith(".tar") || /^blank_\d+$/.test(e.name)));
}

/** Starts the proxy in front of the Engine API at `socketPath`. */
export async function startEngineProxy(socketPath: string): Promise<EngineProxy> {
  const agent = new Agent({ keepAlive: true });
  let records: EngineRequestRecord[] = [];
  let loads: LoadRecord[] = [];
  let seq = 0;
  let fault: EngineFault | undefined;
  const sockets = new Set<Socket>();

  const handle = (req: IncomingMessage, res: ServerResponse): void => {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://engine.invalid");
    const record: EngineRequestRecord = { seq: ++seq, method, path: url.pathname.replace(/^\/v\d+(?:\.\d+)?(?=\/)/, ""), query: url.search, requestBytes: 0, status: 0 };
    records.push(record);
    const isLoad = method === "POST" && record.path === "/images/load";
    const scanner = isLoad ? new TarScanner() : undefined;
    if (scanner) loads.push({ request: record, entries: scanner.entries });
    const applied = isLoad ? fault : undefined;

    if (applied?.kind === "refuse-load") {
      record.fault = applied.kind;
      req.on("data", (chunk: Buffer) => {
        record.requestBytes += chunk.length;
        scanner?.push(chunk);
      });
      req.on("end", () => {
        const body = JSON.stringify({ cause: "injected", message: applied.message ?? "the proxy refused this load", response: applied.status ?? 500 });
        record.status = applied.status ?? 500;
        res.writeHead(record.status, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(body);
      });
      return;
    }

    const upstream = request({ agent, socketPath, method, path: req.url ?? "/", headers: forwardHeaders(req.headers) });
    let cut = false;
    upstream.on("response", (up) => {
      record.status = up.statusCode ?? 0;
      res.writeHead(up.statusCode ?? 502, forwardHeaders(up.headers));
      up.pipe(res);
      up.on("error", () => res.destroy());
    });
    upstream.on("error", (err) => {
      if (cut) return;
      if (!res.headersSent) {
        record.status = 502;
        const body = JSON.stringify({ message: `engine proxy: ${err.message}` });
        res.writeHead(502, { "content-type": "application/json", "content-length": Buffer.byteLength(body) });
        res.end(body);
      } else {
        res.destroy();
      }
    });
    req.on("data", (chunk: Buffer) => {
      if (cut) return;
      let part = chunk;
      if (applied?.kind === "cut-load" && record.requestBytes + chunk.length >= applied.afterBytes) {
        part = chunk.subarray(0, Math.max(0, applied.afterBytes - record.requestBytes));
        cut = true;
      }
      record.requestBytes += part.length;
      scanner?.push(part);
      if (cut) {
        record.fault = "cut-load";
        upstream.write(part, () => {
          upstream.destroy();
          req.socket.destroy();
        });
        return;
      }
      if (!upstream.write(part)) {
        req.pause();
        upstream.once("drain", () => req.resume());
      }
    });
    req.on("end", () => {
      if (!cut) upstream.end();
    });
    req.on("error", () => upstream.destroy());
  };

  const server = createServer(handle);
  server.on("clientError", (_err, socket) => socket.destroy());
  // a load of a large image may take minutes before the daemon answers
  server.requestTimeout = 0;
  server.on("connection", (socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => resolve());
  });
  const port = (server.address() as AddressInfo).port;

  return {
    host: `127.0.0.1:${port}`,
    dockerHost: `tcp://127.0.0.1:${port}`,
    requests(filter = {}) {
      return records.filter((r) => (filter.method === undefined || r.method === filter.method) && (filter.path === undefined || filter.path.test(r.path)));
    },
    loads: () => [...loads],
    imageSaves: () => records.filter((r) => r.method === "GET" && IMAGE_SAVE.test(r.path)).length,
    setFault(next) {
      fault = next;
    },
    reset() {
      records = [];
      loads = [];
    },
    async stop() {
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
