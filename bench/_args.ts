// Small helpers shared by the benchmarks: numeric command-line options and medians.

/** `--<name> <number>` from the arguments (a positive number), else `fallback`; `integer` requires a whole number. */
export function option(args: readonly string[], name: string, fallback: number, integer = false): number {
  const i = args.indexOf(`--${name}`);
  const value = i >= 0 ? Number(args[i + 1]) : fallback;
  const ok = integer ? Number.isInteger(value) : Number.isFinite(value);
  if (!ok || value <= 0) throw new Error(`--${name} must be a positive ${integer ? "integer" : "number"}`);
  return value;
}

/** The median of some measurements (0 for none). */
export function median(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? (sorted[mid] ?? 0) : ((sorted[mid - 1] ?? 0) + (sorted[mid] ?? 0)) / 2;
}
