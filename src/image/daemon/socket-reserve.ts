// Connections to a root-owned unix socket opened while the phase is still privileged (contract
// §1.8 step 2). After the phase switches to the build user it may no longer open the socket, so the
// HTTP client takes these pre-opened connections first and keeps them alive; only when they are all
// gone does it connect anew, and a refusal then says clearly that privileges were dropped.
import { connect, type Socket } from "node:net";
import type { buildConnector } from "undici";
import { DaemonError } from "./engine-errors.js";

/** How long opening one connection may take. */
const CONNECT_TIMEOUT_MS = 10_000;

/** Opens a connection to a unix socket. */
function openSocket(socketPath: string): Promise<Socket> {
  return new Promise((resolve, reject) => {
    const socket = connect({ path: socketPath });
    const timer = setTimeout(() => socket.destroy(new Error(`timed out after ${CONNECT_TIMEOUT_MS} ms`)), CONNECT_TIMEOUT_MS);
    socket.once("connect", () => {
      clearTimeout(timer);
      socket.removeAllListeners("error");
      resolve(socket);
    });
    socket.once("error", (err) => {
      clearTimeout(timer);
      reject(err);
    });
  });
}

/** The errno code of a Node system error. */
function errnoOf(err: unknown): string | undefined {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" ? code : undefined;
}

/** `connect ENOENT /x` → `no such file or directory` style text for error messages. */
function connectReason(err: unknown): string {
  switch (errnoOf(err)) {
    case "ENOENT":
      return "no such file or directory";
    case "ECONNREFUSED":
      return "connection refused";
    case "EACCES":
      return "permission denied";
    case "EPERM":
      return "operation not permitted";
    case "ENOTSOCK":
      return "not a socket";
    default:
      return err instanceof Error ? err.message : String(err);
  }
}

/** Connections to one unix socket, opened ahead of need and handed out to the HTTP client. */
export class SocketReserve {
  private readonly idle: Socket[] = [];
  private closed = false;
  /** Connections handed out so far (pre-opened or new). */
  handedOut = 0;

  private constructor(
    readonly socketPath: string,
    /** How errors name the daemon (`unix:///…`). */
    readonly display: string,
  ) {}

  /**
   * Opens `count` connections; rejects with an "unreachable" DaemonError when the first cannot be
   * opened (no daemon, wrong path, no permission). Call it while still privileged.
   */
  static async open(socketPath: string, display: string, count: number): Promise<SocketReserve> {
    const reserve = new SocketReserve(socketPath, display);
    let first: Socket;
    try {
      first = await openSocket(socketPath);
    } catch (err) {
      throw new DaemonError("unreachable", `cannot connect to the Docker daemon at ${display}: ${connectReason(err)}`, undefined, { cause: err });
    }
    reserve.keep(first);
    const rest = await Promise.allSettled(Array.from({ length: Math.max(0, count - 1) }, () => openSocket(socketPath)));
    for (const r of rest) if (r.status === "fulfilled") reserve.keep(r.value);
    return reserve;
  }

  /** Pre-opened connections still waiting to be used. */
  get available(): number {
    return this.idle.length;
  }

  private keep(socket: Socket): void {
    socket.unref();
    const drop = (): void => {
      const i = this.idle.indexOf(socket);
      if (i >= 0) this.idle.splice(i, 1);
    };
    socket.on("error", drop);
    socket.on("close", drop);
    this.idle.push(socket);
  }

  /** Takes a pre-opened connection that is still open, if any. */
  private take(): Socket | undefined {
    for (let socket = this.idle.shift(); socket !== undefined; socket = this.idle.shift()) {
      socket.removeAllListeners("error");
      socket.removeAllListeners("close");
      if (!socket.destroyed && socket.readyState === "open") {
        socket.ref();
        return socket;
      }
      socket.destroy();
    }
    return undefined;
  }

  /** An undici connector: a pre-opened connection while any is left, else a new one (with a clear error on EACCES). */
  connector(): buildConnector.connector {
    return (_options, callback) => {
      if (this.closed) {
        process.nextTick(() => callback(new DaemonError("unreachable", `the connection to the Docker daemon at ${this.display} was closed`), null));
        return;
      }
      const socket = this.take();
      if (socket) {
        this.handedOut++;
        // undici expects the answer later, as a real connect gives it (a synchronous one stalls the client)
        process.nextTick(() => callback(null, socket));
        return;
      }
      openSocket(this.socketPath).then(
        (fresh) => {
          this.handedOut++;
          callback(null, fresh);
        },
        (err: unknown) => {
          const code = errnoOf(err);
          const error =
            code === "EACCES" || code === "EPERM"
              ? new DaemonError(
                  "reconnect-denied",
                  `cannot reconnect to the Docker daemon at ${this.display} as uid ${process.getuid?.() ?? "?"}: ${connectReason(err)} (the connections opened before dropping privileges were all closed)`,
                  undefined,
                  { cause: err },
                )
              : new DaemonError("unreachable", `cannot connect to the Docker daemon at ${this.display}: ${connectReason(err)}`, undefined, { cause: err });
          callback(error, null);
        },
      );
    };
  }

  /** Closes the connections not handed out. */
  close(): void {
    this.closed = true;
    for (const socket of this.idle.splice(0)) socket.destroy();
  }
}
