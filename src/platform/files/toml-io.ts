import { readFile } from "node:fs/promises";
import { parse, stringify, TomlError } from "smol-toml";
import type { z } from "zod";
import { writeFileAtomic } from "../../util/atomic-write.js";
import { describeZodError } from "./zod-issues.js";

/** A platform file could not be read, parsed or written; the message is one line naming the file. */
export class PlatformFileError extends Error {
  /** The file concerned. */
  readonly path: string;
  /** The errno code for I/O failures (`ENOENT` when the file is missing), else undefined. */
  readonly code: string | undefined;

  constructor(path: string, message: string, options?: { code?: string; cause?: unknown }) {
    super(message, { cause: options?.cause });
    this.name = "PlatformFileError";
    this.path = path;
    this.code = options?.code;
  }
}

/** Whether `err` says that a file does not exist. */
export function isMissingFileError(err: unknown): boolean {
  return (err instanceof PlatformFileError || isErrno(err)) && (err as { code?: unknown }).code === "ENOENT";
}

function isErrno(err: unknown): err is NodeJS.ErrnoException {
  return err instanceof Error && typeof (err as NodeJS.ErrnoException).code === "string";
}

const ERRNO_TEXT: Record<string, string> = {
  ENOENT: "no such file or directory",
  EACCES: "permission denied",
  EISDIR: "is a directory",
  ENOTDIR: "not a directory",
};

/** Reads a text file, turning I/O errors into a {@link PlatformFileError} that keeps the errno code. */
export async function readTextFile(path: string): Promise<string> {
  try {
    return await readFile(path, "utf8");
  } catch (err) {
    const code = isErrno(err) ? err.code : undefined;
    const reason = (code && ERRNO_TEXT[code]) ?? (err instanceof Error ? err.message : String(err));
    throw new PlatformFileError(path, `failed to read ${path}: ${reason}`, { code, cause: err });
  }
}

/** Parses TOML text without validation; syntax errors become a one-line {@link PlatformFileError}. */
export function parseTomlText(text: string, path: string): Record<string, unknown> {
  try {
    return parse(text);
  } catch (err) {
    if (err instanceof TomlError) {
      const reason = (err.message.split("\n")[0] ?? "").replace(/^Invalid TOML document: /, "");
      throw new PlatformFileError(
        path,
        `failed to parse ${path}: invalid TOML at line ${err.line}, column ${err.column}: ${reason}`,
        { cause: err },
      );
    }
    throw new PlatformFileError(path, `failed to parse ${path}: ${String(err)}`, { cause: err });
  }
}

/** Validates decoded data against `schema`, naming the file and the offending field on failure. */
export function validateToml<S extends z.ZodType>(data: unknown, schema: S, path: string): z.output<S> {
  const result = schema.safeParse(data, { reportInput: true });
  if (!result.success) {
    throw new PlatformFileError(path, `failed to parse ${path}: ${describeZodError(result.error)}`, {
      cause: result.error,
    });
  }
  return result.data;
}

/** Parses and validates TOML text; `path` is only used in error messages. */
export function parseToml<S extends z.ZodType>(text: string, schema: S, path: string): z.output<S> {
  return validateToml(parseTomlText(text, path), schema, path);
}

/** Reads, parses and validates a TOML file; a missing file throws a PlatformFileError with code `ENOENT`. */
export async function readToml<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S>> {
  return parseToml(await readTextFile(path), schema, path);
}

/** Like {@link readToml}, but resolves to undefined when the file does not exist. */
export async function readOptionalToml<S extends z.ZodType>(path: string, schema: S): Promise<z.output<S> | undefined> {
  try {
    return await readToml(path, schema);
  } catch (err) {
    if (isMissingFileError(err)) return undefined;
    throw err;
  }
}

/** Options for writing TOML. */
export interface TomlWriteOptions {
  /**
   * Write every number as a float (`3.0`). Go decodes JSON numbers as float64 and BurntSushi/toml
   * writes those with a decimal point, so files whose data came from a label look like this.
   */
  numbersAsFloat?: boolean;
}

/** Serialises a table to TOML text (undefined and null values are left out). */
export function stringifyToml(data: Record<string, unknown>, opts: TomlWriteOptions = {}): string {
  return stringify(data, { numbersAsFloat: opts.numbersAsFloat ?? false });
}

/** Writes a table as a TOML file atomically. */
export async function writeToml(
  path: string,
  data: Record<string, unknown>,
  opts: TomlWriteOptions = {},
): Promise<void> {
  let text: string;
  try {
    text = stringifyToml(data, opts);
  } catch (err) {
    throw new PlatformFileError(path, `failed to write ${path}: ${err instanceof Error ? err.message : String(err)}`, {
      cause: err,
    });
  }
  try {
    await writeFileAtomic(path, text);
  } catch (err) {
    const code = isErrno(err) ? err.code : undefined;
    const reason = (code && ERRNO_TEXT[code]) ?? (err instanceof Error ? err.message : String(err));
    throw new PlatformFileError(path, `failed to write ${path}: ${reason}`, { code, cause: err });
  }
}
