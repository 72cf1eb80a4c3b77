import type { Fault } from "./faults.js";

/** When a fault applies: method, path pattern and how many times. */
export interface FaultRuleSpec {
  /** Shown in request records; defaults to `rule-<n>`. */
  name?: string;
  /** Method or methods (upper case); any method when omitted. */
  method?: string | readonly string[];
  /** Tested against the request path without the query string. */
  path: RegExp;
  /** Tested against the query string including `?` (empty when none), when given. */
  query?: RegExp;
  /** Apply to the first `times` matching requests (default: always). */
  times?: number;
  fault: Fault;
}

/** A rule installed in a proxy, with its counters. */
export interface FaultRule {
  readonly name: string;
  readonly spec: FaultRuleSpec;
  /** Requests that matched method, path and query (applied or not). */
  readonly matched: number;
  /** Times the fault was actually applied. */
  readonly hits: number;
  /** Applications left (Infinity for "always"). */
  readonly remaining: number;
}

/** A rule's mutable state inside the proxy. */
export interface RuleState extends FaultRule {
  matched: number;
  hits: number;
  /** Reserved by requests still waiting for the registry's answer. */
  pending: number;
  /** Applications allowed since the last counter reset. */
  limit: number;
}

/** A set of rules evaluated in insertion order. */
export class RuleSet {
  private readonly list: RuleState[] = [];
  private counter = 0;

  /** Adds a rule and returns its live view. */
  add(spec: FaultRuleSpec): FaultRule {
    const name = spec.name ?? `rule-${++this.counter}`;
    const state: RuleState = {
      name,
      spec,
      matched: 0,
      hits: 0,
      pending: 0,
      limit: spec.times ?? Number.POSITIVE_INFINITY,
      get remaining() {
        return Math.max(0, this.limit - this.hits - this.pending);
      },
    };
    this.list.push(state);
    return state;
  }

  /** Removes every rule. */
  clear(): void {
    this.list.length = 0;
  }

  /** The installed rules. */
  all(): readonly FaultRule[] {
    return this.list;
  }

  /** Zeroes `matched` and `hits` of every rule without re-arming exhausted ones. */
  resetCounts(): void {
    for (const rule of this.list) {
      rule.limit -= rule.hits;
      rule.matched = 0;
      rule.hits = 0;
    }
  }

  /**
   * Counts the request against every matching rule and reserves the first one with
   * applications left; the caller must `apply` or `release` the returned rule.
   */
  reserve(method: string, path: string, query: string): RuleState | undefined {
    let chosen: RuleState | undefined;
    for (const rule of this.list) {
      if (!matches(rule.spec, method, path, query)) continue;
      rule.matched++;
      if (!chosen && rule.remaining > 0) chosen = rule;
    }
    if (chosen) chosen.pending++;
    return chosen;
  }

  /** Records that the reserved rule was applied. */
  apply(rule: RuleState): void {
    rule.pending--;
    rule.hits++;
  }

  /** Gives a reservation back (the fault turned out not to apply, e.g. the registry answered 401). */
  release(rule: RuleState): void {
    rule.pending--;
  }
}

function matches(spec: FaultRuleSpec, method: string, path: string, query: string): boolean {
  if (spec.method !== undefined) {
    const methods = typeof spec.method === "string" ? [spec.method] : spec.method;
    if (!methods.includes(method)) return false;
  }
  spec.path.lastIndex = 0;
  if (!spec.path.test(path)) return false;
  if (spec.query) {
    spec.query.lastIndex = 0;
    if (!spec.query.test(query)) return false;
  }
  return true;
}
