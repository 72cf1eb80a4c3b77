import { join } from "node:path";
import tar from "tar-stream";
import { beforeAll, describe, expect, it } from "vitest";
import {
  buildRunImage,
  expectNoLeakedProcesses,
  layerEntries,
  loadLayerBytes,
  runTool,
  skopeoDaemonHost,
  TarScanner,
  ToolError,
  useEngineProxy,
  usePodmanService,
  useTempDir,
  type BuiltImage,
} from "./index.js";

/** A tar made by tar-stream (long names become PAX headers). */
async function tarOf(entries: readonly { name: string; content: string }[]): Promise<Buffer> {
  const pack = tar.pack();
  const chunks: Buffer[] = [];
  pack.on("data", (c: unknown) => {
    chunks.push(c as Buffer);
  });
  const done = new Promise<void>((resolve) => pack.on("end", resolve));
  for (const e of entries) pack.entry({ name: e.name }, e.content);
  pack.finalize();
  await done;
  return Buffer.concat(chunks);
}

describe("tar scanner", () => {
  it("lists names and sizes, including long names, whatever the chunking", async () => {
    const long = `${"d".repeat(120)}/${"f".repeat(120)}.tar`;
    const bytes = await tarOf([
      { name: "a.json", content: "{}" },
      { name: long, content: "x".repeat(1000) },
      { name: "blank_1", content: "" },
    ]);
    for (const size of [1, 7, 512, 100_000]) {
      const scanner = new TarScanner();
      for (let i = 0; i < bytes.length; i += size) scanner.push(bytes.subarray(i, i + size));
      expect(scanner.entries.map((e) => [e.name, e.size])).toEqual([
        ["a.json", 2],
        [long, 1000],
        ["blank_1", 0],
      ]);
      expect(scanner.ended).toBe(true);
    }
  });
});

describe("engine proxy", () => {
  expectNoLeakedProcesses();
  const podman = usePodmanService();
  const proxy = useEngineProxy(podman);
  const temp = useTempDir("engine-proxy");
  let image: BuiltImage;

  beforeAll(async () => {
    image = await buildRunImage(join(temp(), "image"));
  });

  const copy = (name: string) =>
    runTool("skopeo", ["--insecure-policy", "copy", "--quiet", "--dest-daemon-host", skopeoDaemonHost(proxy().dockerHost), image.ociReference, `docker-daemon:${name}`], { env: podman().env });

  it("forwards to the service and records each load's archive entries and the image saves", async () => {
    proxy().reset();
    await copy("localhost/test/proxied:1");
    const [load] = proxy().loads();
    if (!load) throw new Error("no load recorded");
    expect(load.request.status).toBe(200);
    // skopeo sends every layer uncompressed: one entry per diffID, as big as the layer tar
    expect(layerEntries(load)).toHaveLength(image.config.rootfs.diff_ids.length);
    expect(loadLayerBytes(load)).toBeGreaterThan(100_000);
    expect(load.request.requestBytes).toBeGreaterThan(loadLayerBytes(load));
    const { stdout } = await podman().podman(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(stdout).toContain("localhost/test/proxied:1");

    await runTool("skopeo", ["--insecure-policy", "copy", "--quiet", "--src-daemon-host", skopeoDaemonHost(proxy().dockerHost), "docker-daemon:localhost/test/proxied:1", `oci:${join(temp(), "saved")}:x`], { env: podman().env });
    expect(proxy().imageSaves()).toBe(1);
  });

  it("refuses loads with the given status, and cuts a load's body midway; the daemon stores nothing", async () => {
    proxy().setFault({ kind: "refuse-load", status: 500, message: "no space left" });
    try {
      proxy().reset();
      const refused = await copy("localhost/test/refused:1").catch((err: unknown) => err);
      expect(refused).toBeInstanceOf(ToolError);
      expect((refused as ToolError).stderr).toContain("no space left");
      expect(proxy().loads()[0]?.request).toMatchObject({ status: 500, fault: "refuse-load" });

      proxy().setFault({ kind: "cut-load", afterBytes: 50_000 });
      proxy().reset();
      expect(await copy("localhost/test/cut:1").catch((err: unknown) => err)).toBeInstanceOf(ToolError);
      expect(proxy().loads()[0]?.request).toMatchObject({ requestBytes: 50_000, fault: "cut-load", status: 0 });
    } finally {
      proxy().setFault(undefined);
    }
    const { stdout } = await podman().podman(["images", "--format", "{{.Repository}}:{{.Tag}}"]);
    expect(stdout).not.toMatch(/test\/(refused|cut)/);
  });
});
