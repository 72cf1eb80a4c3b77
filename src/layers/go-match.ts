// Go's `path/filepath.Match` (Unix flavour, current semantics: the whole pattern is validated).

/** Go `filepath.ErrBadPattern`. */
export class BadPatternError extends Error {
  readonly code = "BAD_PATTERN";

  constructor() {
    super("syntax error in pattern");
    this.name = "BadPatternError";
  }
}

/** Whether `p` contains a character Match treats specially (`*?[\`). */
export function hasMeta(p: string): boolean {
  return /[*?[\\]/.test(p);
}

function width(s: string, i: number): number {
  return (s.codePointAt(i) ?? 0) > 0xffff ? 2 : 1;
}

/** Next star flag, non-star chunk and rest of the pattern (Go `scanChunk`). */
function scanChunk(pattern: string): { star: boolean; chunk: string; rest: string } {
  let p = 0;
  while (p < pattern.length && pattern[p] === "*") p++;
  const rest = pattern.slice(p);
  let inRange = false;
  let i = 0;
  for (; i < rest.length; i++) {
    const c = rest[i];
    if (c === "\\") {
      if (i + 1 < rest.length) i++;
    } else if (c === "[") inRange = true;
    else if (c === "]") inRange = false;
    else if (c === "*" && !inRange) break;
  }
  return { star: p > 0, chunk: rest.slice(0, i), rest: rest.slice(i) };
}

/** A possibly escaped character of a class and the index after it (Go `getEsc`). */
function getEsc(chunk: string, i: number): { r: number; next: number } {
  if (i >= chunk.length || chunk[i] === "-" || chunk[i] === "]") throw new BadPatternError();
  if (chunk[i] === "\\") {
    i++;
    if (i >= chunk.length) throw new BadPatternError();
  }
  const r = chunk.codePointAt(i)!;
  const next = i + width(chunk, i);
  if (next >= chunk.length) throw new BadPatternError();
  return { r, next };
}

/**
 * Matches `chunk` (no stars) against the start of `s`; returns the rest of `s` or undefined.
 * After a mismatch it keeps parsing the chunk so malformed patterns always throw (Go `matchChunk`).
 */
function matchChunk(chunk: string, s: string): string | undefined {
  let failed = false;
  let i = 0;
  let c = 0;
  while (c < chunk.length) {
    if (!failed && i >= s.length) failed = true;
    const ch = chunk[c];
    if (ch === "[") {
      let r = 0;
      if (!failed) {
        r = s.codePointAt(i)!;
        i += width(s, i);
      }
      c++;
      const negated = c < chunk.length && chunk[c] === "^";
      if (negated) c++;
      let match = false;
      for (let n = 0; ; n++) {
        if (c < chunk.length && chunk[c] === "]" && n > 0) {
          c++;
          break;
        }
        const lo = getEsc(chunk, c);
        let hi = lo.r;
        c = lo.next;
        if (chunk[c] === "-") {
          const h = getEsc(chunk, c + 1);
          hi = h.r;
          c = h.next;
        }
        if (lo.r <= r && r <= hi) match = true;
      }
      if (match === negated) failed = true;
    } else if (ch === "?") {
      if (!failed) {
        if (s[i] === "/") failed = true;
        i += width(s, i);
      }
      c++;
    } else {
      if (ch === "\\") {
        c++;
        if (c >= chunk.length) throw new BadPatternError();
      }
      if (!failed) {
        if (chunk[c] !== s[i]) failed = true;
        i++;
      }
      c++;
    }
  }
  return failed ? undefined : s.slice(i);
}

/**
 * Go `filepath.Match`: `*` (any run of non-`/`), `?` (one non-`/` character), `[...]`/`[^...]`
 * classes with ranges, `\` escapes. Throws {@link BadPatternError} for malformed patterns.
 */
export function goMatch(pattern: string, name: string): boolean {
  let pat = pattern;
  let rest = name;
  outer: while (pat.length > 0) {
    const { star, chunk, rest: after } = scanChunk(pat);
    pat = after;
    if (star && chunk === "") return !rest.includes("/");
    const t = matchChunk(chunk, rest);
    if (t !== undefined && (t.length === 0 || pat.length > 0)) {
      rest = t;
      continue;
    }
    if (star) {
      for (let i = 0; i < rest.length && rest[i] !== "/"; i++) {
        const u = matchChunk(chunk, rest.slice(i + 1));
        if (u !== undefined) {
          if (pat.length === 0 && u.length > 0) continue;
          rest = u;
          continue outer;
        }
      }
    }
    // Before answering "no", make sure the rest of the pattern is well formed.
    while (pat.length > 0) {
      const scan = scanChunk(pat);
      pat = scan.rest;
      matchChunk(scan.chunk, "");
    }
    return false;
  }
  return rest.length === 0;
}
