/** One request the proxy received. */
export interface ProxyRequestRecord {
  /** 1-based order of arrival. */
  readonly seq: number;
  readonly method: string;
  /** Path without the query string. */
  readonly path: string;
  /** Query string including `?`, or "". */
  readonly query: string;
  /** Whether the client sent an Authorization header. */
  readonly authorization: boolean;
  /** Request body bytes received from the client so far. */
  requestBytes: number;
  /** Status sent to the client (0 until the headers are sent). */
  status: number;
  /** Name of the rule whose fault was applied, if any. */
  fault?: string;
}

/** Which requests to count; omitted fields match everything. */
export interface RequestFilter {
  method?: string;
  /** A RegExp tested against the path, or an exact path. */
  path?: RegExp | string;
}

/** The proxy's record of every request, in arrival order. */
export class RequestLog {
  private records: ProxyRequestRecord[] = [];
  private seq = 0;

  /** Appends a record for a new request and returns it for later updates. */
  add(method: string, path: string, query: string, authorization: boolean): ProxyRequestRecord {
    const record: ProxyRequestRecord = { seq: ++this.seq, method, path, query, authorization, requestBytes: 0, status: 0 };
    this.records.push(record);
    return record;
  }

  /** Records matching `filter` (all when omitted). */
  list(filter: RequestFilter = {}): ProxyRequestRecord[] {
    return this.records.filter((r) => {
      if (filter.method !== undefined && r.method !== filter.method) return false;
      if (filter.path === undefined) return true;
      if (typeof filter.path === "string") return r.path === filter.path;
      filter.path.lastIndex = 0;
      return filter.path.test(r.path);
    });
  }

  /** Request counts keyed by `"METHOD /path"`. */
  counts(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const r of this.records) {
      const key = `${r.method} ${r.path}`;
      out[key] = (out[key] ?? 0) + 1;
    }
    return out;
  }

  /** Forgets every record. */
  clear(): void {
    this.records = [];
  }
}
