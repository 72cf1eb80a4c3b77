/** The lifecycle's exit codes, in one place (contract §1.7, Platform spec "Exit codes"). */
export const ExitCode = {
  /** Success; the exporter also exits 0 when only the cache export failed. */
  Success: 0,
  /** Generic failure (keychain, privileges, unreadable input files, volume cache dir missing, ...). */
  Failed: 1,
  /** Command-line flag parse error (Go `flag` package). */
  InvalidFlags: 2,
  /** Invalid arguments or inputs (positional count, references, run-image resolution, ...). */
  InvalidArgs: 3,
  /** Platform API missing, malformed or unsupported. */
  IncompatiblePlatformAPI: 11,
  /** A buildpack API in group.toml is unsupported. */
  IncompatibleBuildpackAPI: 12,
  /** Detector codes (out of scope here, listed for completeness). */
  FailedDetect: 20,
  FailedDetectWithErrors: 21,
  DetectError: 22,
  /** Analyzer: initialising or analysing failed. */
  AnalyzeError: 32,
  /** Restorer: restoring layers, metadata or SBOMs failed. */
  RestoreError: 42,
  /** Builder codes (out of scope). */
  FailedBuildWithErrors: 51,
  BuildError: 52,
  /** Exporter: building or saving the app image, or writing report.toml, failed. */
  ExportError: 62,
  /** Rebaser: reading, validating, rebasing or saving the app image failed. */
  RebaseError: 72,
  /** Launcher (out of scope). */
  LaunchError: 82,
  /** Generate / extend (out of scope). */
  FailedGenerateWithErrors: 91,
  GenerateError: 92,
  ExtendError: 102,
} as const;

/** A value of {@link ExitCode}. */
export type ExitCodeValue = (typeof ExitCode)[keyof typeof ExitCode];
