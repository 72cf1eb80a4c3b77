// zod building blocks that decode like Go's TOML and JSON decoders: a missing key (or a JSON null)
// leaves the zero value, a value of the wrong type is an error, unknown keys are ignored.
import { z } from "zod";

/** A string; missing or null → "". */
export const goString = z
  .string()
  .nullish()
  .transform((v) => v ?? "");

/** A bool; missing or null → false. */
export const goBool = z
  .boolean()
  .nullish()
  .transform((v) => v ?? false);

function nullToUndefined(v: unknown): unknown {
  return v === null ? undefined : v;
}

/** An optional value (Go pointer or `omitempty` field): missing or null → an absent key. */
export function goOptional<T extends z.ZodType>(schema: T) {
  return z.preprocess(nullToUndefined, schema.optional());
}

/** An optional string (Go `omitempty`): missing or null → undefined. */
export const optString = goOptional(z.string());

/** A list of strings; missing or null → []. */
export const goStringList = z
  .array(z.string())
  .nullish()
  .transform((v) => v ?? []);

/** An optional list of strings (kept distinct from []): missing or null → undefined. */
export const optStringList = goOptional(z.array(z.string()));

/** An arbitrary table (Go `map[string]interface{}`). */
export const table = z.record(z.string(), z.unknown());

/** An arbitrary table; missing or null → {}. */
export const goTable = table.nullish().transform((v) => v ?? {});

/** An optional arbitrary table: missing or null → undefined. */
export const optTable = goOptional(table);

/** A list of `item`; missing or null → []. */
export function goList<T extends z.ZodType>(item: T) {
  return z
    .array(item)
    .nullish()
    .transform((v): z.output<T>[] => v ?? []);
}

/** A sub-table that is always present: missing or null → the schema applied to {}. */
export function goStruct<T extends z.ZodType>(schema: T) {
  return z.preprocess((v) => (v === undefined || v === null ? {} : v), schema);
}

/** Drops the keys whose value is undefined, so a writer can list optional fields inline. */
export function compact<T extends Record<string, unknown>>(obj: T): Partial<T> {
  const out: Partial<T> = {};
  for (const [k, v] of Object.entries(obj)) if (v !== undefined) (out as Record<string, unknown>)[k] = v;
  return out;
}
