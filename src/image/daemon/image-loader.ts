// One `POST /images/load?quiet=1`: the archive is produced while it is sent. The daemon answers
// once the image is stored, with an error status or an error line in its JSON stream when it
// refuses the archive (podman: HTTP 500 `Digest did not match` for a placeholder it cannot fill).
import { Readable } from "node:stream";
import type { EngineClient } from "./engine-client.js";
import { DaemonError } from "./engine-errors.js";
import { JsonMessageSchema } from "./engine-schemas.js";

/** How a load ended when the daemon answered: stored, or refused with the daemon's reason. */
export type LoadOutcome = { readonly ok: true } | { readonly ok: false; readonly error: DaemonError };

/** The first error line of a JSON message stream, if any. */
export function streamError(text: string): string | undefined {
  for (const line of text.split("\n")) {
    if (line.trim() === "") continue;
    let json: unknown;
    try {
      json = JSON.parse(line);
    } catch {
      continue;
    }
    const message = JsonMessageSchema.safeParse(json);
    if (!message.success) continue;
    const error = message.data.errorDetail?.message ?? message.data.error;
    if (error !== undefined && error !== "") return error;
  }
  return undefined;
}

/**
 * Streams an archive (the pieces of a docker-archive.ts writer) into the daemon. Resolves with the
 * daemon's verdict; rejects when the daemon could not be reached or the archive could not be
 * produced (a layer unreadable).
 */
export async function loadArchive(engine: EngineClient, archive: AsyncIterable<Buffer>, what: string): Promise<LoadOutcome> {
  let archiveError: Error | undefined;
  // only a failure while producing a piece is ours; an error thrown in at `yield` is the request
  // body being destroyed because the connection broke, which the request's rejection reports
  const body = async function* (): AsyncGenerator<Buffer> {
    const pieces = archive[Symbol.asyncIterator]();
    try {
      for (;;) {
        let next: IteratorResult<Buffer>;
        try {
          next = await pieces.next();
        } catch (err) {
          archiveError = err instanceof Error ? err : new Error(String(err));
          throw err;
        }
        if (next.done === true) return;
        yield next.value;
      }
    } finally {
      await pieces.return?.(undefined)?.catch(() => undefined);
    }
  };
  let res: Awaited<ReturnType<EngineClient["request"]>>;
  try {
    res = await engine.request({
      method: "POST",
      path: "/images/load",
      query: { quiet: "1" },
      body: Readable.from(body(), { objectMode: false }),
      headers: { "content-type": "application/x-tar" },
      headersTimeout: 0,
      bodyTimeout: 0,
      what,
    });
  } catch (err) {
    // our side failed to produce the archive (a layer unreadable or not matching its diffID)
    if (archiveError !== undefined) throw new Error(`${what}: ${archiveError.message}`, { cause: archiveError });
    throw err;
  }
  if (res.statusCode !== 200) return { ok: false, error: await engine.failure(res, what) };
  let text: string;
  try {
    text = await res.body.text();
  } catch (err) {
    throw new DaemonError("unreachable", `${what}: reading the daemon's answer failed: ${err instanceof Error ? err.message : String(err)}`, undefined, { cause: err });
  }
  const error = streamError(text);
  return error === undefined ? { ok: true } : { ok: false, error: new DaemonError("refused", `${what}: ${error}`, res.statusCode) };
}
