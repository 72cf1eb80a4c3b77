import type { Logger } from "../log/logger.js";
import { LifecycleError } from "./errors.js";
import { ExitCode } from "./exit-codes.js";
import { registryOf, sameImageName } from "../registry/reference.js";

/** A run image and its mirrors (a run.toml `[[images]]` entry, stack.toml, or the app label). */
export interface RunImageCandidates {
  readonly image: string;
  readonly mirrors: readonly string[];
}

/** The verdict of a read-access probe for one candidate. */
export interface ProbeResult {
  readonly readable: boolean;
  /** Why it is not readable (status, error), for the debug log. */
  readonly reason?: string;
}

/** Probes whether a candidate reference can be read; must stop (reject or resolve) once `signal` aborts. */
export type ReadProbe = (reference: string, signal: AbortSignal) => Promise<ProbeResult>;

/**
 * How long a higher-priority probe may stay unanswered before the next candidate is probed as well:
 * a silent registry costs at most this much when a lower-priority candidate is readable.
 */
export const HEDGE_DELAY_MS = 500;

/** The most a single probe may take, connect and response, retries included (never multiplied by them). */
export const PROBE_TIMEOUT_MS = 5_000;

/** Timing of the selection (tests shorten it). */
export interface SelectionTiming {
  readonly hedgeDelayMs?: number;
  readonly probeTimeoutMs?: number;
}

/** One candidate during a selection. */
interface Candidate {
  readonly ref: string;
  readonly registry: string | undefined;
  readonly sameRegistry: boolean;
  started?: number;
  finished?: number;
  result?: ProbeResult;
  controller?: AbortController;
  hedge?: NodeJS.Timeout;
}

/** A probe bounded by `timeoutMs` and by `parent`; a rejection becomes "not readable". */
async function boundedProbe(probe: ReadProbe, ref: string, parent: AbortSignal, timeoutMs: number): Promise<ProbeResult> {
  const signal = AbortSignal.any([parent, AbortSignal.timeout(timeoutMs)]);
  const timedOut = (): ProbeResult => ({ readable: false, reason: `no answer within ${timeoutMs} ms` });
  // the bound holds even for a probe that does not stop when its signal aborts
  const stopped = new Promise<ProbeResult>((resolve) => {
    if (signal.aborted) resolve(timedOut());
    else signal.addEventListener("abort", () => resolve(timedOut()), { once: true });
  });
  try {
    const result = await Promise.race([probe(ref, signal), stopped]);
    return signal.aborted && !parent.aborted ? timedOut() : result;
  } catch (err) {
    if (signal.aborted && !parent.aborted) return timedOut();
    return { readable: false, reason: err instanceof Error ? err.message : String(err) };
  }
}

function candidateLine(c: Candidate, chosen: Candidate | undefined, now: number): string {
  const where = `registry ${c.registry ?? "?"}${c.sameRegistry ? ", the output image's registry" : ""}`;
  if (c.started === undefined) {
    const why = c.registry === undefined ? "not a valid image reference" : "a higher-priority candidate is readable";
    return `  ${c.ref} (${where}): skipped, ${why}`;
  }
  if (c.result === undefined) return `  ${c.ref} (${where}): probe cancelled after ${now - c.started} ms, a higher-priority candidate is readable`;
  const took = `${(c.finished ?? now) - c.started} ms`;
  if (c.result.readable) return `  ${c.ref} (${where}): readable (${took})${c === chosen ? ", selected" : ""}`;
  return `  ${c.ref} (${where}): not readable (${took})${c.result.reason ? `: ${c.result.reason}` : ""}`;
}

/**
 * Picks the run image from `image` + `mirrors` (contract §6.1): the first readable candidate on the
 * target registry, else the first readable candidate, in list order. Candidates are probed in that
 * priority order: a probe starts only when every higher-priority one has failed, or when the one
 * before it has been silent for the hedge delay; the choice is made as soon as the highest-priority
 * readable candidate is known, and the probes no longer needed are cancelled. So a fast answer on
 * the preferred registry means no other registry is contacted, and a silent registry costs at most
 * the hedge delay (or, when it is the one that must answer first, the probe bound). The decision is
 * logged at debug level, one line per candidate.
 */
export async function selectRunImage(
  candidates: RunImageCandidates,
  targetRegistry: string | undefined,
  probe: ReadProbe,
  logger: Logger,
  timing: SelectionTiming = {},
): Promise<string> {
  if (candidates.image === "") {
    throw new LifecycleError(ExitCode.InvalidArgs, "missing run image metadata (-run-image)");
  }
  const hedgeDelay = timing.hedgeDelayMs ?? HEDGE_DELAY_MS;
  const probeTimeout = timing.probeTimeoutMs ?? PROBE_TIMEOUT_MS;
  const listed = [...new Set([candidates.image, ...candidates.mirrors])].map((ref): Candidate => {
    const registry = registryOf(ref);
    return { ref, registry, sameRegistry: registry !== undefined && registry === targetRegistry };
  });
  // priority order: same-registry candidates first, then the others, each in list order
  const ordered = [...listed.filter((c) => c.sameRegistry), ...listed.filter((c) => !c.sameRegistry && c.registry !== undefined)];
  logger.debug(`Selecting run image for target registry '${targetRegistry ?? ""}' from candidates: ${listed.map((c) => c.ref).join(", ")}`);

  const chosen = await new Promise<Candidate | undefined>((resolve) => {
    const parent = new AbortController();
    let next = 0;
    let settled = false;
    const finish = (winner: Candidate | undefined) => {
      if (settled) return;
      settled = true;
      for (const c of ordered) clearTimeout(c.hedge);
      parent.abort();
      resolve(winner);
    };
    const startNext = () => {
      const c = ordered[next++];
      if (!c || settled) return;
      c.started = Date.now();
      c.hedge = setTimeout(() => {
        if (c.result === undefined && next < ordered.length && ordered[next - 1] === c) startNext();
      }, hedgeDelay);
      void boundedProbe(probe, c.ref, parent.signal, probeTimeout).then((result) => {
        clearTimeout(c.hedge);
        if (settled) return;
        c.result = result;
        c.finished = Date.now();
        evaluate();
      });
    };
    const evaluate = () => {
      for (const c of ordered) {
        if (c.started === undefined) {
          startNext();
          return;
        }
        if (c.result === undefined) return;
        if (c.result.readable) {
          finish(c);
          return;
        }
      }
      finish(undefined);
    };
    evaluate();
  });

  const now = Date.now();
  for (const c of listed) logger.debug(candidateLine(c, chosen, now));
  if (!chosen) throw new LifecycleError(ExitCode.InvalidArgs, "failed to find accessible run image");
  const how = chosen.sameRegistry ? `first readable candidate on registry '${targetRegistry ?? ""}'` : `no readable candidate on registry '${targetRegistry ?? ""}', first readable candidate`;
  logger.debug(`Selected run image '${chosen.ref}': ${how}`);
  return chosen.ref;
}

/**
 * The restorer's check of the analyzer's choice (Platform API 0.14+, issue 1590): when the selected
 * image is listed in run.toml (as an image or a mirror, digest-insensitive) only that image is
 * probed, within the same bound as a selection probe, and an unreadable one fails with exit 1; an
 * unlisted image (an extension switched it) is kept without a probe. It never re-selects and never
 * falls back to the primary.
 */
export async function verifySelectedRunImage(
  selected: string,
  runToml: { readonly images: readonly RunImageCandidates[] },
  probe: ReadProbe,
  logger: Logger,
  timing: SelectionTiming = {},
): Promise<void> {
  const listed = runToml.images.some((e) => sameImageName(e.image, selected) || e.mirrors.some((m) => sameImageName(m, selected)));
  if (!listed) {
    logger.debug(`Run image '${selected}' is not listed in run.toml; keeping it without an access check`);
    return;
  }
  const started = Date.now();
  const result = await boundedProbe(probe, selected, new AbortController().signal, timing.probeTimeoutMs ?? PROBE_TIMEOUT_MS);
  if (!result.readable) {
    logger.debug(`Run image '${selected}' is not readable (${Date.now() - started} ms): ${result.reason ?? ""}`);
    throw new LifecycleError(ExitCode.Failed, `selected run image '${selected}' is not accessible`);
  }
  logger.debug(`Keeping run image '${selected}' selected by the analyzer (readable, ${Date.now() - started} ms)`);
}

/**
 * The run image names recorded in the app image label (contract §6.3, API 0.12+): the run.toml
 * entry that contains the image the analyzer chose (its primary and all mirrors, even when a mirror
 * was used); with extensions and no such entry, just the chosen image; else the first entry.
 */
export function runImageForLabel(
  runToml: { readonly images: readonly RunImageCandidates[] } | undefined,
  chosen: string,
  hasExtensions: boolean,
): { image?: string; mirrors?: string[] } {
  const images = runToml?.images ?? [];
  if (images.length === 0) return {};
  const entry = chosen === "" ? undefined : images.find((e) => sameImageName(e.image, chosen) || e.mirrors.some((m) => sameImageName(m, chosen)));
  const pick = entry ?? (hasExtensions && chosen !== "" ? { image: chosen, mirrors: [] } : images[0]);
  if (!pick) return {};
  return {
    ...(pick.image !== "" ? { image: pick.image } : {}),
    ...(pick.mirrors.length > 0 ? { mirrors: [...pick.mirrors] } : {}),
  };
}
