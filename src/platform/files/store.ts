// `<layers>/<bp>/store.toml` (contract §3.8): a buildpack's persistent `[metadata]` table.
import { z } from "zod";
import { goTable } from "./go-fields.js";
import { parseToml, readOptionalToml, writeToml } from "./toml-io.js";

/** The whole file: `[metadata]`, an arbitrary table (missing → {}). */
export const StoreTomlSchema = z.object({ metadata: goTable });
/** The content of store.toml (same shape as the label's `buildpacks[].store`). */
export type StoreToml = z.output<typeof StoreTomlSchema>;

/** Parses store.toml text (`path` names the file in errors). */
export function parseStoreToml(text: string, path: string): StoreToml {
  return parseToml(text, StoreTomlSchema, path);
}

/** Reads store.toml, or undefined when the buildpack has none. */
export async function readStoreTomlIfExists(path: string): Promise<StoreToml | undefined> {
  return readOptionalToml(path, StoreTomlSchema);
}

/** Writes store.toml atomically (numbers as floats, like Go for data restored from a label). */
export async function writeStoreToml(path: string, store: StoreToml): Promise<void> {
  await writeToml(path, { metadata: store.metadata }, { numbersAsFloat: true });
}
