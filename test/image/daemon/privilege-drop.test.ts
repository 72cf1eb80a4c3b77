import { stat } from "node:fs/promises";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { build } from "esbuild";
import { beforeAll, describe, expect, it } from "vitest";
import { z } from "zod";
import { expectNoLeakedProcesses, runTool, usePodmanService, useTempDir } from "../../harness/index.js";

const here = dirname(fileURLToPath(import.meta.url));

const Step = z.object({ step: z.string() }).loose();

describe("daemon connection across the privilege drop", () => {
  expectNoLeakedProcesses();
  const podman = usePodmanService();
  const temp = useTempDir("privilege-drop");
  let bundle = "";

  beforeAll(async () => {
    bundle = join(temp(), "privilege-child.cjs");
    await build({
      entryPoints: [join(here, "fixtures", "privilege-child.ts")],
      outfile: bundle,
      bundle: true,
      platform: "node",
      format: "cjs",
      target: "node20",
      logLevel: "error",
    });
  });

  it("keeps talking to a root-only socket after switching to an unprivileged user, and says why a reconnect fails", async () => {
    // the socket sits in a 0700 root directory: only root can open it
    const socketDir = await stat(dirname(podman().socketPath ?? ""));
    expect(socketDir.uid).toBe(0);
    expect(socketDir.mode & 0o077).toBe(0);

    const { stdout } = await runTool(process.execPath, [bundle], { env: { ...process.env, DOCKER_HOST: podman().dockerHost, PREOPEN: "2" } });
    const steps = stdout.trim().split("\n").map((line) => Step.parse(JSON.parse(line)));
    const step = (name: string): Record<string, unknown> => {
      const found = steps.find((s) => s.step === name);
      if (!found) throw new Error(`no step ${name} in:\n${stdout}`);
      return found;
    };
    expect(steps.find((s) => s.step === "failed")).toBeUndefined();
    expect(step("connected")).toMatchObject({ uid: 0, apiVersion: "1.41" });
    expect(step("dropped")).toMatchObject({ uid: 65534, gid: 65534 });
    // proof that the drop really cut access: a new client cannot connect
    expect(step("fresh-connect")).toMatchObject({ ok: false });
    expect(String(step("fresh-connect").message)).toMatch(/cannot connect to the Docker daemon at unix:\/\/.*: permission denied/);
    // the pre-opened connection still serves inspect, load and tag
    expect(step("absent-image")).toMatchObject({ exists: false });
    const saved = step("saved");
    expect(saved.names).toEqual([{ name: "localhost/privilege/after-drop:1" }, { name: "localhost/privilege/after-drop:2" }]);
    expect(step("inspected").id).toBe(saved.imageId);
    // a connection closed after the drop cannot be replaced once the reserve is used up
    const reconnect = step("reconnect");
    expect(reconnect.code).toBe("reconnect-denied");
    // two pre-opened connections: the first was used from the start, the second replaced it after the first cut
    expect(reconnect.i).toBe(2);
    expect(steps.filter((s) => s.step === "aborted")).toHaveLength(2);
    expect(String(reconnect.message)).toMatch(
      /cannot reconnect to the Docker daemon at unix:\/\/.* as uid 65534: permission denied \(the connections opened before dropping privileges were all closed\)/,
    );

    // and the daemon really stored the image
    const { stdout: images } = await podman().podman(["images", "--format", "{{.Repository}}:{{.Tag}} {{.ID}}"]);
    expect(images).toContain("localhost/privilege/after-drop:1");
    expect(images).toContain("localhost/privilege/after-drop:2");
  });
});
