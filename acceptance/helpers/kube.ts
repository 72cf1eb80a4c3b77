// Runs the deploy/ examples on podman: `podman kube play` of a Pod, and a Tekton Task rendered the
// way Tekton runs a TaskRun (one Pod; params, workspace and result paths substituted; stepTemplate
// merged into every step; the steps in order), since kube play cannot read Tekton kinds. Steps
// become init containers (run one after the other, like Tekton's entrypoint ordering) and the
// last step the Pod's container.
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { parseAllDocuments, stringify } from "yaml";
import { z } from "zod";
import type { Podman } from "./podman.js";

const EnvVar = z.object({ name: z.string(), value: z.string().optional(), valueFrom: z.unknown().optional() }).loose();
const VolumeMount = z.object({ name: z.string(), mountPath: z.string() }).loose();
const Container = z
  .object({
    name: z.string(),
    image: z.string(),
    command: z.array(z.string()).optional(),
    args: z.array(z.string()).optional(),
    env: z.array(EnvVar).optional(),
    volumeMounts: z.array(VolumeMount).optional(),
    securityContext: z.record(z.string(), z.unknown()).optional(),
  })
  .loose();
/** A container or step (the fields the tests touch; the rest is kept). */
export type Container = z.infer<typeof Container>;
const Volume = z.object({ name: z.string() }).loose();

const PodSchema = z
  .object({
    apiVersion: z.literal("v1"),
    kind: z.literal("Pod"),
    metadata: z.object({ name: z.string() }).loose(),
    spec: z
      .object({
        initContainers: z.array(Container).default([]),
        containers: z.array(Container),
        volumes: z.array(Volume).default([]),
      })
      .loose(),
  })
  .loose();
/** A Pod manifest. */
export type Pod = z.infer<typeof PodSchema>;

const TaskSchema = z
  .object({
    kind: z.literal("Task"),
    metadata: z.object({ name: z.string() }).loose(),
    spec: z
      .object({
        params: z.array(z.object({ name: z.string(), default: z.string().optional() }).loose()).default([]),
        workspaces: z.array(z.object({ name: z.string(), mountPath: z.string().optional(), optional: z.boolean().optional() }).loose()).default([]),
        results: z.array(z.object({ name: z.string() }).loose()).default([]),
        volumes: z.array(Volume).default([]),
        stepTemplate: z.object({ env: z.array(EnvVar).default([]), volumeMounts: z.array(VolumeMount).default([]) }).loose().optional(),
        steps: z.array(Container),
      })
      .loose(),
  })
  .loose();
/** A Tekton Task. */
export type Task = z.infer<typeof TaskSchema>;

/** The YAML documents of a file under deploy/. */
export function deployDocuments(file: string): unknown[] {
  const text = readFileSync(join(import.meta.dirname, "..", "..", "deploy", file), "utf8");
  return parseAllDocuments(text).map((d) => d.toJS() as unknown);
}

/** Parses a Pod manifest. */
export function parsePod(doc: unknown): Pod {
  return PodSchema.parse(structuredClone(doc));
}

/** Parses a Tekton Task. */
export function parseTask(doc: unknown): Task {
  return TaskSchema.parse(structuredClone(doc));
}

/** A copy of `value` with every string passed through `fn`. */
export function mapStrings<T>(value: T, fn: (s: string) => string): T {
  const walk = (v: unknown): unknown => {
    if (typeof v === "string") return fn(v);
    if (Array.isArray(v)) return v.map(walk);
    if (v !== null && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, walk(x)]));
    return v;
  };
  return walk(value) as T;
}

/** How a TaskRun binds a Task. */
export interface TaskRunBinding {
  readonly podName: string;
  readonly params: Readonly<Record<string, string>>;
  /** Workspace name → the volume behind it (e.g. a persistentVolumeClaim). */
  readonly workspaces: Readonly<Record<string, Record<string, unknown>>>;
  /** Host directory mounted at /tekton/results (where the "controller" reads results). */
  readonly resultsDir: string;
  /** Containers Tekton runs before the steps (credential initialisation), with /tekton/home mounted. */
  readonly initSteps: readonly Container[];
  /** Pod-level fields to add (hostNetwork for the test registry). */
  readonly podSpec?: Readonly<Record<string, unknown>>;
}

/**
 * Renders a Task bound by a TaskRun into the Pod Tekton would run: `$(params.*)` (TaskRun value,
 * else default), `$(workspaces.*.path)` and `$(results.*.path)` substituted, stepTemplate env and
 * mounts merged into each step (a step's own env wins), /tekton/home and /tekton/results mounted in
 * every container. An unresolved `$(...)` is an error.
 */
export function renderTaskRun(task: Task, run: TaskRunBinding): Pod {
  const vars = new Map<string, string>();
  for (const p of task.spec.params) {
    const value = run.params[p.name] ?? p.default;
    if (value === undefined) throw new Error(`TaskRun gives no value for the required param ${p.name}`);
    vars.set(`params.${p.name}`, value);
  }
  const workspaceMounts: { name: string; mountPath: string }[] = [];
  const volumes: Record<string, unknown>[] = [...task.spec.volumes];
  for (const w of task.spec.workspaces) {
    const path = w.mountPath ?? `/workspace/${w.name}`;
    vars.set(`workspaces.${w.name}.path`, path);
    const bound = run.workspaces[w.name];
    if (!bound) {
      if (!w.optional) throw new Error(`TaskRun binds no volume to the workspace ${w.name}`);
      continue;
    }
    volumes.push({ name: `ws-${w.name}`, ...bound });
    workspaceMounts.push({ name: `ws-${w.name}`, mountPath: path });
  }
  for (const r of task.spec.results) vars.set(`results.${r.name}.path`, `/tekton/results/${r.name}`);
  const sub = (s: string): string =>
    s.replace(/\$\(([^)]*)\)/g, (whole, key: string) => {
      const v = vars.get(key);
      if (v === undefined) throw new Error(`${task.metadata.name}: unresolved ${whole}`);
      return v;
    });
  volumes.push({ name: "tekton-home", emptyDir: {} }, { name: "tekton-results", hostPath: { path: run.resultsDir, type: "Directory" } });
  const tektonMounts = [
    { name: "tekton-home", mountPath: "/tekton/home" },
    { name: "tekton-results", mountPath: "/tekton/results" },
  ];
  const template = task.spec.stepTemplate;
  const steps = task.spec.steps.map((step): Container => {
    const own = new Set((step.env ?? []).map((e) => e.name));
    return mapStrings(
      {
        ...step,
        env: [...(template?.env ?? []).filter((e) => !own.has(e.name)), ...(step.env ?? [])],
        volumeMounts: [...(template?.volumeMounts ?? []), ...(step.volumeMounts ?? []), ...workspaceMounts, ...tektonMounts],
      },
      sub,
    );
  });
  const init = run.initSteps.map((c) => ({ ...c, volumeMounts: [...(c.volumeMounts ?? []), ...tektonMounts] }));
  const last = steps.pop();
  if (!last) throw new Error(`${task.metadata.name} has no steps`);
  return PodSchema.parse({
    apiVersion: "v1",
    kind: "Pod",
    metadata: { name: run.podName },
    spec: { restartPolicy: "Never", ...run.podSpec, initContainers: [...init, ...steps], containers: [last], volumes },
  });
}

/** What a played Pod's containers did. */
export interface PlayedPod {
  /** Logs of the Pod's (non-init) containers by name. */
  readonly logs: Readonly<Record<string, string>>;
  readonly seconds: number;
}

/**
 * `podman kube play` of a Pod: the init containers run in order (podman removes each once it
 * succeeded), then the containers; waits for every container and fails with the logs of whatever
 * failed.
 */
export async function playPod(pm: Podman, pod: Pod, file: string): Promise<PlayedPod> {
  const started = performance.now();
  writeFileSync(file, stringify(pod));
  const played = await pm.attempt(["kube", "play", file]);
  const states = (await pm.run(["ps", "--all", "--filter", `pod=${pod.metadata.name}`, "--format", "{{.Names}} {{.Status}}"])).stdout.trim();
  const failedLogs = async (): Promise<string> => {
    const lines: string[] = [];
    for (const line of states.split("\n")) {
      const name = line.split(" ")[0] ?? "";
      if (!/Exited \((?!0\))/.test(line)) continue;
      const log = await pm.attempt(["logs", name]);
      lines.push(`--- ${name} ---\n${log.stdout}${log.stderr}`);
    }
    return lines.join("\n");
  };
  if (played.code !== 0) throw new Error(`podman kube play ${pod.metadata.name} exited ${played.code}: ${played.stderr}\n${states}\n${await failedLogs()}`);
  const logs: Record<string, string> = {};
  for (const c of pod.spec.containers) {
    const name = `${pod.metadata.name}-${c.name}`;
    const code = (await pm.run(["wait", name])).stdout.trim();
    const out = await pm.run(["logs", name]);
    logs[c.name] = `${out.stdout}${out.stderr}`;
    if (code !== "0") throw new Error(`${name} exited ${code}:\n${logs[c.name] ?? ""}`);
  }
  return { logs, seconds: (performance.now() - started) / 1000 };
}

/**
 * Creates a secret the way podman 4.3's `kube play` reads Secrets for `secretKeyRef`: a JSON object
 * of base64 values (it does not take the `kind: Secret` manifests it stores itself).
 */
export async function createPodmanSecret(pm: Podman, dir: string, name: string, data: Readonly<Record<string, string>>): Promise<void> {
  const file = join(dir, `${name}.json`);
  writeFileSync(file, JSON.stringify(Object.fromEntries(Object.entries(data).map(([k, v]) => [k, Buffer.from(v).toString("base64")]))));
  await pm.run(["secret", "create", name, file]);
}
