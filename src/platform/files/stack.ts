// stack.toml (contract §3.3, legacy, Platform API < 0.12): only `[run-image]` is read.
import { z } from "zod";
import { goStruct } from "./go-fields.js";
import { RunImageEntrySchema } from "./run.js";
import { parseToml, readOptionalToml } from "./toml-io.js";

/** The whole file as the phases read it: `[run-image] image, mirrors` (other keys ignored). */
export const StackTomlSchema = z
  .object({ "run-image": goStruct(RunImageEntrySchema) })
  .transform((raw) => ({ runImage: raw["run-image"] }));
/** The content of stack.toml. */
export type StackToml = z.output<typeof StackTomlSchema>;

/** Parses stack.toml text (`path` names the file in errors). */
export function parseStackToml(text: string, path: string): StackToml {
  return parseToml(text, StackTomlSchema, path);
}

/** Reads stack.toml, or undefined when the file does not exist (Go: "No stack metadata found"). */
export async function readStackTomlIfExists(path: string): Promise<StackToml | undefined> {
  return readOptionalToml(path, StackTomlSchema);
}
