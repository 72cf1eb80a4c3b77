import type { z } from "zod";

/** An image document (manifest, index, config) that is not valid JSON or not of the expected shape. */
export class InvalidImageDataError extends Error {
  override name = "InvalidImageDataError";
}

/** Parses JSON bytes with a zod schema; errors name the document and the first bad field. */
export function parseJson<S extends z.ZodType>(schema: S, raw: Buffer | string, what: string): z.infer<S> {
  let json: unknown;
  try {
    json = JSON.parse(typeof raw === "string" ? raw : raw.toString("utf8"));
  } catch {
    throw new InvalidImageDataError(`${what} is not valid JSON`);
  }
  const parsed = schema.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    const path = issue?.path.length ? issue.path.join(".") : "(root)";
    throw new InvalidImageDataError(`${what} is invalid: ${path}: ${issue?.message ?? "unexpected value"}`);
  }
  return parsed.data;
}
