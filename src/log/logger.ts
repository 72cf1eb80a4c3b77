import { writeSync } from "node:fs";

/** Log levels in increasing severity (Go lifecycle / apex log). */
export type LogLevel = "debug" | "info" | "warn" | "error";

const ORDER: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

/** The levels accepted by `-log-level` / `CNB_LOG_LEVEL`, mapped to our four. */
const LEVEL_NAMES: Record<string, LogLevel> = {
  debug: "debug",
  info: "info",
  warn: "warn",
  warning: "warn",
  error: "error",
  fatal: "error",
};

/** Parses a `-log-level` value; undefined when it is not a known level. */
export function parseLogLevel(value: string): LogLevel | undefined {
  return LEVEL_NAMES[value.toLowerCase()];
}

/** A line-oriented logger writing every level to one sink (stdout, like the Go lifecycle). */
export interface Logger {
  readonly level: LogLevel;
  debug(message: string): void;
  info(message: string): void;
  warn(message: string): void;
  error(message: string): void;
  isDebug(): boolean;
}

/** Where log text goes; the default writes synchronously to stdout so nothing is lost on exit. */
export type Sink = (text: string) => void;

/** Writes to fd 1 synchronously, retrying when a non-blocking pipe is momentarily full. */
export function stdoutSink(text: string): void {
  let buf = Buffer.from(text, "utf8");
  while (buf.length > 0) {
    try {
      const n = writeSync(1, buf);
      buf = buf.subarray(n);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "EAGAIN") continue;
      if ((err as NodeJS.ErrnoException).code === "EPIPE") return;
      throw err;
    }
  }
}

const YELLOW_BOLD = "\x1b[1;33m";
const RED_BOLD = "\x1b[1;31m";
const RESET = "\x1b[0m";

/** The default logger: `Warning: ` and `ERROR: ` prefixes, coloured unless `color` is false. */
export class DefaultLogger implements Logger {
  level: LogLevel;
  color: boolean;
  private readonly sink: Sink;

  constructor(options: { level?: LogLevel; color?: boolean; sink?: Sink } = {}) {
    this.level = options.level ?? "info";
    this.color = options.color ?? true;
    this.sink = options.sink ?? stdoutSink;
  }

  private write(level: LogLevel, prefix: string, style: string, message: string): void {
    if (ORDER[level] < ORDER[this.level]) return;
    const head = prefix === "" ? "" : this.color ? `${style}${prefix}${RESET}` : prefix;
    this.sink(`${head}${message.endsWith("\n") ? message : `${message}\n`}`);
  }

  debug(message: string): void {
    this.write("debug", "", "", message);
  }
  info(message: string): void {
    this.write("info", "", "", message);
  }
  warn(message: string): void {
    this.write("warn", "Warning: ", YELLOW_BOLD, message);
  }
  error(message: string): void {
    this.write("error", "ERROR: ", RED_BOLD, message);
  }
  isDebug(): boolean {
    return this.level === "debug";
  }
}

/** A logger that records lines in memory (tests and helpers that must not print). */
export class MemoryLogger extends DefaultLogger {
  readonly lines: string[];
  constructor(level: LogLevel = "debug") {
    const lines: string[] = [];
    super({ level, color: false, sink: (t) => lines.push(t.replace(/\n$/, "")) });
    this.lines = lines;
  }
  text(): string {
    return this.lines.join("\n");
  }
}
