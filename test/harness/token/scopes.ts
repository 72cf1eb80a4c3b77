/** One access entry of a registry token: e.g. repository `test/run` with `pull,push`. */
export interface Access {
  type: string;
  name: string;
  actions: string[];
}

/** What a user may do: on resources of `type` (default "repository") whose name matches. */
export interface AccessGrant {
  type?: string;
  /** Exact name, or a RegExp tested against the name. */
  name: string | RegExp;
  /** Allowed actions; "*" allows every action. */
  actions: readonly string[];
}

/** Parses `type:name:actions` scope strings (space-separated lists allowed) into access entries. */
export function parseScopes(scopes: readonly string[]): Access[] {
  const out: Access[] = [];
  for (const scope of scopes.flatMap((s) => s.split(" ")).filter((s) => s !== "")) {
    const first = scope.indexOf(":");
    const last = scope.lastIndexOf(":");
    if (first < 0 || last <= first) continue;
    out.push({
      type: scope.slice(0, first),
      name: scope.slice(first + 1, last),
      actions: scope.slice(last + 1).split(",").filter((a) => a !== ""),
    });
  }
  return out;
}

/** The requested access narrowed to what `grants` allow (everything when `grants` is "all"). */
export function grantAccess(requested: readonly Access[], grants: readonly AccessGrant[] | "all"): Access[] {
  if (grants === "all") return requested.map((a) => ({ ...a, actions: [...a.actions] }));
  const out: Access[] = [];
  for (const access of requested) {
    const allowed = new Set<string>();
    for (const grant of grants) {
      if ((grant.type ?? "repository") !== access.type) continue;
      const matches = typeof grant.name === "string" ? grant.name === access.name : grant.name.test(access.name);
      if (matches) for (const action of grant.actions) allowed.add(action);
    }
    const actions = access.actions.filter((a) => allowed.has("*") || allowed.has(a));
    if (actions.length > 0) out.push({ type: access.type, name: access.name, actions });
  }
  return out;
}
