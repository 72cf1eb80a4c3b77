import type { PhaseCommand } from "./command.js";

/** A phase this lifecycle implements, loaded lazily so only the invoked phase's code runs. */
export interface PhaseEntry {
  /** Symlink / binary name (`analyzer`). */
  readonly binary: string;
  /** Multi-call verb (`lifecycle analyze`). */
  readonly verb: string;
  load(): Promise<PhaseCommand<unknown, unknown>>;
}

export const PHASES: readonly PhaseEntry[] = [
  { binary: "analyzer", verb: "analyze", load: async () => (await import("./analyzer.js")).analyzerCommand },
  { binary: "restorer", verb: "restore", load: async () => (await import("./restorer.js")).restorerCommand },
  { binary: "exporter", verb: "export", load: async () => (await import("./exporter.js")).exporterCommand },
  { binary: "rebaser", verb: "rebase", load: async () => (await import("./rebaser.js")).rebaserCommand },
];

/** Phases of the CNB lifecycle that this implementation does not provide (binary name → verb). */
export const OTHER_PHASES: ReadonlyMap<string, string> = new Map([
  ["detector", "detect"],
  ["builder", "build"],
  ["creator", "create"],
  ["extender", "extend"],
]);

/** Every verb the multi-call binary recognises, in the Go lifecycle's order. */
export const VALID_VERBS = ["detect", "analyze", "restore", "build", "export", "rebase", "create", "extend"];
