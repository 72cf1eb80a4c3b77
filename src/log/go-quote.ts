// Go's `%q` verb for strings (strconv.Quote): the log lines the Go lifecycle prints with `%q` quote
// their value this way, so a name with a quote, a backslash or a control character reads the same.

const SHORT: Record<number, string> = { 0x07: "\\a", 0x08: "\\b", 0x0c: "\\f", 0x0a: "\\n", 0x0d: "\\r", 0x09: "\\t", 0x0b: "\\v" };

/** `s` in double quotes as Go's `strconv.Quote` writes it. */
export function goQuote(s: string): string {
  let out = '"';
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (ch === '"' || ch === "\\") out += `\\${ch}`;
    else if (SHORT[c] !== undefined) out += SHORT[c];
    else if (c < 0x20 || c === 0x7f) out += `\\x${c.toString(16).padStart(2, "0")}`;
    else if (c >= 0xd800 && c <= 0xdfff) out += "\\ufffd";
    else if (!isPrintable(c)) out += c > 0xffff ? `\\U${c.toString(16).padStart(8, "0")}` : `\\u${c.toString(16).padStart(4, "0")}`;
    else out += ch;
  }
  return `${out}"`;
}

/** An approximation of Go's `strconv.IsPrint` for code points above ASCII. */
function isPrintable(c: number): boolean {
  if (c < 0x7f) return true;
  if (c <= 0x9f || c === 0xad) return false;
  return /[\p{L}\p{M}\p{N}\p{P}\p{S}\u0020]/u.test(String.fromCodePoint(c));
}
