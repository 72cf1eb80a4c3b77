// A Docker Engine API client over a unix socket or TCP (DOCKER_HOST), with version negotiation
// (DOCKER_API_VERSION pins one). Create it while the phase is still privileged: for a unix socket it
// pre-opens a few keep-alive connections that keep working after the switch to the build user.
import type { Readable } from "node:stream";
import { Pool, type Dispatcher } from "undici";
import type { z } from "zod";
import { isApiVersion, negotiateApiVersion } from "./api-version.js";
import { daemonKind, type DaemonKind } from "./daemon-kind.js";
import { parseDockerHost, DockerHostError, type DaemonEndpoint } from "./docker-host.js";
import { DaemonError, isDaemonError } from "./engine-errors.js";
import { ErrorBodySchema, InfoSchema, type PingInfo } from "./engine-schemas.js";
import { SocketReserve } from "./socket-reserve.js";

/** Options of {@link EngineClient.connect}. */
export interface EngineClientOptions {
  /** Where DOCKER_HOST, DOCKER_API_VERSION and DOCKER_TLS_VERIFY are read (default `process.env`). */
  readonly env?: NodeJS.ProcessEnv;
  /** Unix sockets: connections opened now, for use after a privilege drop (default 8). */
  readonly preopen?: number;
  /** Requests in flight at once (default 4). */
  readonly connections?: number;
}

/** One request to the daemon. `what` names the operation in error messages. */
export interface EngineRequest {
  readonly method: "GET" | "POST" | "DELETE" | "HEAD";
  /** Path below the version prefix, e.g. `/images/x/json`. */
  readonly path: string;
  readonly what: string;
  readonly query?: Record<string, string>;
  readonly body?: Readable;
  readonly headers?: Record<string, string>;
  /** Wait this long for the answer's headers (0 = forever; a load answers only once it is stored). Default 60 s. */
  readonly headersTimeout?: number;
  /** Longest pause between body chunks (0 = forever). Default 300 s. */
  readonly bodyTimeout?: number;
  readonly signal?: AbortSignal;
}

/** Keep idle connections for a day: a pre-opened connection closed by the client cannot be reopened after a privilege drop. */
const KEEP_ALIVE_MS = 24 * 60 * 60 * 1000;
/** The Docker CLI's host name for socket connections. */
const SOCKET_ORIGIN = "http://api.moby.localhost";
const MAX_ERROR_BODY = 64 * 1024;

/** Reads at most `limit` bytes of a body as text, discarding the rest. */
async function readText(body: Dispatcher.ResponseData["body"], limit = MAX_ERROR_BODY): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body) {
    const buf = chunk as Buffer;
    if (size < limit) chunks.push(buf.subarray(0, limit - size));
    size += buf.length;
  }
  return Buffer.concat(chunks).toString("utf8");
}

/** A connected, version-negotiated Docker Engine API client. */
export class EngineClient {
  private constructor(
    readonly endpoint: DaemonEndpoint,
    private readonly pool: Pool,
    private readonly reserve: SocketReserve | undefined,
    /** The Engine API version used in request paths. */
    readonly apiVersion: string,
    /** The daemon's `/_ping` answer. */
    readonly ping: PingInfo,
    /** What kind of daemon answers (decides which layers a load may leave out). */
    readonly kind: DaemonKind,
  ) {}

  /**
   * Connects to the daemon at DOCKER_HOST (default `unix:///var/run/docker.sock`) and negotiates
   * the API version from `GET /_ping`'s `API-Version` header, as Docker's clients do
   * (DOCKER_API_VERSION pins it; podman 4.3 takes half a second to answer `/version`, which gathers
   * runtime details, and milliseconds to answer `/_ping`). Rejects with a DockerHostError for a bad
   * DOCKER_HOST and a DaemonError when nothing answers.
   */
  static async connect(options: EngineClientOptions = {}): Promise<EngineClient> {
    const env = options.env ?? process.env;
    const endpoint = parseDockerHost(env.DOCKER_HOST);
    if ((env.DOCKER_TLS_VERIFY ?? "") !== "") {
      throw new DockerHostError(`DOCKER_TLS_VERIFY is set, but TLS connections to the Docker daemon at ${endpoint.display} are not supported`);
    }
    const pinned = (env.DOCKER_API_VERSION ?? "").trim().replace(/^v/, "");
    if (pinned !== "" && !isApiVersion(pinned)) throw new DockerHostError(`invalid DOCKER_API_VERSION '${env.DOCKER_API_VERSION ?? ""}': expected a version like 1.41`);

    const common = {
      connections: options.connections ?? 4,
      keepAliveTimeout: KEEP_ALIVE_MS,
      keepAliveMaxTimeout: KEEP_ALIVE_MS,
      pipelining: 1,
    };
    let pool: Pool;
    let reserve: SocketReserve | undefined;
    if (endpoint.kind === "unix") {
      reserve = await SocketReserve.open(endpoint.socketPath, endpoint.display, options.preopen ?? 8);
      pool = new Pool(SOCKET_ORIGIN, { ...common, connect: reserve.connector() });
    } else {
      pool = new Pool(`http://${endpoint.host.includes(":") && !endpoint.host.startsWith("[") ? `[${endpoint.host}]` : endpoint.host}:${endpoint.port}`, {
        ...common,
        connect: { timeout: 10_000 },
      });
    }
    try {
      const ping = await EngineClient.fetchPing(pool, endpoint);
      const apiVersion = pinned !== "" ? pinned : negotiateApiVersion(ping.apiVersion);
      const probe = new EngineClient(endpoint, pool, reserve, apiVersion, ping, "docker");
      const info = daemonKind(ping, undefined) === "podman" ? undefined : await probe.getJson("/info", InfoSchema, "reading daemon info");
      return new EngineClient(endpoint, pool, reserve, apiVersion, ping, daemonKind(ping, info));
    } catch (err) {
      reserve?.close();
      await pool.destroy().catch(() => undefined);
      throw err;
    }
  }

  private static async fetchPing(pool: Pool, endpoint: DaemonEndpoint): Promise<PingInfo> {
    const what = "pinging the daemon";
    let res: Dispatcher.ResponseData;
    try {
      res = await pool.request({ method: "GET", path: "/_ping", headersTimeout: 30_000, bodyTimeout: 30_000 });
    } catch (err) {
      throw transportError(err, what, endpoint);
    }
    const text = await readText(res.body);
    const header = (name: string): string | undefined => {
      const value = res.headers[name];
      return (Array.isArray(value) ? value[0] : value) || undefined;
    };
    const ping: PingInfo = { apiVersion: header("api-version"), server: header("server"), libpodApiVersion: header("libpod-api-version") };
    if (res.statusCode !== 200) throw new DaemonError("refused", `${what} at ${endpoint.display}: HTTP ${res.statusCode} ${errorText(text)}`, res.statusCode);
    // Docker and podman answer "OK" with an API-Version header; anything else is not a Docker daemon
    if (ping.apiVersion === undefined && text.trim() !== "OK") {
      throw new DaemonError("invalid-response", `${what} at ${endpoint.display}: the answer is not a Docker daemon's (no API-Version header, body ${JSON.stringify(text.slice(0, 40))})`);
    }
    return ping;
  }

  /** Pre-opened connections not used yet (unix sockets). */
  get reservedConnections(): number {
    return this.reserve?.available ?? 0;
  }

  /** Sends a request; rejects only when the daemon cannot be reached (any HTTP status is returned). */
  async request(req: EngineRequest): Promise<Dispatcher.ResponseData> {
    const query = req.query && Object.keys(req.query).length > 0 ? `?${new URLSearchParams(req.query).toString()}` : "";
    try {
      return await this.pool.request({
        method: req.method,
        path: `/v${this.apiVersion}${req.path}${query}`,
        body: req.body,
        headers: req.headers,
        headersTimeout: req.headersTimeout ?? 60_000,
        bodyTimeout: req.bodyTimeout ?? 300_000,
        signal: req.signal,
      });
    } catch (err) {
      throw transportError(err, req.what, this.endpoint);
    }
  }

  /** GETs JSON and parses it; 404 is a "not-found" DaemonError, any other error status "refused". */
  async getJson<S extends z.ZodType>(path: string, schema: S, what: string): Promise<z.infer<S>> {
    const res = await this.request({ method: "GET", path, what });
    if (res.statusCode !== 200) throw await this.failure(res, what);
    let text: string;
    try {
      text = await readText(res.body, 64 * 1024 * 1024);
    } catch (err) {
      throw transportError(err, what, this.endpoint);
    }
    return parseBody(schema, text, what);
  }

  /** The DaemonError for an error answer (reads the daemon's message from the body). */
  async failure(res: Dispatcher.ResponseData, what: string): Promise<DaemonError> {
    const text = await readText(res.body).catch(() => "");
    const code = res.statusCode === 404 ? "not-found" : "refused";
    return new DaemonError(code, `${what}: ${errorText(text) || `HTTP ${res.statusCode}`}`, res.statusCode);
  }

  /** Closes every connection. */
  async close(): Promise<void> {
    this.reserve?.close();
    await this.pool.close().catch(() => undefined);
  }
}

/** The daemon's message from an error body (`{"message": …}`), else the text itself. */
function errorText(text: string): string {
  try {
    const parsed = ErrorBodySchema.safeParse(JSON.parse(text));
    if (parsed.success) return parsed.data.message;
  } catch {
    // not JSON
  }
  return text.trim();
}

function parseBody<S extends z.ZodType>(schema: S, text: string, what: string): z.infer<S> {
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    throw new DaemonError("invalid-response", `${what}: the daemon's answer is not JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new DaemonError("invalid-response", `${what}: unexpected answer at ${issue?.path.join(".") || "(root)"}: ${issue?.message ?? "invalid"}`);
  }
  return parsed.data;
}

/** A failure to reach the daemon as a DaemonError naming the operation and the daemon. */
export function transportError(err: unknown, what: string, endpoint: DaemonEndpoint): DaemonError {
  if (isDaemonError(err)) {
    return err.message.startsWith(what) ? err : new DaemonError(err.code, `${what}: ${err.message}`, err.status, { cause: err });
  }
  const code = (err as { code?: unknown } | null)?.code;
  const message = err instanceof Error ? err.message : String(err);
  if (code === "ECONNREFUSED") return new DaemonError("unreachable", `${what}: cannot connect to the Docker daemon at ${endpoint.display}: connection refused`, undefined, { cause: err });
  if (code === "UND_ERR_ABORTED" || (err instanceof Error && err.name === "AbortError")) {
    return new DaemonError("unreachable", `${what}: aborted: ${message}`, undefined, { cause: err });
  }
  return new DaemonError("unreachable", `${what}: the connection to the Docker daemon at ${endpoint.display} failed: ${message}`, undefined, { cause: err });
}
