import { createServer, type IncomingHttpHeaders, type OutgoingHttpHeaders } from "node:http";
import type { AddressInfo } from "node:net";
import { randomBytes } from "node:crypto";
import { pipeline } from "node:stream";
import { callUpstream, clientResponseHeaders, type Upstream } from "./upstream.js";

/** One request that reached the redirect target. */
export interface RedirectRequestRecord {
  readonly method: string;
  /** Path and query as requested. */
  readonly url: string;
  readonly headers: IncomingHttpHeaders;
  /** Whether the client sent an Authorization header to this other host. */
  readonly authorization: boolean;
  status: number;
}

/**
 * A second listener reached under a different host name (like a CDN or S3 behind a blob
 * redirect). It serves a redirected blob from the registry with the credentials of the
 * original request, so the client need not (and should not) send its own.
 */
export interface RedirectListener {
  /** `http://<hostName>:<port>` */
  readonly origin: string;
  /** Registers a redirect for the upstream `path`; returns the absolute URL to send as Location. */
  issue(path: string, authorization: string | undefined): string;
  requests(): readonly RedirectRequestRecord[];
  clear(): void;
  stop(): Promise<void>;
}

const FORWARDED = ["accept", "range", "if-match", "if-none-match", "user-agent"];

/** Starts the redirect target on 127.0.0.1, addressed as `hostName` (default "localhost"). */
export async function startRedirectListener(upstream: Upstream, hostName = "localhost"): Promise<RedirectListener> {
  const tickets = new Map<string, { path: string; authorization: string | undefined }>();
  const log: RedirectRequestRecord[] = [];
  let origin = "";

  const server = createServer((req, res) => {
    const record: RedirectRequestRecord = {
      method: req.method ?? "",
      url: req.url ?? "/",
      headers: req.headers,
      authorization: req.headers.authorization !== undefined,
      status: 0,
    };
    log.push(record);
    const ticket = new URL(req.url ?? "/", origin).searchParams.get("ticket") ?? "";
    const target = tickets.get(ticket);
    if (!target || (req.method !== "GET" && req.method !== "HEAD")) {
      record.status = 403;
      res.writeHead(403, { "content-type": "text/plain" }).end("unknown or expired redirect ticket\n");
      return;
    }
    const headers: OutgoingHttpHeaders = { host: upstream.url.host };
    for (const name of FORWARDED) if (req.headers[name] !== undefined) headers[name] = req.headers[name];
    if (target.authorization !== undefined) headers.authorization = target.authorization;
    const call = callUpstream(upstream, req.method, target.path, headers);
    call.request.end();
    res.once("close", () => call.abort());
    call.response.then(
      (upRes) => {
        record.status = upRes.statusCode ?? 502;
        res.writeHead(record.status, clientResponseHeaders(upRes.headers, upstream, origin));
        pipeline(upRes, res, () => undefined);
      },
      (error: unknown) => {
        record.status = 502;
        if (!res.headersSent) res.writeHead(502, { "content-type": "text/plain" });
        res.end(`upstream error: ${String(error)}\n`);
      },
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  origin = `http://${hostName}:${(server.address() as AddressInfo).port}`;

  return {
    origin,
    issue(path, authorization) {
      const ticket = randomBytes(12).toString("hex");
      tickets.set(ticket, { path, authorization });
      const url = new URL(path, origin);
      url.searchParams.set("ticket", ticket);
      return url.toString();
    },
    requests: () => log,
    clear() {
      log.length = 0;
    },
    stop() {
      return new Promise((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
  };
}
