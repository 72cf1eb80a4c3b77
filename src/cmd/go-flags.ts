import { Command, Option } from "commander";
import type { ApiVersion } from "../platform/api-version.js";

/** The value kinds a lifecycle flag can take (Go `flag` types used by the lifecycle). */
export type FlagKind = "string" | "bool" | "int" | "strings";

/** One command-line flag of a phase, with its environment variable and Platform API range. */
export interface FlagSpec {
  /** Name without dashes, e.g. `layers`. */
  readonly name: string;
  readonly kind: FlagKind;
  /** Help text. */
  readonly usage: string;
  /** Environment variables supplying the default, in precedence order (bools are OR-ed, like Go). */
  readonly env?: readonly string[];
  /** Default when neither the flag nor the environment sets it (may contain `<layers>`). */
  readonly default?: string | boolean | number;
  /** First Platform API that defines the flag. */
  readonly since?: string;
  /** First Platform API that no longer defines the flag. */
  readonly before?: string;
  /** Read the environment variable even on APIs where the flag is not defined (e.g. rebaser `CNB_FORCE_REBASE`). */
  readonly envWhenUndefined?: boolean;
}

/** What a parsed flag holds. */
export type FlagValue = string | boolean | number | string[];

/** Parsed flags: the final value of every defined flag, which ones the command line set, and the positionals. */
export interface ParsedFlags {
  readonly values: ReadonlyMap<string, FlagValue>;
  /** Names set explicitly on the command line. */
  readonly explicit: ReadonlySet<string>;
  readonly args: readonly string[];
}

/** A command-line error: Go's flag package prints it plus the usage and exits 2. */
export class FlagError extends Error {
  override name = "FlagError";
}

/** `-h` / `-help` was given: print usage and exit 0. */
export class HelpRequested extends Error {
  override name = "HelpRequested";
}

const TRUE = new Set(["1", "t", "T", "TRUE", "true", "True"]);
const FALSE = new Set(["0", "f", "F", "FALSE", "false", "False"]);

/** Go `strconv.ParseBool`. */
export function parseGoBool(value: string): boolean | undefined {
  if (TRUE.has(value)) return true;
  if (FALSE.has(value)) return false;
  return undefined;
}

/** Go `strconv.ParseInt(s, 0, 64)`: decimal, `0x`, `0o`, `0b`, leading-zero octal, `_` separators with a prefix. */
export function parseGoInt(value: string): number | undefined {
  let s = value;
  let sign = 1;
  if (s.startsWith("+") || s.startsWith("-")) {
    if (s.startsWith("-")) sign = -1;
    s = s.slice(1);
  }
  let base = 10;
  let digits = s;
  let prefixed = false;
  if (/^0[xX]/.test(s)) [base, digits, prefixed] = [16, s.slice(2), true];
  else if (/^0[bB]/.test(s)) [base, digits, prefixed] = [2, s.slice(2), true];
  else if (/^0[oO]/.test(s)) [base, digits, prefixed] = [8, s.slice(2), true];
  else if (/^0\d/.test(s) || /^0_/.test(s)) [base, digits, prefixed] = [8, s.slice(1), true];
  if (prefixed) {
    // underscores may separate digits (and follow the prefix) only in prefixed literals
    if (/__|_$/.test(digits)) return undefined;
    digits = digits.replace(/_/g, "");
  }
  const alphabet = "0123456789abcdef".slice(0, base);
  if (digits === "" || ![...digits.toLowerCase()].every((c) => alphabet.includes(c))) return undefined;
  const n = sign * parseInt(digits, base);
  return Number.isSafeInteger(n) ? n : undefined;
}

/** Go `strconv.Atoi` used for `CNB_USER_ID`/`CNB_GROUP_ID`: decimal only, anything else is 0. */
function atoiOrZero(value: string): number {
  return /^[+-]?\d+$/.test(value) ? Number(value) : 0;
}

/**
 * Int flags holding a user or group ID. Go's flag package accepts any int64 there; here a value
 * that cannot be an ID (negative, or beyond 2^32-2: -1 means "unchanged" to the kernel) is a flag
 * error, instead of a chown/setuid failure worded by Node.
 */
const ID_FLAGS: ReadonlyMap<string, string> = new Map([
  ["uid", "user ID"],
  ["gid", "group ID"],
]);
const MAX_ID = 2 ** 32 - 2;

/** Refuses an ID flag value that is not an ID (see {@link ID_FLAGS}); `source` names the flag or variable. */
function checkId(name: string, n: number, raw: string, source: string): number {
  const what = ID_FLAGS.get(name);
  if (what !== undefined && (n < 0 || n > MAX_ID)) {
    throw new FlagError(`invalid value ${JSON.stringify(raw)} for ${source}: not a ${what} (0 to ${MAX_ID})`);
  }
  return n;
}

/** Whether a flag exists at the given Platform API. */
export function flagDefinedAt(spec: FlagSpec, api: ApiVersion): boolean {
  if (spec.since !== undefined && api.lessThan(spec.since)) return false;
  if (spec.before !== undefined && api.atLeast(spec.before)) return false;
  return true;
}

/** The value a flag starts with: its environment variable(s), else its default (Go lifecycle `envOrDefault`). */
function initialValue(spec: FlagSpec, env: NodeJS.ProcessEnv): FlagValue {
  const envValues = (spec.env ?? []).map((name) => env[name] ?? "");
  switch (spec.kind) {
    case "bool":
      // boolEnv: unparsable values are false; several variables are OR-ed (CNB_SKIP_LAYERS || CNB_SKIP_RESTORE)
      if (envValues.some((v) => parseGoBool(v) === true)) return true;
      return spec.default === true;
    case "int": {
      const i = envValues.findIndex((x) => x !== "");
      const v = envValues[i];
      if (v !== undefined) return checkId(spec.name, atoiOrZero(v), v, spec.env?.[i] ?? spec.name);
      return typeof spec.default === "number" ? spec.default : 0;
    }
    case "strings": {
      const v = envValues.find((x) => x !== "");
      return v === undefined ? [] : v.split(",");
    }
    case "string": {
      const v = envValues.find((x) => x !== "");
      if (v !== undefined) return v;
      return typeof spec.default === "string" ? spec.default : "";
    }
  }
}

/**
 * A phase's flag set with Go `flag` package semantics (contract §1.5): `-f v`, `-f=v`, `--f=v`; booleans
 * never consume the next argument; parsing stops at the first positional or `--`; repeatable flags append
 * to the environment's list. commander provides the declarations and the usage text; the parsing is
 * ours because commander's parser accepts `--no-x`, permissive booleans and flags after positionals.
 */
export class GoFlagSet {
  private readonly specs: Map<string, FlagSpec>;
  private readonly envOnly: FlagSpec[];

  constructor(
    readonly phase: string,
    specs: readonly FlagSpec[],
    readonly api: ApiVersion,
    readonly argsSynopsis = "",
  ) {
    this.specs = new Map(specs.filter((s) => flagDefinedAt(s, api)).map((s) => [s.name, s]));
    this.envOnly = specs.filter((s) => !flagDefinedAt(s, api) && s.envWhenUndefined === true);
  }

  has(name: string): boolean {
    return this.specs.has(name);
  }

  /** Parses `argv` (without the program name) against the environment. */
  parse(argv: readonly string[], env: NodeJS.ProcessEnv): ParsedFlags {
    const values = new Map<string, FlagValue>();
    for (const spec of [...this.specs.values(), ...this.envOnly]) values.set(spec.name, initialValue(spec, env));
    const explicit = new Set<string>();
    let rest = [...argv];
    for (;;) {
      const s = rest[0];
      if (s === undefined || s.length < 2 || !s.startsWith("-")) break;
      let minuses = 1;
      if (s[1] === "-") {
        minuses = 2;
        if (s.length === 2) {
          rest = rest.slice(1);
          break;
        }
      }
      let name = s.slice(minuses);
      if (name.length === 0 || name.startsWith("-") || name.startsWith("=")) {
        throw new FlagError(`bad flag syntax: ${s}`);
      }
      rest = rest.slice(1);
      let value: string | undefined;
      const eq = name.indexOf("=");
      if (eq >= 0) {
        value = name.slice(eq + 1);
        name = name.slice(0, eq);
      }
      const spec = this.specs.get(name);
      if (!spec) {
        if (name === "help" || name === "h") throw new HelpRequested();
        throw new FlagError(`flag provided but not defined: -${name}`);
      }
      if (spec.kind === "bool") {
        if (value === undefined) values.set(name, true);
        else {
          const b = parseGoBool(value);
          if (b === undefined) {
            throw new FlagError(`invalid boolean value ${JSON.stringify(value)} for -${name}: parse error`);
          }
          values.set(name, b);
        }
      } else {
        if (value === undefined) {
          if (rest.length === 0) throw new FlagError(`flag needs an argument: -${name}`);
          value = rest[0] ?? "";
          rest = rest.slice(1);
        }
        if (spec.kind === "int") {
          const n = parseGoInt(value);
          if (n === undefined) {
            throw new FlagError(`invalid value ${JSON.stringify(value)} for flag -${name}: parse error`);
          }
          values.set(name, checkId(name, n, value, `flag -${name}`));
        } else if (spec.kind === "strings") {
          const list = values.get(name);
          values.set(name, [...(Array.isArray(list) ? list : []), value]);
        } else {
          values.set(name, value);
        }
      }
      explicit.add(name);
    }
    return { values, explicit, args: rest };
  }

  /** Usage text in the Go flag package's spirit, laid out by commander's help formatter. */
  usage(): string {
    const cmd = new Command(this.phase).usage(`[flags]${this.argsSynopsis ? ` ${this.argsSynopsis}` : ""}`);
    cmd.helpOption(false);
    const described = new Map<Option, FlagSpec>();
    for (const spec of [...this.specs.values()].sort((a, b) => a.name.localeCompare(b.name))) {
      const opt = new Option(`--${spec.name}${spec.kind === "bool" ? "" : " <value>"}`, spec.usage);
      described.set(opt, spec);
      cmd.addOption(opt);
    }
    cmd.configureHelp({
      optionTerm: (opt) => {
        const spec = described.get(opt);
        if (!spec) return opt.flags;
        const type = { string: " string", strings: " value", int: " int", bool: "" }[spec.kind];
        return `-${spec.name}${type}`;
      },
      optionDescription: (opt) => {
        const spec = described.get(opt);
        if (!spec) return opt.description;
        const extra: string[] = [];
        if (spec.env?.length) extra.push(`env: ${spec.env.join(", ")}`);
        if (spec.default !== undefined && spec.default !== "" && spec.default !== false) {
          extra.push(`default: ${String(spec.default)}`);
        }
        return extra.length ? `${spec.usage} (${extra.join("; ")})` : spec.usage;
      },
    });
    return cmd.helpInformation();
  }
}

/** Helpers for reading typed values out of {@link ParsedFlags}. */
export function flagString(p: ParsedFlags, name: string): string {
  const v = p.values.get(name);
  return typeof v === "string" ? v : "";
}

export function flagBool(p: ParsedFlags, name: string): boolean {
  return p.values.get(name) === true;
}

export function flagInt(p: ParsedFlags, name: string): number {
  const v = p.values.get(name);
  return typeof v === "number" ? v : 0;
}

export function flagStrings(p: ParsedFlags, name: string): string[] {
  const v = p.values.get(name);
  return Array.isArray(v) ? v : [];
}
