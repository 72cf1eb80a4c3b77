import type { ApiVersion } from "./api-version.js";

/**
 * Behaviour switches that depend on the Platform API, computed once: phase code reads these
 * booleans instead of comparing versions (contract §1.9).
 */
export interface PlatformFeatures {
  readonly api: ApiVersion;
  /** 0.12+: run.toml (`-run`) replaces stack.toml (`-stack`). */
  readonly usesRunToml: boolean;
  /** 0.12+: analyzed.toml records `run-image.image` and `run-image.target`. */
  readonly recordsRunImageTarget: boolean;
  /** 0.8+: SBOM layers (analyzer restores the previous SBOM layer, exporter adds one). */
  readonly sbomLayers: boolean;
  /** 0.9+: `SOURCE_DATE_EPOCH`, and no `bom` in the build label or report. */
  readonly sourceDateEpoch: boolean;
  readonly reportHasBuildBom: boolean;
  /** Below 0.9 the build label starts with `bom`. */
  readonly buildLabelHasBom: boolean;
  /** 0.10+: process `command` is an array in the build label. */
  readonly processCommandArray: boolean;
  /** 0.11+: exporter copies lifecycle/launcher SBOMs. */
  readonly copiesLauncherSbom: boolean;
  /** 0.12+: base image history kept, with created_by entries for new layers. */
  readonly keepsHistory: boolean;
  /** 0.12+: label `runImage.image`/`mirrors`. */
  readonly labelsRunImageNames: boolean;
  /** 0.12+: rebaser checks the new run image name and syncs `io.buildpacks.base.*` labels. */
  readonly rebaserChecksRunImageName: boolean;
  /** Below 0.13 the previous cache image is deleted after a new one is pushed. */
  readonly deletesPreviousCacheImage: boolean;
  /** 0.14+: restorer re-checks the run image chosen by the analyzer (issue 1590). */
  readonly restorerChecksRunImage: boolean;
  /** 0.14+: cache-only launch layers absent from the app image get metadata restored. */
  readonly restoresCacheOnlyLaunchLayers: boolean;
  /** 0.15+: exporter sets `io.buildpacks.exec-env`. */
  readonly execEnvLabel: boolean;
  /** 0.10+: restorer fills run-image digest/target when extensions exist; `-build-image`. */
  readonly restorerResolvesRunImageForExtensions: boolean;
  /** Dockerfile extensions are experimental below 0.13. */
  readonly extensionsExperimental: boolean;
  /** 0.12+: the exporter adds the layers extensions added to the run image (`-extended`) and can start from its config. */
  readonly exportsExtendedRunImage: boolean;
}

/** The feature switches of a Platform API. */
export function platformFeatures(api: ApiVersion): PlatformFeatures {
  return {
    api,
    usesRunToml: api.atLeast("0.12"),
    recordsRunImageTarget: api.atLeast("0.12"),
    sbomLayers: api.atLeast("0.8"),
    sourceDateEpoch: api.atLeast("0.9"),
    reportHasBuildBom: api.lessThan("0.9"),
    buildLabelHasBom: api.lessThan("0.9"),
    processCommandArray: api.atLeast("0.10"),
    copiesLauncherSbom: api.atLeast("0.11"),
    keepsHistory: api.atLeast("0.12"),
    labelsRunImageNames: api.atLeast("0.12"),
    rebaserChecksRunImageName: api.atLeast("0.12"),
    deletesPreviousCacheImage: api.lessThan("0.13"),
    restorerChecksRunImage: api.atLeast("0.14"),
    restoresCacheOnlyLaunchLayers: api.atLeast("0.14"),
    execEnvLabel: api.atLeast("0.15"),
    restorerResolvesRunImageForExtensions: api.atLeast("0.10"),
    extensionsExperimental: api.lessThan("0.13"),
    exportsExtendedRunImage: api.atLeast("0.12"),
  };
}
