import { createServer, type IncomingMessage, type OutgoingHttpHeaders, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { createHash } from "node:crypto";
import { pipeline } from "node:stream";
import type { Credentials, RegistryEndpoint } from "../registry/registry-kind.js";
import { echoedAuthorizationBody, registryErrorBody, type Fault } from "./faults.js";
import { RuleSet, type FaultRule, type FaultRuleSpec, type RuleState } from "./fault-rules.js";
import { startRedirectListener, type RedirectListener } from "./redirect-listener.js";
import { throttleStream } from "./throttle.js";
import { RequestLog, type ProxyRequestRecord, type RequestFilter } from "./request-log.js";
import { callUpstream, clientResponseHeaders, createUpstream, upstreamRequestHeaders } from "./upstream.js";

/** How to start a fault proxy. */
export interface FaultProxyOptions {
  /** The registry to forward to; a RegistryHandle fits. Its credentials are passed on to clients. */
  upstream: { url: string; caPem?: string; credentials?: Credentials };
  /** Host name in redirect Locations (default "localhost", unlike the proxy's 127.0.0.1). */
  redirectHostName?: string;
}

/** A plain-HTTP proxy in front of a registry that injects faults by rule and counts requests. */
export interface FaultProxy extends RegistryEndpoint {
  /** `http://127.0.0.1:PORT` */
  readonly url: string;
  readonly scheme: "http";
  readonly upstreamUrl: string;
  /** The other-host listener that redirected blob GETs land on. */
  readonly redirects: RedirectListener;
  /** Installs a rule (evaluated after the rules added before it). */
  addRule(spec: FaultRuleSpec): FaultRule;
  clearRules(): void;
  rules(): readonly FaultRule[];
  /** Requests seen since the last reset, optionally filtered. */
  requests(filter?: RequestFilter): ProxyRequestRecord[];
  count(filter?: RequestFilter): number;
  /** Request counts keyed by `"METHOD /path"`. */
  counts(): Record<string, number>;
  /** Forgets recorded requests (proxy and redirect listener) and zeroes rule counters. */
  resetCounters(): void;
  stop(): Promise<void>;
}

type ImmediateFault = Extract<Fault, { kind: "respond" | "echo-authorization" | "drop" | "stall" }>;
type ForwardingFault = Exclude<Fault, ImmediateFault | { kind: "throttle" }>;

function isImmediate(fault: Fault): fault is ImmediateFault {
  return fault.kind === "respond" || fault.kind === "echo-authorization" || fault.kind === "drop" || fault.kind === "stall";
}

function sendBody(res: ServerResponse, record: ProxyRequestRecord, status: number, headers: OutgoingHttpHeaders, body: string | Buffer): void {
  record.status = status;
  res.writeHead(status, { ...headers, "content-length": Buffer.byteLength(body) });
  res.end(body);
}

/** Starts a fault proxy on 127.0.0.1:0 in front of `options.upstream`. */
export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const upstream = createUpstream(options.upstream.url, options.upstream.caPem);
  const redirects = await startRedirectListener(upstream, options.redirectHostName);
  const rules = new RuleSet();
  const log = new RequestLog();
  let origin = "";

  const server = createServer((req, res) => {
    const method = req.method ?? "GET";
    const url = new URL(req.url ?? "/", "http://proxy.invalid");
    const record = log.add(method, url.pathname, url.search, req.headers.authorization !== undefined);
    req.on("data", (chunk: Buffer) => {
      record.requestBytes += chunk.length;
    });
    const rule = rules.reserve(method, url.pathname, url.search);
    const fault = rule?.spec.fault;
    if (rule && fault && isImmediate(fault)) {
      answerImmediately(req, res, record, rule, fault);
      return;
    }
    const throttle = fault?.kind === "throttle" ? fault : undefined;
    const forwardingFault = fault && !isImmediate(fault) && fault.kind !== "throttle" ? fault : undefined;
    if (rule && throttle) {
      // a slow link applies to every request it matches, whatever the answer
      rules.apply(rule);
      record.fault = rule.name;
    }
    const pathAndQuery = url.pathname + url.search;
    const call = callUpstream(upstream, method, pathAndQuery, upstreamRequestHeaders(req.headers, upstream));
    if (throttle && throttle.direction !== "response") pipeline(req, throttleStream(throttle.bytesPerSecond), call.request, () => undefined);
    else req.pipe(call.request);
    res.once("close", () => {
      if (!res.writableFinished) call.abort();
    });
    call.response.then(
      (upRes) => {
        const status = upRes.statusCode ?? 502;
        if (rule && forwardingFault && status >= 200 && status < 300) {
          applyForwardingFault({ req, res, upRes, record, rule, fault: forwardingFault, pathAndQuery });
        } else {
          if (rule && !throttle) rules.release(rule);
          passThrough(res, upRes, record, throttle && throttle.direction !== "request" ? throttle.bytesPerSecond : undefined);
        }
      },
      (error: unknown) => {
        if (rule && !throttle) rules.release(rule);
        if (res.headersSent) res.destroy();
        else sendBody(res, record, 502, { "content-type": "application/json" }, registryErrorBody("UNAVAILABLE", `proxy upstream error: ${String(error)}`));
      },
    );
  });

  /** Faults applied without asking the registry, once the whole request body has been read. */
  function answerImmediately(req: IncomingMessage, res: ServerResponse, record: ProxyRequestRecord, rule: RuleState, fault: ImmediateFault): void {
    // Read the whole request body first so the client is not cut off while uploading.
    let done = false;
    const applied = (): void => {
      done = true;
      rules.apply(rule);
      record.fault = rule.name;
    };
    req.once("end", () => {
      if (fault.kind === "stall") return;
      applied();
      if (fault.kind === "respond") sendBody(res, record, fault.status, fault.headers, fault.body);
      else if (fault.kind === "echo-authorization") {
        const type = fault.format === "text" ? "text/plain; charset=utf-8" : "application/json; charset=utf-8";
        sendBody(res, record, fault.status, { "content-type": type }, echoedAuthorizationBody(req.headers.authorization, fault.format));
      } else if (fault.rst) req.socket.resetAndDestroy();
      else req.socket.destroy();
    });
    res.once("close", () => {
      if (done) return;
      // a stalled request is applied when the client gives up; any other fault was not applied
      if (fault.kind === "stall" && req.readableEnded) applied();
      else rules.release(rule);
    });
  }

  function passThrough(res: ServerResponse, upRes: IncomingMessage, record: ProxyRequestRecord, bytesPerSecond?: number): void {
    record.status = upRes.statusCode ?? 502;
    res.writeHead(record.status, clientResponseHeaders(upRes.headers, upstream, origin));
    // pipeline: an upstream failure mid-body drops the client connection instead of hanging it.
    if (bytesPerSecond !== undefined) pipeline(upRes, throttleStream(bytesPerSecond), res, () => undefined);
    else pipeline(upRes, res, () => undefined);
  }

  interface FaultContext {
    req: IncomingMessage;
    res: ServerResponse;
    upRes: IncomingMessage;
    record: ProxyRequestRecord;
    rule: RuleState;
    fault: ForwardingFault;
    pathAndQuery: string;
  }

  function applyForwardingFault(ctx: FaultContext): void {
    const { req, res, upRes, record, rule, fault } = ctx;
    if (fault.kind === "reset-mid-body") {
      rules.apply(rule);
      record.fault = rule.name;
      resetMidBody(res, upRes, record, fault.bytes, fault.rst === true);
    } else if (fault.kind === "redirect-other-host") {
      rules.apply(rule);
      record.fault = rule.name;
      upRes.destroy();
      const location = redirects.issue(ctx.pathAndQuery, req.headers.authorization);
      sendBody(res, record, 307, { location }, "");
    } else {
      serveWithoutLayers(ctx);
    }
  }

  function resetMidBody(res: ServerResponse, upRes: IncomingMessage, record: ProxyRequestRecord, bytes: number | undefined, rst: boolean): void {
    const total = Number(upRes.headers["content-length"]);
    let limit = bytes ?? (Number.isFinite(total) ? Math.floor(total / 2) : undefined);
    record.status = upRes.statusCode ?? 502;
    res.writeHead(record.status, clientResponseHeaders(upRes.headers, upstream, origin));
    let sent = 0;
    let cut = false;
    const drop = (): void => {
      if (cut) return;
      cut = true;
      upRes.destroy();
      const socket = res.socket;
      if (!socket) return;
      if (rst) socket.resetAndDestroy();
      else socket.destroy();
    };
    const writeAndDrop = (chunk: Buffer): void => {
      upRes.pause();
      res.write(chunk, () => drop());
      if (chunk.length === 0) res.flushHeaders();
      // An empty write may not call back; make sure the socket is dropped anyway.
      setTimeout(drop, 50).unref();
    };
    upRes.on("data", (chunk: Buffer) => {
      if (cut) return;
      limit ??= Math.floor(chunk.length / 2);
      const room = limit - sent;
      if (room > chunk.length) {
        sent += chunk.length;
        res.write(chunk);
      } else {
        sent += room;
        writeAndDrop(chunk.subarray(0, room));
      }
    });
    upRes.once("end", () => writeAndDrop(Buffer.alloc(0)));
  }

  function serveWithoutLayers(ctx: FaultContext): void {
    const { res, upRes, record, rule } = ctx;
    if (ctx.req.method !== "GET" || !/json/.test(upRes.headers["content-type"] ?? "")) {
      rules.release(rule);
      passThrough(res, upRes, record);
      return;
    }
    const chunks: Buffer[] = [];
    upRes.on("data", (chunk: Buffer) => chunks.push(chunk));
    upRes.once("error", () => {
      rules.release(rule);
      res.destroy();
    });
    upRes.once("end", () => {
      const original = Buffer.concat(chunks);
      const headers = clientResponseHeaders(upRes.headers, upstream, origin);
      const manifest = parseObject(original);
      if (!manifest || !Array.isArray(manifest.layers)) {
        rules.release(rule);
        sendBody(res, record, upRes.statusCode ?? 200, headers, original);
        return;
      }
      rules.apply(rule);
      record.fault = rule.name;
      const body = Buffer.from(JSON.stringify({ ...manifest, layers: [] }));
      const digest = `sha256:${createHash("sha256").update(body).digest("hex")}`;
      sendBody(res, record, upRes.statusCode ?? 200, { ...headers, "docker-content-digest": digest, etag: `"${digest}"` }, body);
    });
  }

  await new Promise<void>((resolve, reject) => {
    server.once("error", reject);
    server.listen(0, "127.0.0.1", resolve);
  });
  const host = `127.0.0.1:${(server.address() as AddressInfo).port}`;
  origin = `http://${host}`;

  return {
    host,
    url: origin,
    scheme: "http",
    credentials: options.upstream.credentials,
    upstreamUrl: upstream.url.origin,
    redirects,
    addRule: (spec) => rules.add(spec),
    clearRules: () => rules.clear(),
    rules: () => rules.all(),
    requests: (filter) => log.list(filter),
    count: (filter) => log.list(filter).length,
    counts: () => log.counts(),
    resetCounters() {
      log.clear();
      rules.resetCounts();
      redirects.clear();
    },
    async stop() {
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
      upstream.agent.destroy();
      await redirects.stop();
    },
  };
}

function parseObject(body: Buffer): Record<string, unknown> | undefined {
  try {
    const value: unknown = JSON.parse(body.toString("utf8"));
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
