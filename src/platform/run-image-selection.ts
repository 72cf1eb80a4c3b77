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

/** Probes whether a candidate reference can be read. */
export type ReadProbe = (reference: string) => Promise<ProbeResult>;

/**
 * Picks the run image from `image` + `mirrors` (contract §6.1): the first readable candidate on the
 * target registry, else the first readable candidate, in list order. All probes start at once; the
 * choice still follows list order. The whole decision is logged at debug level.
 */
export async function selectRunImage(
  candidates: RunImageCandidates,
  targetRegistry: string | undefined,
  probe: ReadProbe,
  logger: Logger,
): Promise<string> {
  if (candidates.image === "") {
    throw new LifecycleError(ExitCode.InvalidArgs, "missing run image metadata (-run-image)");
  }
  const list = [candidates.image, ...candidates.mirrors];
  logger.debug(`Selecting run image for target registry '${targetRegistry ?? ""}' from candidates: ${list.join(", ")}`);
  const probes = new Map<string, Promise<ProbeResult>>();
  const probeOf = (ref: string) => {
    let p = probes.get(ref);
    if (!p) {
      p = registryOf(ref) === undefined
        ? Promise.resolve({ readable: false, reason: "not a valid image reference" })
        : probe(ref).catch((err: unknown) => ({ readable: false, reason: err instanceof Error ? err.message : String(err) }));
      probes.set(ref, p);
    }
    return p;
  };
  list.forEach((ref) => void probeOf(ref));
  const verdicts = await Promise.all(list.map(async (ref) => ({ ref, result: await probeOf(ref) })));
  for (const { ref, result } of verdicts) {
    logger.debug(`  ${ref} (registry ${registryOf(ref) ?? "?"}): ${result.readable ? "readable" : `not readable${result.reason ? ` (${result.reason})` : ""}`}`);
  }
  const sameRegistry = verdicts.find((v) => registryOf(v.ref) === targetRegistry && v.result.readable);
  if (sameRegistry) {
    logger.debug(`Selected run image '${sameRegistry.ref}': first readable candidate on registry '${targetRegistry ?? ""}'`);
    return sameRegistry.ref;
  }
  const first = verdicts.find((v) => v.result.readable);
  if (first) {
    logger.debug(`Selected run image '${first.ref}': no readable candidate on registry '${targetRegistry ?? ""}', first readable candidate`);
    return first.ref;
  }
  throw new LifecycleError(ExitCode.InvalidArgs, "failed to find accessible run image");
}

/**
 * The restorer's check of the analyzer's choice (Platform API 0.14+, issue 1590): when the selected
 * image is listed in run.toml (as an image or a mirror, digest-insensitive) only that image is
 * probed, and an unreadable one fails with exit 1; an unlisted image (an extension switched it) is
 * kept without a probe. It never re-selects and never falls back to the primary.
 */
export async function verifySelectedRunImage(
  selected: string,
  runToml: { readonly images: readonly RunImageCandidates[] },
  probe: ReadProbe,
  logger: Logger,
): Promise<void> {
  const listed = runToml.images.some((e) => sameImageName(e.image, selected) || e.mirrors.some((m) => sameImageName(m, selected)));
  if (!listed) {
    logger.debug(`Run image '${selected}' is not listed in run.toml; keeping it without an access check`);
    return;
  }
  const result = await probe(selected).catch((err: unknown) => ({ readable: false, reason: err instanceof Error ? err.message : String(err) }));
  if (!result.readable) {
    logger.debug(`Run image '${selected}' is not readable: ${result.reason ?? ""}`);
    throw new LifecycleError(ExitCode.Failed, `selected run image '${selected}' is not accessible`);
  }
  logger.debug(`Keeping run image '${selected}' selected by the analyzer`);
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
