// Process, label and slice entries shared by `<layers>/config/metadata.toml` and `launch.toml`.
import { z } from "zod";
import { goBool, goString, goStringList, optString, optStringList } from "./go-fields.js";

/** `command` is an array (Platform API ≥0.10 writers) or a plain string (older); always a list here. */
const CommandSchema = z
  .union([z.string(), z.array(z.string())])
  .nullish()
  .transform((v): string[] => (v === null || v === undefined ? [] : typeof v === "string" ? [v] : v));

/** A `[[processes]]` entry; the model renames `buildpack-id`, `working-dir`, `exec-env` to camelCase. */
export const ProcessSchema = z
  .object({
    type: goString,
    command: CommandSchema,
    args: optStringList,
    direct: goBool,
    default: goBool,
    "buildpack-id": goString,
    "working-dir": optString,
    "exec-env": optStringList,
  })
  .transform((raw) => ({
    type: raw.type,
    command: raw.command,
    ...(raw.args !== undefined ? { args: raw.args } : {}),
    direct: raw.direct,
    default: raw.default,
    buildpackId: raw["buildpack-id"],
    ...(raw["working-dir"] !== undefined ? { workingDir: raw["working-dir"] } : {}),
    ...(raw["exec-env"] !== undefined ? { execEnv: raw["exec-env"] } : {}),
  }));
/** A process type; `args` is undefined when the file has none (the build label then says `null`). */
export type Process = z.output<typeof ProcessSchema>;

/** A `[[labels]]` entry: an image label a buildpack asks for. */
export const BuildpackLabelSchema = z.object({ key: goString, value: goString });
/** An image label contributed by a buildpack. */
export type BuildpackLabel = z.output<typeof BuildpackLabelSchema>;

/** A `[[slices]]` entry: glob patterns relative to the app dir. */
export const SliceSchema = z.object({ paths: goStringList });
/** An app slice. */
export type Slice = z.output<typeof SliceSchema>;
