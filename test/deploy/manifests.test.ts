// Checks the Kubernetes examples in deploy/ against the lifecycle's own flag definitions: every
// container that runs /cnb/lifecycle/<phase> must parse with that phase's Go flag set at the Platform
// API the manifest sets, use only environment variables the lifecycle reads, mount what it names,
// and (kpack-style Pod) run as non-root.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { z } from "zod";
import { describe, expect, it } from "vitest";
import { ANALYZER_FLAGS } from "../../src/cmd/analyzer.js";
import { EXPORTER_FLAGS } from "../../src/cmd/exporter.js";
import { COMMON_FLAGS } from "../../src/cmd/flag-specs.js";
import { GoFlagSet, flagString, type FlagSpec, type ParsedFlags } from "../../src/cmd/go-flags.js";
import { REBASER_FLAGS } from "../../src/cmd/rebaser.js";
import { RESTORER_FLAGS } from "../../src/cmd/restorer.js";
import { parseLogLevel } from "../../src/log/logger.js";
import { ApiVersion } from "../../src/platform/api-version.js";
import apis from "../../src/platform/apis.json" with { type: "json" };

// ---- what the lifecycle accepts -------------------------------------------------------------

type OurPhase = "analyzer" | "restorer" | "exporter" | "rebaser";
const PHASES: Record<OurPhase, { flags: readonly FlagSpec[]; positionals: (n: number) => boolean; expected: string }> = {
  analyzer: { flags: ANALYZER_FLAGS, positionals: (n) => n === 1, expected: "exactly 1" },
  restorer: { flags: RESTORER_FLAGS, positionals: (n) => n === 0, expected: "0" },
  exporter: { flags: EXPORTER_FLAGS, positionals: (n) => n >= 1, expected: "at least 1" },
  rebaser: { flags: REBASER_FLAGS, positionals: (n) => n >= 1, expected: "at least 1" },
};
const isOurPhase = (p: string): p is OurPhase => Object.hasOwn(PHASES, p);
/** Phases the examples run from the builder image (its own lifecycle, not this one). */
const BUILDER_PHASES = new Set(["detector", "builder"]);

/** Variables the lifecycle reads without a flag (lifecycle-contract.md §1.4, §1.8, §2.1–2.4, §8). */
const ENV_ONLY = [
  "CNB_PLATFORM_API", // §1.4
  "CNB_DEPRECATION_MODE", // §1.4
  "CNB_USER_ID", "CNB_GROUP_ID", // §1.8 (also the -uid/-gid env)
  "CNB_REGISTRY_AUTH", "CNB_REGISTRY_AUTH_KEYCHAIN_SKIP_AMAZON", "CNB_REGISTRY_AUTH_KEYCHAIN_SKIP_AZURE", // §8
  "CNB_INSECURE_REGISTRIES", // §1.5, §8
  "CNB_EXPERIMENTAL_MODE", "CNB_BUILD_IMAGE", "CNB_CACHE_DIR", "CNB_PARALLEL_EXPORT", // §2.1 env-only inputs
  "CNB_EXEC_ENV", // §2.2, §2.3
  "CNB_RUN_IMAGE", "CNB_PREVIOUS_IMAGE", // §2.3 (kpack sets CNB_RUN_IMAGE on the exporter)
  "CNB_LAYERS_DIR", // §2.4 (rebaser's report default)
  "SOURCE_DATE_EPOCH", // §2.3
];
const KNOWN_ENV = new Set([
  ...ENV_ONLY,
  ...[COMMON_FLAGS, ...Object.values(PHASES).map((p) => p.flags)].flat().flatMap((f) => f.env ?? []),
]);
const checkedEnv = (name: string) => name.startsWith("CNB_") || name === "SOURCE_DATE_EPOCH";

const PLATFORM_APIS = [...apis.platform.supported, ...apis.platform.deprecated].map((v) => ApiVersion.must(v));
const supportedPlatformApi = (v: ApiVersion) => PLATFORM_APIS.some((s) => s.supports(v));

/** Flags naming files or directories the container must have mounted (when non-empty). */
const PATH_FLAGS = ["layers", "app", "cache-dir", "launch-cache", "analyzed", "group", "report", "project-metadata", "layout-dir"];

// ---- the subset of Kubernetes / Tekton we read ----------------------------------------------

const EnvVar = z.object({ name: z.string(), value: z.string().optional(), valueFrom: z.record(z.string(), z.unknown()).optional() });
const VolumeMount = z.object({ name: z.string(), mountPath: z.string() });
const SecurityContext = z.object({
  runAsUser: z.number().int().optional(),
  runAsGroup: z.number().int().optional(),
  runAsNonRoot: z.boolean().optional(),
  allowPrivilegeEscalation: z.boolean().optional(),
  capabilities: z.object({ drop: z.array(z.string()).optional(), add: z.array(z.string()).optional() }).optional(),
});
const ContainerFields = {
  env: z.array(EnvVar).default([]),
  volumeMounts: z.array(VolumeMount).default([]),
  securityContext: SecurityContext.optional(),
};
const Container = z.object({
  name: z.string(),
  image: z.string(),
  command: z.array(z.string()).default([]),
  args: z.array(z.string()).default([]),
  script: z.string().optional(),
  ...ContainerFields,
});
type Container = z.infer<typeof Container>;
const Named = z.object({ name: z.string() });

const PodSchema = z.object({
  apiVersion: z.literal("v1"),
  kind: z.literal("Pod"),
  spec: z.object({
    securityContext: SecurityContext.extend({ fsGroup: z.number().int().optional() }).optional(),
    initContainers: z.array(Container).default([]),
    containers: z.array(Container).min(1),
    volumes: z.array(Named).default([]),
  }),
});
type Pod = z.infer<typeof PodSchema>;

const TaskSchema = z.object({
  apiVersion: z.literal("tekton.dev/v1"),
  kind: z.literal("Task"),
  metadata: Named,
  spec: z.object({
    params: z.array(z.object({ name: z.string(), default: z.string().optional() })).default([]),
    workspaces: z.array(z.object({ name: z.string(), mountPath: z.string().optional() })).default([]),
    results: z.array(Named).default([]),
    volumes: z.array(Named).default([]),
    stepTemplate: z.object(ContainerFields).optional(),
    steps: z.array(Container).min(1),
  }),
});
type Task = z.infer<typeof TaskSchema>;

// ---- validation -------------------------------------------------------------------------------

/** A container that runs one of our phases, as parsed by that phase's flag set. */
interface Invocation {
  readonly container: string;
  readonly phase: string;
  readonly image: string;
  readonly parsed?: ParsedFlags;
}

interface Report {
  readonly problems: string[];
  readonly invocations: Invocation[];
}

/** A container after Tekton substitution and stepTemplate merging; `extraMounts` are implicit (workspaces). */
interface Resolved {
  readonly c: Container;
  readonly extraMounts: readonly string[];
  /** Effective uid/gid when the manifest fixes them (Pod securityContext). */
  readonly runAs?: { uid?: number; gid?: number };
}

/** Checks env, mounts and lifecycle invocations of a manifest's containers. */
function checkContainers(where: string, containers: readonly Resolved[], volumes: ReadonlySet<string>): Report {
  const problems: string[] = [];
  const invocations: Invocation[] = [];
  for (const { c, extraMounts, runAs } of containers) {
    const at = `${where}: ${c.name}`;
    const fail = (msg: string) => problems.push(`${at}: ${msg}`);
    const env = new Map<string, string | undefined>();
    for (const e of c.env) {
      if (env.has(e.name)) fail(`env ${e.name} set twice`);
      env.set(e.name, e.value);
      if (checkedEnv(e.name) && !KNOWN_ENV.has(e.name)) fail(`env ${e.name} is not read by the lifecycle`);
      if (e.name === "CNB_REGISTRY_AUTH" && (e.value !== undefined || e.valueFrom?.secretKeyRef === undefined)) {
        fail("CNB_REGISTRY_AUTH must come from a Secret (valueFrom.secretKeyRef)");
      }
    }
    const mounts = [...extraMounts];
    for (const m of c.volumeMounts) {
      if (!volumes.has(m.name)) fail(`volumeMount ${m.name} refers to no declared volume`);
      if (mounts.includes(m.mountPath)) fail(`two mounts at ${m.mountPath}`);
      mounts.push(m.mountPath);
    }
    const argv = [...c.command, ...c.args];
    if (c.script?.includes("/cnb/lifecycle/") || argv.slice(1).some((a) => a.includes("/cnb/lifecycle/"))) {
      fail("runs the lifecycle from a script or shell; use command/args so the flags can be checked");
    }
    const phase = /^\/cnb\/lifecycle\/([a-z]+)$/.exec(argv[0] ?? "")?.[1];
    if (phase === undefined) continue;
    if (!isOurPhase(phase) && !BUILDER_PHASES.has(phase)) {
      fail(`unknown phase /cnb/lifecycle/${phase}`);
      continue;
    }
    const apiValue = env.get("CNB_PLATFORM_API");
    const api = apiValue === undefined ? undefined : ApiVersion.parse(apiValue.trim());
    if (apiValue === undefined) fail("CNB_PLATFORM_API is not set");
    else if (!api || !supportedPlatformApi(api)) fail(`CNB_PLATFORM_API '${apiValue}' is not supported by the lifecycle`);
    if (!isOurPhase(phase)) {
      invocations.push({ container: c.name, phase, image: c.image });
      continue;
    }
    if (!api) continue;
    const parsed = checkInvocation(phase, api, c, env, mounts, runAs, fail);
    if (parsed) invocations.push({ container: c.name, phase, image: c.image, parsed });
  }
  // Our phases come from one lifecycle image; analyzer and exporter name the same app image.
  const ours = invocations.filter((i) => isOurPhase(i.phase));
  if (new Set(ours.map((i) => i.image)).size > 1) problems.push(`${where}: the phases use different lifecycle images`);
  for (const i of invocations.filter((x) => BUILDER_PHASES.has(x.phase))) {
    if (ours.some((o) => o.image === i.image)) problems.push(`${where}: ${i.container} runs the builder's ${i.phase} from the lifecycle image`);
  }
  const image = (phase: string) => invocations.find((i) => i.phase === phase)?.parsed?.args[0];
  if (image("analyzer") !== undefined && image("exporter") !== undefined && image("analyzer") !== image("exporter")) {
    problems.push(`${where}: analyzer image ${image("analyzer")} differs from exporter image ${image("exporter")}`);
  }
  return { problems, invocations };
}

/** Parses one of our phases' argv like the phase would and checks what the parse says; returns it if it parsed. */
function checkInvocation(
  phase: OurPhase,
  api: ApiVersion,
  c: Container,
  env: ReadonlyMap<string, string | undefined>,
  mounts: readonly string[],
  runAs: Resolved["runAs"],
  fail: (msg: string) => void,
): ParsedFlags | undefined {
  const set = new GoFlagSet(phase, [...COMMON_FLAGS, ...PHASES[phase].flags], api);
  let parsed: ParsedFlags;
  try {
    parsed = set.parse([...c.command, ...c.args].slice(1), Object.fromEntries(env));
  } catch (err) {
    fail(`${phase} at Platform API ${api.toString()}: ${(err as Error).message}`);
    return undefined;
  }
  if (!PHASES[phase].positionals(parsed.args.length)) {
    fail(`${phase} expects ${PHASES[phase].expected} positional argument(s), got ${parsed.args.length}: ${parsed.args.join(" ")}`);
  }
  for (const a of parsed.args) if (a.startsWith("-")) fail(`flag-like positional argument ${a} is not a flag`);
  if (!parseLogLevel(flagString(parsed, "log-level"))) fail(`invalid -log-level ${flagString(parsed, "log-level")}`);
  const layers = flagString(parsed, "layers") || env.get("CNB_LAYERS_DIR") || "/layers";
  for (const name of PATH_FLAGS) {
    if (!set.has(name)) continue;
    const path = flagString(parsed, name).replace("<layers>", layers);
    if (path === "") continue;
    if (!path.startsWith("/")) fail(`-${name}=${path} is relative`);
    else if (!mounts.some((m) => path === m || path.startsWith(`${m}/`))) fail(`-${name}=${path} is on no mounted volume`);
  }
  // A non-root process cannot switch users, so -uid/-gid (or CNB_USER_ID/CNB_GROUP_ID) must be who it already is.
  for (const [flag, id] of [["uid", runAs?.uid], ["gid", runAs?.gid]] as const) {
    const value = parsed.values.get(flag);
    if (runAs && value !== id) fail(`-${flag} (or its env) is ${String(value)}, but the container runs as ${String(id)}`);
  }
  return parsed;
}

/** Example values for the Tasks' required params (everything else uses its default). */
const TEKTON_EXAMPLE_PARAMS: Record<string, string> = {
  APP_IMAGE: "registry.example.com/team/app",
  RUN_IMAGE: "registry.example.com/cnb/run:latest",
  BUILDER_IMAGE: "registry.example.com/cnb/builder:latest",
  LIFECYCLE_IMAGE: "registry.example.com/cnb/lifecycle-ts:0.1.0",
};

/** Validates a Tekton Task as a TaskRun would render it: params substituted, workspaces bound, stepTemplate merged. */
function checkTask(raw: unknown): Report {
  const task: Task = TaskSchema.parse(raw);
  const where = `Task ${task.metadata.name}`;
  const problems: string[] = [];
  const vars = new Map<string, string>();
  for (const p of task.spec.params) {
    const v = p.default ?? TEKTON_EXAMPLE_PARAMS[p.name];
    if (v === undefined) problems.push(`${where}: required param ${p.name} has no example value in the test`);
    else vars.set(`params.${p.name}`, v);
  }
  const workspaceMounts = task.spec.workspaces.map((w) => {
    const path = w.mountPath ?? `/workspace/${w.name}`;
    vars.set(`workspaces.${w.name}.path`, path);
    return path;
  });
  for (const r of task.spec.results) vars.set(`results.${r.name}.path`, `/tekton/results/${r.name}`);
  const sub = (s: string) =>
    s.replace(/\$\(([^)]*)\)/g, (whole, key: string) => {
      const v = vars.get(key);
      if (v === undefined) problems.push(`${where}: unresolved ${whole}`);
      return v ?? whole;
    });
  const template = task.spec.stepTemplate;
  const steps = task.spec.steps.map((step): Resolved => {
    const ownEnv = new Set(step.env.map((e) => e.name));
    const c: Container = {
      ...step,
      image: sub(step.image),
      command: step.command.map(sub),
      args: step.args.map(sub),
      script: step.script === undefined ? undefined : sub(step.script),
      env: [...(template?.env ?? []).filter((e) => !ownEnv.has(e.name)), ...step.env].map((e) => ({
        ...e,
        value: e.value === undefined ? undefined : sub(e.value),
      })),
      volumeMounts: [...(template?.volumeMounts ?? []), ...step.volumeMounts],
      securityContext: step.securityContext ?? template?.securityContext,
    };
    return { c, extraMounts: workspaceMounts };
  });
  const report = checkContainers(where, steps, new Set(task.spec.volumes.map((v) => v.name)));
  return { problems: [...problems, ...report.problems], invocations: report.invocations };
}

/** Validates a Pod, including kpack's non-root rules for every container. */
function checkPod(raw: unknown): Report {
  const pod: Pod = PodSchema.parse(raw);
  const where = "Pod";
  const psc = pod.spec.securityContext;
  const problems: string[] = [];
  if (psc?.fsGroup === undefined) problems.push(`${where}: no fsGroup, so emptyDir volumes are not group-writable`);
  const all = [...pod.spec.initContainers, ...pod.spec.containers];
  const resolved = all.map((c): Resolved => {
    const sc = c.securityContext;
    const uid = sc?.runAsUser ?? psc?.runAsUser;
    const gid = sc?.runAsGroup ?? psc?.runAsGroup;
    const at = `${where}: ${c.name}`;
    if ((sc?.runAsNonRoot ?? psc?.runAsNonRoot) !== true) problems.push(`${at}: runAsNonRoot is not true`);
    if (uid === undefined || uid === 0) problems.push(`${at}: runs as uid ${uid ?? "of the image"}, not a fixed non-root uid`);
    if (gid === undefined || gid === 0) problems.push(`${at}: runs as gid ${gid ?? "of the image"}, not a fixed non-root gid`);
    if (sc?.allowPrivilegeEscalation !== false) problems.push(`${at}: allowPrivilegeEscalation is not false`);
    if (!sc?.capabilities?.drop?.includes("ALL")) problems.push(`${at}: capabilities are not dropped`);
    if (sc?.capabilities?.add?.length) problems.push(`${at}: adds capabilities`);
    return { c, extraMounts: [], runAs: { uid, gid } };
  });
  const report = checkContainers(where, resolved, new Set(pod.spec.volumes.map((v) => v.name)));
  return { problems: [...problems, ...report.problems], invocations: report.invocations };
}

// ---- the manifests ----------------------------------------------------------------------------

function load(file: string): unknown[] {
  const docs = parseAllDocuments(readFileSync(new URL(`../../deploy/${file}`, import.meta.url), "utf8"));
  if (!Array.isArray(docs)) throw new Error(`${file}: empty`);
  for (const d of docs) if (d.errors.length > 0) throw new Error(`${file}: ${d.errors.map((e) => e.message).join("; ")}`);
  return docs.map((d) => d.toJS() as unknown);
}

const [buildTaskRaw, rebaseTaskRaw, ...moreTasks] = load("tekton-task.yaml");
const [podRaw, ...morePods] = load("kpack-style-pod.yaml");
const phasesOf = (r: Report) => r.invocations.map((i) => i.phase);

/** A fresh, typed copy of a manifest to break in memory. */
const task = (raw: unknown) => TaskSchema.parse(structuredClone(raw));
const pod = () => PodSchema.parse(structuredClone(podRaw));
function named(containers: Container[], name: string): Container {
  const c = containers.find((x) => x.name === name);
  if (!c) throw new Error(`no container ${name}`);
  return c;
}

describe("deploy/tekton-task.yaml", () => {
  it("holds the build Task and the rebase Task", () => {
    expect(moreTasks).toEqual([]);
    expect(TaskSchema.parse(buildTaskRaw).metadata.name).toBe("cnb-lifecycle-ts-build");
    expect(TaskSchema.parse(rebaseTaskRaw).metadata.name).toBe("cnb-lifecycle-ts-rebase");
  });

  it("runs analyze, detect, restore, build, export with flags the lifecycle defines at Platform API 0.13", () => {
    const r = checkTask(buildTaskRaw);
    expect(r.problems).toEqual([]);
    expect(phasesOf(r)).toEqual(["analyzer", "detector", "restorer", "builder", "exporter"]);
    const restore = r.invocations.find((i) => i.phase === "restorer")?.parsed;
    expect(restore && flagString(restore, "cache-dir")).toBe("/workspace/cache");
  });

  it("runs the rebaser with flags it defines", () => {
    const r = checkTask(rebaseTaskRaw);
    expect(r.problems).toEqual([]);
    expect(phasesOf(r)).toEqual(["rebaser"]);
  });

  it("fails on an unknown flag, a flag of a newer Platform API, or a misspelt param", () => {
    const t = task(buildTaskRaw);
    named(t.spec.steps, "analyze").args.unshift("-no-such-flag=1");
    named(t.spec.steps, "restore").args.push("-run=/layers/run.toml"); // restorer -run is ≥0.14
    named(t.spec.steps, "export").args.push("$(params.APP_IMAG)");
    const problems = checkTask(t).problems.join("\n");
    expect(problems).toContain("analyze: analyzer at Platform API 0.13: flag provided but not defined: -no-such-flag");
    expect(problems).toContain("restore: restorer at Platform API 0.13: flag provided but not defined: -run");
    expect(problems).toContain("unresolved $(params.APP_IMAG)");

    const newer = task(buildTaskRaw);
    named(newer.spec.steps, "restore").args.push("-run=/layers/run.toml");
    const api = newer.spec.params.find((p) => p.name === "PLATFORM_API");
    if (api) api.default = "0.14";
    expect(checkTask(newer).problems).toEqual([]);
  });

  it("fails on wrong positional counts and an unsupported Platform API", () => {
    const t = task(buildTaskRaw);
    named(t.spec.steps, "analyze").args.push("registry.example.com/team/other");
    named(t.spec.steps, "restore").args.push("registry.example.com/team/app");
    const problems = checkTask(t).problems.join("\n");
    expect(problems).toContain("analyzer expects exactly 1 positional argument(s), got 2");
    expect(problems).toContain("restorer expects 0 positional argument(s), got 1");

    const old = task(rebaseTaskRaw);
    const api = old.spec.params.find((p) => p.name === "PLATFORM_API");
    if (api) api.default = "0.6";
    expect(checkTask(old).problems.join("\n")).toContain("CNB_PLATFORM_API '0.6' is not supported");
  });
});

describe("deploy/kpack-style-pod.yaml", () => {
  it("runs analyze, detect, restore, build, export as non-root with flags defined at its Platform API", () => {
    expect(morePods).toEqual([]);
    const r = checkPod(podRaw);
    expect(r.problems).toEqual([]);
    expect(phasesOf(r)).toEqual(["analyzer", "detector", "restorer", "builder", "exporter"]);
    const exporter = r.invocations.find((i) => i.phase === "exporter")?.parsed;
    expect(exporter && flagString(exporter, "report")).toBe("/var/report/report.toml");
  });

  it("gives our phases CNB_REGISTRY_AUTH from a Secret and the builder's phases no credentials", () => {
    const p = pod();
    for (const c of [...p.spec.initContainers, ...p.spec.containers]) {
      const auth = c.env.find((e) => e.name === "CNB_REGISTRY_AUTH");
      const ours = ["analyze", "restore", "export"].includes(c.name);
      expect(auth?.valueFrom?.secretKeyRef !== undefined, c.name).toBe(ours);
    }
  });

  it("fails on an env var typo, a missing Platform API, a literal credential and an undeclared volume", () => {
    const p = pod();
    const analyze = named(p.spec.initContainers, "analyze");
    analyze.env.push({ name: "CNB_REGSITRY_AUTH", value: "{}" });
    const restore = named(p.spec.initContainers, "restore");
    restore.env = restore.env.filter((e) => e.name !== "CNB_PLATFORM_API");
    const exporter = named(p.spec.initContainers, "export");
    exporter.env = exporter.env.map((e) => (e.name === "CNB_REGISTRY_AUTH" ? { name: e.name, value: "{}" } : e));
    exporter.volumeMounts.push({ name: "reports-dir", mountPath: "/var/reports" });
    const problems = checkPod(p).problems.join("\n");
    expect(problems).toContain("Pod: analyze: env CNB_REGSITRY_AUTH is not read by the lifecycle");
    expect(problems).toContain("Pod: restore: CNB_PLATFORM_API is not set");
    expect(problems).toContain("Pod: export: CNB_REGISTRY_AUTH must come from a Secret");
    expect(problems).toContain("Pod: export: volumeMount reports-dir refers to no declared volume");
  });

  it("fails when a container may run as root or keeps privileges", () => {
    const p = pod();
    named(p.spec.initContainers, "export").securityContext = { runAsUser: 0, allowPrivilegeEscalation: true };
    const problems = checkPod(p).problems.join("\n");
    expect(problems).toContain("Pod: export: runs as uid 0");
    expect(problems).toContain("Pod: export: allowPrivilegeEscalation is not false");
    expect(problems).toContain("Pod: export: capabilities are not dropped");
    expect(problems).toContain("Pod: export: -uid (or its env) is 1000, but the container runs as 0");
  });

  it("fails when a path flag is on no mounted volume", () => {
    const p = pod();
    const exporter = named(p.spec.initContainers, "export");
    exporter.args = exporter.args.map((a) => (a.startsWith("-report=") ? "-report=/tmp/report.toml" : a));
    expect(checkPod(p).problems.join("\n")).toContain("Pod: export: -report=/tmp/report.toml is on no mounted volume");
  });
});
