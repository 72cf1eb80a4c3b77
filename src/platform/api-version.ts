/** A Platform or Buildpack API version such as `0.12` (Go lifecycle `api.Version`). */
export class ApiVersion {
  constructor(
    readonly major: number,
    readonly minor: number,
  ) {}

  /** Parses `0.12`, `v0.12` or `1` (= 1.0); returns undefined for anything else. */
  static parse(value: string): ApiVersion | undefined {
    const m = /^v?(\d+)\.?(\d*)$/.exec(value);
    if (!m) return undefined;
    const major = Number(m[1]);
    const minor = m[2] === "" ? 0 : Number(m[2]);
    if (!Number.isSafeInteger(major) || !Number.isSafeInteger(minor)) return undefined;
    return new ApiVersion(major, minor);
  }

  /** Parses a version known to be valid (constants in code); throws otherwise. */
  static must(value: string): ApiVersion {
    const v = ApiVersion.parse(value);
    if (!v) throw new Error(`invalid API version '${value}'`);
    return v;
  }

  compare(other: ApiVersion): number {
    return this.major - other.major || this.minor - other.minor;
  }

  lessThan(other: ApiVersion | string): boolean {
    return this.compare(typeof other === "string" ? ApiVersion.must(other) : other) < 0;
  }

  atLeast(other: ApiVersion | string): boolean {
    return !this.lessThan(other);
  }

  equals(other: ApiVersion): boolean {
    return this.compare(other) === 0;
  }

  /** Whether this (supported) version can serve a request for `requested` (Go `IsSupersetOf`). */
  supports(requested: ApiVersion): boolean {
    if (this.major === 0) return this.equals(requested);
    return this.major === requested.major && this.minor >= requested.minor;
  }

  toString(): string {
    return `${this.major}.${this.minor}`;
  }
}
