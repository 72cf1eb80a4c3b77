/** One authentication challenge from a `WWW-Authenticate` header. */
export interface Challenge {
  /** Lower-case scheme: `basic`, `bearer`, ... */
  readonly scheme: string;
  /** Lower-case parameter names (`realm`, `service`, `scope`, `error`). */
  readonly params: Readonly<Record<string, string>>;
}

/**
 * Parses `WWW-Authenticate` values (RFC 7235): several challenges per header, quoted strings with
 * escapes, comma-separated parameters.
 */
export function parseChallenges(values: readonly string[]): Challenge[] {
  const out: Challenge[] = [];
  for (const value of values) {
    let i = 0;
    const s = value;
    let current: { scheme: string; params: Record<string, string> } | undefined;
    const skipWs = () => {
      while (i < s.length && (s[i] === " " || s[i] === "\t")) i++;
    };
    const token = () => {
      const start = i;
      while (i < s.length && /[!#$%&'*+\-.^_`|~0-9A-Za-z]/.test(s[i] ?? "")) i++;
      return s.slice(start, i);
    };
    while (i < s.length) {
      skipWs();
      if (s[i] === ",") {
        i++;
        continue;
      }
      const word = token();
      if (word === "") {
        i++;
        continue;
      }
      skipWs();
      if (s[i] === "=") {
        // a parameter of the current challenge
        i++;
        skipWs();
        let val = "";
        if (s[i] === '"') {
          i++;
          while (i < s.length && s[i] !== '"') {
            if (s[i] === "\\" && i + 1 < s.length) i++;
            val += s[i];
            i++;
          }
          i++;
        } else {
          val = token();
        }
        if (current) current.params[word.toLowerCase()] = val;
      } else {
        current = { scheme: word.toLowerCase(), params: {} };
        out.push(current);
      }
    }
  }
  return out;
}

/** The challenge we act on: bearer preferred over basic (ggcr prefers them among several). */
export function pickChallenge(challenges: readonly Challenge[]): Challenge | undefined {
  return challenges.find((c) => c.scheme === "bearer") ?? challenges.find((c) => c.scheme === "basic");
}
