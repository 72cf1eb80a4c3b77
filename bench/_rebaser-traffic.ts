// Classifies the fault proxy's request log of one measured command: requests by method and kind,
// request body bytes split into layer bytes and config/manifest bytes, and per repository / per
// tag how blobs and manifests reached the registry.
import type { ProxyRequestRecord } from "../test/harness/proxy/request-log.js";

/** What a request addresses. */
export type RequestKind = "manifests" | "blobs" | "uploads" | "other";

/** How the blobs of one repository got there. */
export interface RepoTraffic {
  /** Completed upload sessions of blobs that are not layers (the config). */
  configUploads: number;
  /** Completed upload sessions of layer blobs (or unfinished sessions, whose digest is unknown). */
  layerUploads: number;
  /** Cross-repository mounts answered 201. */
  mounts: number;
  /** Blob HEADs answered 200 (blob already there, not sent). */
  headHits: number;
  /** Request body bytes of layer upload sessions. */
  layerBytes: number;
}

/** The classified traffic of one command. */
export interface Traffic {
  readonly requests: number;
  readonly byMethod: Record<string, number>;
  readonly byKind: Record<RequestKind, number>;
  /** Sum of request bodies. */
  readonly bytes: number;
  /** Request body bytes of layer upload sessions (PATCH/PUT). */
  readonly layerBytes: number;
  /** Request body bytes of config upload sessions and manifest PUTs. */
  readonly configManifestBytes: number;
  readonly repos: ReadonlyMap<string, RepoTraffic>;
  /** Manifest PUTs keyed by `repo:tag` (or `repo@digest`). */
  readonly manifestPuts: ReadonlyMap<string, number>;
}

interface Target {
  readonly repo: string;
  readonly kind: RequestKind;
  /** Tag/digest of a manifest, digest of a blob, session id of an upload ("" for POST). */
  readonly rest: string;
}

/** Splits `/v2/<repo>/(manifests|blobs)/<rest>`. */
export function parseTarget(path: string): Target {
  const m = /^\/v2\/(.+?)\/(manifests|blobs)\/(.*)$/.exec(path);
  if (!m) return { repo: "", kind: "other", rest: "" };
  const [, repo = "", what = "", rest = ""] = m;
  if (what === "blobs" && rest.startsWith("uploads/")) return { repo, kind: "uploads", rest: rest.slice("uploads/".length) };
  return { repo, kind: what === "manifests" ? "manifests" : "blobs", rest };
}

function repoEntry(repos: Map<string, RepoTraffic>, repo: string): RepoTraffic {
  let entry = repos.get(repo);
  if (!entry) {
    entry = { configUploads: 0, layerUploads: 0, mounts: 0, headHits: 0, layerBytes: 0 };
    repos.set(repo, entry);
  }
  return entry;
}

/** Classifies a request log; `layerDigests` are the blob digests of every layer involved. */
export function classify(records: readonly ProxyRequestRecord[], layerDigests: ReadonlySet<string>): Traffic {
  const byMethod: Record<string, number> = {};
  const byKind: Record<RequestKind, number> = { manifests: 0, blobs: 0, uploads: 0, other: 0 };
  const repos = new Map<string, RepoTraffic>();
  const manifestPuts = new Map<string, number>();
  /** Upload sessions (`repo/uploads/<id>`): body bytes and, once finished, the blob digest. */
  const sessions = new Map<string, { repo: string; bytes: number; digest?: string }>();
  let bytes = 0;
  let configManifestBytes = 0;
  for (const r of records) {
    byMethod[r.method] = (byMethod[r.method] ?? 0) + 1;
    bytes += r.requestBytes;
    const t = parseTarget(r.path);
    byKind[t.kind]++;
    if (t.kind === "manifests" && r.method === "PUT") {
      const key = t.rest.startsWith("sha256:") ? `${t.repo}@${t.rest}` : `${t.repo}:${t.rest}`;
      manifestPuts.set(key, (manifestPuts.get(key) ?? 0) + 1);
      configManifestBytes += r.requestBytes;
    } else if (t.kind === "blobs" && r.method === "HEAD" && r.status === 200) {
      repoEntry(repos, t.repo).headHits++;
    } else if (t.kind === "uploads" && r.method === "POST") {
      if (new URLSearchParams(r.query).has("mount") && r.status === 201) repoEntry(repos, t.repo).mounts++;
    } else if (t.kind === "uploads" && (r.method === "PATCH" || r.method === "PUT")) {
      const key = `${t.repo}/uploads/${t.rest}`;
      const session = sessions.get(key) ?? { repo: t.repo, bytes: 0 };
      session.bytes += r.requestBytes;
      const digest = new URLSearchParams(r.query).get("digest");
      if (r.method === "PUT" && digest && r.status === 201) session.digest = digest;
      sessions.set(key, session);
    }
  }
  let layerBytes = 0;
  for (const s of sessions.values()) {
    const entry = repoEntry(repos, s.repo);
    if (s.digest !== undefined && !layerDigests.has(s.digest)) {
      entry.configUploads++;
      configManifestBytes += s.bytes;
    } else {
      entry.layerUploads++;
      entry.layerBytes += s.bytes;
      layerBytes += s.bytes;
    }
  }
  const requests = records.length;
  return { requests, byMethod, byKind, bytes, layerBytes, configManifestBytes, repos, manifestPuts };
}

/** One line per request, for explaining a missed target. */
export function describeRequests(records: readonly ProxyRequestRecord[]): string[] {
  return records.map((r) => {
    const params = new URLSearchParams(r.query);
    const shown = ["digest", "mount", "from"].filter((k) => params.has(k)).map((k) => `${k}=${params.get(k) ?? ""}`);
    const query = shown.length > 0 ? `?${shown.join("&")}` : "";
    const path = r.path.replace(/(\/uploads\/)([0-9a-f-]{36})/, (_, p: string, id: string) => `${p}${id.slice(0, 8)}…`);
    return `#${String(r.seq).padStart(3)} ${r.method.padEnd(5)} ${path}${query} → ${r.status}${r.requestBytes > 0 ? ` (${r.requestBytes} B body)` : ""}`;
  });
}
