import type { z } from "zod";

type Issue = z.core.$ZodIssue;

/** Describes the first problem of a zod error on one line: `group[0].api: expected string, got number`. */
export function describeZodError(error: z.ZodError, objectWord: "table" | "object" = "table"): string {
  const issue = error.issues[0];
  if (!issue) return "invalid value";
  const where = formatPath(issue.path);
  const what = describeIssue(issue, objectWord);
  return where === "" ? what : `${where}: ${what}`;
}

/** Formats a zod issue path the way a TOML/JSON reader would name the field: `a.b[0]."c.d"`. */
export function formatPath(path: readonly PropertyKey[]): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") {
      out += `[${seg}]`;
    } else {
      const key = String(seg);
      const part = /^[A-Za-z0-9_-]+$/.test(key) ? key : JSON.stringify(key);
      out += out === "" ? part : `.${part}`;
    }
  }
  return out;
}

function describeIssue(issue: Issue, objectWord: string): string {
  const typeName = (expected: string): string => {
    if (expected === "int") return "integer";
    if (expected === "record" || expected === "object") return objectWord;
    return expected;
  };
  const kind = (value: unknown): string => {
    const k = kindOf(value);
    return k === "table" ? objectWord : k;
  };
  switch (issue.code) {
    case "invalid_type":
      if (!("input" in issue) || issue.input === undefined) return `expected ${typeName(issue.expected)}, got nothing`;
      return `expected ${typeName(issue.expected)}, got ${kind(issue.input)}`;
    case "invalid_union": {
      const expected = new Set<string>();
      for (const branch of issue.errors) {
        for (const sub of branch) if (sub.code === "invalid_type" && sub.path.length === 0) expected.add(typeName(sub.expected));
      }
      if (expected.size > 0 && "input" in issue) {
        return `expected ${[...expected].join(" or ")}, got ${kind(issue.input)}`;
      }
      return issue.message;
    }
    default:
      return issue.message;
  }
}

/** A short name for the type of a decoded TOML/JSON value. */
export function kindOf(value: unknown): string {
  if (value === null) return "null";
  if (Array.isArray(value)) return "array";
  if (value instanceof Date) return "datetime";
  if (typeof value === "object") return "table";
  return typeof value;
}
