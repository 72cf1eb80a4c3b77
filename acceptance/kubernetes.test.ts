// The deploy/ examples run on a real container engine: the kpack-style Pod with `podman kube play`
// (init containers for the phases, CNB_REGISTRY_AUTH from a Secret, emptyDir and PVC volumes, all
// non-root), and the Tekton Tasks rendered the way a TaskRun runs them (see helpers/kube.ts), all
// against a registry with authentication, ending with the app image in the registry and running.
// What the test's copies change, and only that: registry.example.com becomes the test registry;
// the images that are not ours (builder, git, busybox) become the builder stand-in; the git clone
// becomes a copy of the prepared app; the Pod gets hostNetwork to reach the registry on 127.0.0.1.
import { createHash } from "node:crypto";
import { chmodSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { parse } from "smol-toml";
import { beforeAll, describe, expect, it } from "vitest";
import { buildRunImage, busyboxLayer, expectNoLeakedProcesses, pushImage, skopeoInspectConfig, skopeoInspectRaw, userLayer } from "../test/harness/index.js";
import { useRegistry } from "../test/harness/vitest/use-registry.js";
import { useTempDir } from "../test/harness/vitest/use-temp-dir.js";
import { at, registryAuth } from "./helpers/fixtures.js";
import { createPodmanSecret, deployDocuments, mapStrings, parsePod, parseTask, playPod, renderTaskRun, type Container, type Pod } from "./helpers/kube.js";
import { appBuild, buildAndPushLifecycleImage, pushTestBuilder, pushTestRunImage, runAppImage } from "./helpers/lifecycle-image.js";
import { usePodman } from "./helpers/podman.js";

expectNoLeakedProcesses();
const reg = useRegistry("htpasswd");
const temp = useTempDir("kubernetes");
const podman = usePodman(() => ({ registries: [reg()] }));

const EXAMPLE_REGISTRY = "registry.example.com";
/** Images of the examples that are not this project's, and the stand-in that replaces them. */
const NOT_OURS = ["docker.io/alpine/git:latest", "docker.io/library/busybox:1.36", `${EXAMPLE_REGISTRY}/cnb/builder:latest`];

let host: string;
let standIn: string;
let imageSeconds = 0;

beforeAll(async () => {
  host = reg().host;
  standIn = `${host}/cnb/builder:latest`;
  const built = await buildAndPushLifecycleImage(temp(), `${host}/cnb/lifecycle-ts:0.1.0`, { CNB_REGISTRY_AUTH: registryAuth(reg()) });
  imageSeconds = built.run.seconds;
  await pushTestRunImage(temp(), reg(), "cnb/run:latest");
  await pushTestBuilder(temp(), reg(), "cnb/builder:latest", appBuild("hello from kubernetes"));
});

/** The example with the test registry for registry.example.com and the stand-in for images that are not ours. */
function forTest<T>(manifest: T): T {
  const swapped = mapStrings(manifest, (s) => (NOT_OURS.includes(s) ? standIn : s));
  return mapStrings(swapped, (s) => s.replaceAll(EXAMPLE_REGISTRY, host));
}

/** The containers that run our phases, by name, for comparing with the example. */
function ourPhases(pod: Pod): Container[] {
  return [...pod.spec.initContainers, ...pod.spec.containers].filter((c) => /^\/cnb\/lifecycle\/(analyzer|restorer|exporter|rebaser)$/.test(c.command?.[0] ?? ""));
}

/** The run image the app image records (`io.buildpacks.lifecycle.metadata` runImage.image; rebasers check it). */
async function recordedRunImage(reference: string): Promise<unknown> {
  const labels = (await skopeoInspectConfig(reg(), reference)).config?.Labels ?? {};
  return at(JSON.parse(labels["io.buildpacks.lifecycle.metadata"] ?? "{}"), "runImage", "image");
}

/** The digest of a manifest in the test registry. */
async function manifestDigest(reference: string): Promise<string> {
  return `sha256:${createHash("sha256").update((await skopeoInspectRaw(reg(), reference)).raw).digest("hex")}`;
}

describe("deploy/kpack-style-pod.yaml with podman kube play", () => {
  it("runs the phases as init containers, non-root, with CNB_REGISTRY_AUTH from the Secret, and pushes an app image that runs", async () => {
    const pm = podman();
    const [doc] = deployDocuments("kpack-style-pod.yaml");
    const example = parsePod(doc);
    const pod = forTest(example);
    const prepare = pod.spec.initContainers.find((c) => c.name === "prepare");
    if (!prepare) throw new Error("the example has no prepare container");
    prepare.command = ["sh", "-c"];
    prepare.args = ["cp -R /cnb/test-build/app/. /workspace/"];
    Object.assign(pod.spec, { hostNetwork: true });
    // our phases run exactly as the example says, registry aside
    expect(ourPhases(pod)).toEqual(ourPhases(mapStrings(example, (s) => s.replaceAll(EXAMPLE_REGISTRY, host))));
    expect(ourPhases(pod).map((c) => c.name)).toEqual(["analyze", "restore", "export"]);
    expect(pod.spec.initContainers.map((c) => c.name)).toEqual(["prepare", "run-toml", "analyze", "detect", "restore", "build", "export"]);

    await createPodmanSecret(pm, temp(), "cnb-registry-auth", { CNB_REGISTRY_AUTH: registryAuth(reg()) });
    const played = await playPod(pm, pod, join(temp(), "kpack-style-pod.yaml"));
    const report = parse(played.logs.completion ?? "");
    const digest = await manifestDigest("team/app:build-1");
    expect(String(at(report, "image", "digest"))).toBe(digest);
    expect(await manifestDigest("team/app:latest")).toBe(digest);
    const config = await skopeoInspectConfig(reg(), "team/app:build-1");
    expect(config.config?.Env).toContain("CNB_PLATFORM_API=0.14");
    expect(await recordedRunImage("team/app:build-1")).toBe(`${host}/cnb/run:latest`);

    const printed = await runAppImage(pm, `${host}/team/app:build-1`);
    expect(printed).toContain("entrypoint=/cnb/process/web");
    expect(printed).toContain("platform-api=0.14");
    expect(printed).toContain("hello from kubernetes");
    console.log(`kpack-style pod: image build ${imageSeconds.toFixed(1)} s, kube play to the completed pod ${played.seconds.toFixed(1)} s`);
  });
});

describe("deploy/tekton-task.yaml, each Task's steps in order in one Pod", () => {
  it("builds with the build Task (credentials from the docker config in $HOME) and rebases with the rebase Task onto an updated run image", async () => {
    const pm = podman();
    const [buildDoc, rebaseDoc] = deployDocuments("tekton-task.yaml");
    const dockerConfig = JSON.stringify({
      auths: { [host]: { auth: Buffer.from(`${reg().credentials?.username ?? ""}:${reg().credentials?.password ?? ""}`).toString("base64") } },
    });
    await createPodmanSecret(pm, temp(), "registry-credentials", { "config.json": dockerConfig });
    /** Tekton's credential initialisation: the ServiceAccount's docker config into $HOME/.docker. */
    const credsInit: Container = {
      name: "creds-init",
      image: standIn,
      command: ["sh", "-c", 'mkdir -p /tekton/home/.docker && printf "%s" "$DOCKER_CONFIG_JSON" > /tekton/home/.docker/config.json'],
      env: [{ name: "DOCKER_CONFIG_JSON", valueFrom: { secretKeyRef: { name: "registry-credentials", key: "config.json" } } }],
      securityContext: { runAsUser: 0 },
    };
    // the source workspace: a PVC holding the app (what a git-clone Task would have left there)
    await pm.run(["volume", "create", "source-pvc"]);
    await pm.run(["run", "--rm", "-v", "source-pvc:/src", "--user", "0", "--entrypoint", "", standIn, "sh", "-c", "cp -R /cnb/test-build/app/. /src/"]);
    const results = join(temp(), "tekton-results");
    mkdirSync(results);
    chmodSync(results, 0o777); // an emptyDir's mode: steps write their results as whatever user they run as

    const params = {
      APP_IMAGE: `${EXAMPLE_REGISTRY}/team/app`,
      RUN_IMAGE: `${EXAMPLE_REGISTRY}/cnb/run:latest`,
      BUILDER_IMAGE: `${EXAMPLE_REGISTRY}/cnb/builder:latest`,
      LIFECYCLE_IMAGE: `${EXAMPLE_REGISTRY}/cnb/lifecycle-ts:0.1.0`,
      PREPARE_IMAGE: "docker.io/library/busybox:1.36",
    };
    const buildPod = forTest(
      renderTaskRun(parseTask(buildDoc), {
        podName: "app-build-taskrun",
        params,
        workspaces: { source: { persistentVolumeClaim: { claimName: "source-pvc" } }, cache: { persistentVolumeClaim: { claimName: "cache-pvc" } } },
        resultsDir: results,
        initSteps: [credsInit],
        podSpec: { hostNetwork: true },
      }),
    );
    expect([...buildPod.spec.initContainers, ...buildPod.spec.containers].map((c) => c.name)).toEqual([
      "creds-init",
      "prepare",
      "analyze",
      "detect",
      "restore",
      "build",
      "export",
      "results",
    ]);
    const built = await playPod(pm, buildPod, join(temp(), "tekton-build.yaml"));
    const digest = await manifestDigest("team/app:latest");
    expect(readFileSync(join(results, "APP_IMAGE_DIGEST"), "utf8")).toBe(digest);
    expect((await skopeoInspectConfig(reg(), "team/app:latest")).config?.Env).toContain("CNB_PLATFORM_API=0.13");
    expect(await recordedRunImage("team/app:latest")).toBe(`${host}/cnb/run:latest`);
    expect(await runAppImage(pm, `${host}/team/app:latest`)).toContain("hello from kubernetes");

    // a patched run image under the same name, then the rebase Task
    const patched = await buildRunImage(join(temp(), "patched-run"), {
      env: { PATH: "/bin:/usr/bin" },
      layers: [busyboxLayer(), userLayer(), { files: [{ path: "etc/patched", content: "yes\n" }] }],
    });
    await pushImage(patched, reg(), "cnb/run:latest");
    const rebasePod = forTest(
      renderTaskRun(parseTask(rebaseDoc), {
        podName: "app-rebase-taskrun",
        params: { APP_IMAGE: params.APP_IMAGE, RUN_IMAGE: params.RUN_IMAGE, LIFECYCLE_IMAGE: params.LIFECYCLE_IMAGE },
        workspaces: {},
        resultsDir: results,
        initSteps: [credsInit],
        podSpec: { hostNetwork: true },
      }),
    );
    const rebased = await playPod(pm, rebasePod, join(temp(), "tekton-rebase.yaml"));
    const app = (await skopeoInspectRaw(reg(), "team/app:latest")).manifest;
    const run = (await skopeoInspectRaw(reg(), "cnb/run:latest")).manifest;
    expect(await manifestDigest("team/app:latest")).not.toBe(digest);
    expect(app?.layers.slice(0, run?.layers.length).map((l) => l.digest)).toEqual(run?.layers.map((l) => l.digest));
    expect(await runAppImage(pm, `${host}/team/app:latest`)).toContain("hello from kubernetes");
    console.log(`tekton: build task pod ${built.seconds.toFixed(1)} s, rebase task pod ${rebased.seconds.toFixed(1)} s`);
  });
});
