// Opening files that untrusted data may have replaced (cache tars, cache metadata, SBOM files):
// a symlink is never followed and anything but a regular file is refused, so a FIFO cannot block
// the phase and a link to /dev/zero or /etc/shadow is never read.
import { constants } from "node:fs";
import { open, type FileHandle } from "node:fs/promises";

const OPEN_FLAGS = constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK;

/** A path that is a symlink, FIFO, device, socket or directory where a regular file was expected. */
export class NotRegularFileError extends Error {
  override name = "NotRegularFileError";
  /** Node-style code, so callers can classify it with the errno codes. */
  readonly code = "ENOTREG";
  constructor(
    readonly path: string,
    readonly kind: string,
  ) {
    super(`${path} is ${kind}, not a regular file`);
  }
}

/**
 * Opens `path` for reading without following a symlink in its last component and without
 * blocking on a FIFO; anything but a regular file is refused with a {@link NotRegularFileError}.
 * Other failures (ENOENT, EACCES, ...) are Node's errors, unchanged.
 */
export async function openRegularFile(path: string): Promise<FileHandle> {
  let handle: FileHandle;
  try {
    handle = await open(path, OPEN_FLAGS);
  } catch (err) {
    if ((err as { code?: unknown }).code === "ELOOP") throw new NotRegularFileError(path, "a symbolic link");
    throw err;
  }
  try {
    const st = await handle.stat();
    if (!st.isFile()) {
      const kind = st.isFIFO() ? "a FIFO" : st.isDirectory() ? "a directory" : st.isSocket() ? "a socket" : "a device";
      throw new NotRegularFileError(path, kind);
    }
    return handle;
  } catch (err) {
    await handle.close();
    throw err;
  }
}

/** The whole content of a regular file opened with {@link openRegularFile}. */
export async function readRegularFile(path: string): Promise<Buffer> {
  const handle = await openRegularFile(path);
  try {
    return await handle.readFile();
  } finally {
    await handle.close();
  }
}
