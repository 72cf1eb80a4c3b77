// A JSON writer that reproduces Go's encoding/json output byte for byte: compact, struct fields in
// declaration order, map keys sorted, HTML-sensitive characters escaped.

/** A Go map: serialised with its keys sorted (values are written as given). */
export class GoMap {
  constructor(readonly entries: Readonly<Record<string, GoJsonValue>>) {}
}

/** Arbitrary decoded data (Go `interface{}`): every object inside is a Go map, so all keys are sorted. */
export class GoAny {
  constructor(readonly value: unknown) {}
}

/** A Go struct: fields are written in insertion order; `undefined` fields are omitted (`omitempty`). */
export interface GoStruct {
  readonly [field: string]: GoJsonValue | undefined;
}

/** A value the Go JSON writer can serialise. */
export type GoJsonValue = null | boolean | number | string | readonly GoJsonValue[] | GoMap | GoAny | GoStruct;

/** Serialises `value` exactly as Go's `json.Marshal` would for the equivalent Go value. */
export function goJsonMarshal(value: GoJsonValue): string {
  const out: string[] = [];
  writeValue(value, out);
  return out.join("");
}

/** A JSON string literal escaped like Go (`<`, `>`, `&`, U+2028, U+2029 as `\uXXXX`). */
export function goJsonString(s: string): string {
  let res = '"';
  let start = 0;
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    let esc: string | undefined;
    if (c < 0x20 || c === 0x22 || c === 0x5c || c === 0x3c || c === 0x3e || c === 0x26) {
      esc = SHORT_ESCAPES[c] ?? `\\u${c.toString(16).padStart(4, "0")}`;
    } else if (c === 0x2028 || c === 0x2029) {
      esc = `\\u${c.toString(16)}`;
    } else if (c >= 0xd800 && c <= 0xdfff) {
      const next = s.charCodeAt(i + 1);
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        i++; // a valid surrogate pair is written as is
        continue;
      }
      esc = "\\ufffd"; // Go writes invalid UTF-8 as the escape `\ufffd`
    }
    if (esc !== undefined) {
      res += s.slice(start, i) + esc;
      start = i + 1;
    }
  }
  return `${res}${s.slice(start)}"`;
}

const SHORT_ESCAPES: Record<number, string> = {
  0x08: "\\b",
  0x09: "\\t",
  0x0a: "\\n",
  0x0c: "\\f",
  0x0d: "\\r",
  0x22: '\\"',
  0x5c: "\\\\",
};

/** Compares strings by code point, which is the byte order of their UTF-8 encodings (Go's sort). */
export function compareGoStrings(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const ca = a.codePointAt(i) ?? 0;
    const cb = b.codePointAt(i) ?? 0;
    if (ca !== cb) return ca - cb;
    if (ca > 0xffff) i++;
  }
  return a.length - b.length;
}

function writeNumber(n: number, out: string[]): void {
  if (!Number.isFinite(n)) throw new Error(`json: unsupported value: ${n}`);
  // JavaScript switches to exponent notation at the same thresholds as Go (1e21, 1e-6) and
  // prints exponents without leading zeros, as Go does after its clean-up.
  out.push(Object.is(n, -0) ? "-0" : String(n));
}

function writeValue(value: GoJsonValue, out: string[]): void {
  if (value === null) {
    out.push("null");
  } else if (typeof value === "boolean") {
    out.push(value ? "true" : "false");
  } else if (typeof value === "number") {
    writeNumber(value, out);
  } else if (typeof value === "string") {
    out.push(goJsonString(value));
  } else if (Array.isArray(value)) {
    writeArray(value as readonly GoJsonValue[], out, writeValue);
  } else if (value instanceof GoMap) {
    writeObject(sortedEntries(value.entries), out, writeValue);
  } else if (value instanceof GoAny) {
    writeAny(value.value, out);
  } else {
    const entries = Object.entries(value as GoStruct).filter(
      (e): e is [string, GoJsonValue] => e[1] !== undefined,
    );
    writeObject(entries, out, writeValue);
  }
}

function writeAny(value: unknown, out: string[]): void {
  if (value === null || value === undefined) {
    out.push("null");
  } else if (typeof value === "boolean" || typeof value === "number" || typeof value === "string") {
    writeValue(value, out);
  } else if (typeof value === "bigint") {
    out.push(value.toString());
  } else if (value instanceof Date) {
    out.push(goJsonString(dateToRfc3339(value)));
  } else if (Array.isArray(value)) {
    writeArray(value as unknown[], out, writeAny);
  } else if (value instanceof GoMap || value instanceof GoAny) {
    writeValue(value, out);
  } else if (value instanceof Map) {
    const entries = [...(value as Map<unknown, unknown>)].map(([k, v]) => [String(k), v] as [string, unknown]);
    writeObject(entries.sort((a, b) => compareGoStrings(a[0], b[0])), out, writeAny);
  } else if (typeof value === "object") {
    writeObject(sortedEntries(value as Record<string, unknown>), out, writeAny);
  } else {
    throw new Error(`json: unsupported type: ${typeof value}`);
  }
}

/** Go's `time.Time` JSON form (RFC 3339 with trailing zero fractions dropped); TOML dates keep their text. */
function dateToRfc3339(d: Date): string {
  const iso = d.toISOString();
  if (Object.getPrototypeOf(d) !== Date.prototype) return iso; // e.g. smol-toml's TomlDate (local dates/times)
  return iso.replace(/\.(\d*?)0*Z$/, (_m, frac: string) => (frac ? `.${frac}Z` : "Z"));
}

function sortedEntries<T>(obj: Readonly<Record<string, T>>): [string, T][] {
  return Object.entries(obj)
    .filter((e) => e[1] !== undefined)
    .sort((a, b) => compareGoStrings(a[0], b[0]));
}

function writeArray<T>(items: readonly T[], out: string[], write: (v: T, out: string[]) => void): void {
  out.push("[");
  items.forEach((item, i) => {
    if (i > 0) out.push(",");
    write(item, out);
  });
  out.push("]");
}

function writeObject<T>(entries: [string, T][], out: string[], write: (v: T, out: string[]) => void): void {
  out.push("{");
  entries.forEach(([key, val], i) => {
    if (i > 0) out.push(",");
    out.push(goJsonString(key), ":");
    write(val, out);
  });
  out.push("}");
}
