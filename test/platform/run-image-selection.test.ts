import { describe, expect, it } from "vitest";
import { MemoryLogger } from "../../src/log/logger.js";
import { LifecycleError } from "../../src/platform/errors.js";
import { runImageForLabel, selectRunImage, verifySelectedRunImage, type ProbeResult, type ReadProbe } from "../../src/platform/run-image-selection.js";

const timing = { hedgeDelayMs: 60, probeTimeoutMs: 400 };

/** What a fake registry does for one reference. */
type Behaviour = { readonly after: number; readonly result: ProbeResult } | "silent";

interface ProbeCall {
  readonly ref: string;
  readonly at: number;
  readonly signal: AbortSignal;
}

/** A probe answering per reference after a delay (or never), recording calls and honouring aborts. */
function fakeProbe(behaviour: Record<string, Behaviour>): { probe: ReadProbe; calls: ProbeCall[] } {
  const calls: ProbeCall[] = [];
  const started = Date.now();
  const probe: ReadProbe = (ref, signal) => {
    calls.push({ ref, at: Date.now() - started, signal });
    const b = behaviour[ref];
    if (b === undefined) return Promise.reject(new Error(`unexpected probe of ${ref}`));
    return new Promise((resolve, reject) => {
      const onAbort = () => reject(new Error("aborted"));
      signal.addEventListener("abort", onAbort, { once: true });
      if (b !== "silent") {
        setTimeout(() => {
          signal.removeEventListener("abort", onAbort);
          resolve(b.result);
        }, b.after);
      }
    });
  };
  return { probe, calls };
}

const readable = (after: number): Behaviour => ({ after, result: { readable: true } });
const denied = (after: number): Behaviour => ({ after, result: { readable: false, reason: "401 Unauthorized" } });

describe("selectRunImage", () => {
  it("probes the mirror on the output image's registry first and never contacts the primary when it answers", async () => {
    const { probe, calls } = fakeProbe({ "docker.io/acme/run": readable(5), "mirror.local:5000/acme/run": readable(5) });
    const chosen = await selectRunImage({ image: "docker.io/acme/run", mirrors: ["mirror.local:5000/acme/run"] }, "mirror.local:5000", probe, new MemoryLogger(), timing);
    expect(chosen).toBe("mirror.local:5000/acme/run");
    expect(calls.map((c) => c.ref)).toEqual(["mirror.local:5000/acme/run"]);
  });

  it("keeps list order among same-registry candidates, then falls back to the first readable candidate in list order", async () => {
    const { probe, calls } = fakeProbe({
      "a.io/run": denied(1),
      "b.io/run": readable(1),
      "out.io/run1": denied(1),
      "out.io/run2": denied(1),
      "c.io/run": readable(1),
    });
    const chosen = await selectRunImage(
      { image: "a.io/run", mirrors: ["out.io/run1", "b.io/run", "out.io/run2", "c.io/run"] },
      "out.io",
      probe,
      new MemoryLogger(),
      timing,
    );
    expect(chosen).toBe("b.io/run");
    // same-registry candidates first (in list order), then the rest in list order; c.io never needed
    expect(calls.map((c) => c.ref)).toEqual(["out.io/run1", "out.io/run2", "a.io/run", "b.io/run"]);
  });

  it("starts the next probe after the hedge delay when a higher-priority registry is silent, and waits for its bound before choosing a lower one", async () => {
    const { probe, calls } = fakeProbe({ "out.io/run": "silent", "mirror.io/run": readable(5) });
    const start = Date.now();
    const chosen = await selectRunImage({ image: "out.io/run", mirrors: ["mirror.io/run"] }, "out.io", probe, new MemoryLogger(), timing);
    const took = Date.now() - start;
    expect(chosen).toBe("mirror.io/run");
    expect(calls[1]?.ref).toBe("mirror.io/run");
    expect(calls[1]?.at).toBeGreaterThanOrEqual(timing.hedgeDelayMs - 5);
    expect(calls[1]?.at).toBeLessThan(timing.probeTimeoutMs);
    // the silent preferred candidate is given its whole bound, not more
    expect(took).toBeGreaterThanOrEqual(timing.probeTimeoutMs - 5);
    expect(took).toBeLessThan(timing.probeTimeoutMs + 300);
    expect(calls[0]?.signal.aborted).toBe(true);
  });

  it("holds the bound even for a probe that ignores its signal (a transport that cannot be cancelled)", async () => {
    const deaf: ReadProbe = (ref) => (ref === "out.io/run" ? new Promise(() => undefined) : Promise.resolve({ readable: true }));
    const start = Date.now();
    const chosen = await selectRunImage({ image: "out.io/run", mirrors: ["mirror.io/run"] }, "out.io", deaf, new MemoryLogger(), timing);
    expect(chosen).toBe("mirror.io/run");
    expect(Date.now() - start).toBeLessThan(timing.probeTimeoutMs + 300);
  });

  it("prefers a slow higher-priority candidate that answers within its bound over a faster lower-priority one", async () => {
    const { probe } = fakeProbe({ "out.io/run": readable(150), "mirror.io/run": readable(5) });
    const chosen = await selectRunImage({ image: "out.io/run", mirrors: ["mirror.io/run"] }, "out.io", probe, new MemoryLogger(), timing);
    expect(chosen).toBe("out.io/run");
  });

  it("decides as soon as the highest-priority readable candidate is known and cancels the probes no longer needed", async () => {
    const { probe, calls } = fakeProbe({ "out.io/run": readable(120), "mirror.io/run": "silent", "other.io/run": "silent" });
    const start = Date.now();
    const chosen = await selectRunImage({ image: "out.io/run", mirrors: ["mirror.io/run", "other.io/run"] }, "out.io", probe, new MemoryLogger(), timing);
    expect(chosen).toBe("out.io/run");
    expect(Date.now() - start).toBeLessThan(300);
    const hedged = calls.filter((c) => c.ref !== "out.io/run");
    expect(hedged.length).toBeGreaterThan(0);
    for (const c of hedged) expect(c.signal.aborted).toBe(true);
  });

  it("never probes an invalid reference and fails with exit 3 when nothing is readable", async () => {
    const { probe, calls } = fakeProbe({ "a.io/run": denied(1), "b.io/run": "silent" });
    const logger = new MemoryLogger();
    const err = await selectRunImage({ image: "a.io/run", mirrors: ["NOT A REF", "b.io/run"] }, "x.io", probe, logger, timing).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(LifecycleError);
    expect(err).toMatchObject({ exitCode: 3, message: "failed to find accessible run image" });
    expect(calls.map((c) => c.ref)).toEqual(["a.io/run", "b.io/run"]);
    expect(logger.text()).toContain("NOT A REF (registry ?): skipped, not a valid image reference");
    expect(logger.text()).toMatch(/b\.io\/run \(registry b\.io\): not readable \(\d+ ms\): no answer within 400 ms/);
  });

  it("logs one debug line per candidate: probed or skipped, readable or why not, and the time it took", async () => {
    const { probe } = fakeProbe({ "out.io/run": denied(1), "mirror.io/run": readable(1), "late.io/run": readable(1) });
    const logger = new MemoryLogger();
    await selectRunImage({ image: "out.io/run", mirrors: ["mirror.io/run", "late.io/run"] }, "out.io", probe, logger, timing);
    const lines = logger.lines.filter((l) => l.startsWith("  "));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^ {2}out\.io\/run \(registry out\.io, the output image's registry\): not readable \(\d+ ms\): 401 Unauthorized$/);
    expect(lines[1]).toMatch(/^ {2}mirror\.io\/run \(registry mirror\.io\): readable \(\d+ ms\), selected$/);
    expect(lines[2]).toBe("  late.io/run (registry late.io): skipped, a higher-priority candidate is readable");
  });

  it("takes the first candidate at once when every probe is a no-op (daemon and layout)", async () => {
    const chosen = await selectRunImage({ image: "docker.io/acme/run", mirrors: ["out.io/run"] }, "out.io", () => Promise.resolve({ readable: true }), new MemoryLogger(), timing);
    expect(chosen).toBe("out.io/run");
  });

  it("rejects an empty primary with exit 3", async () => {
    await expect(selectRunImage({ image: "", mirrors: [] }, "x", () => Promise.resolve({ readable: true }), new MemoryLogger())).rejects.toMatchObject({
      exitCode: 3,
      message: "missing run image metadata (-run-image)",
    });
  });
});

describe("verifySelectedRunImage", () => {
  const runToml = { images: [{ image: "docker.io/acme/run:1", mirrors: ["mirror.io/acme/run:1"] }] };

  it("keeps an image run.toml does not list without probing it", async () => {
    const { probe, calls } = fakeProbe({});
    await verifySelectedRunImage("ext.io/other:1", runToml, probe, new MemoryLogger(), timing);
    expect(calls).toHaveLength(0);
  });

  it("probes exactly the selected mirror, never the primary", async () => {
    const { probe, calls } = fakeProbe({ "mirror.io/acme/run:1": readable(1) });
    await verifySelectedRunImage("mirror.io/acme/run:1", runToml, probe, new MemoryLogger(), timing);
    expect(calls.map((c) => c.ref)).toEqual(["mirror.io/acme/run:1"]);
  });

  it("fails with exit 1 within the probe bound when the selected image does not answer", async () => {
    const { probe } = fakeProbe({ "mirror.io/acme/run:1": "silent" });
    const start = Date.now();
    await expect(verifySelectedRunImage("mirror.io/acme/run:1", runToml, probe, new MemoryLogger(), timing)).rejects.toMatchObject({
      exitCode: 1,
      message: "selected run image 'mirror.io/acme/run:1' is not accessible",
    });
    expect(Date.now() - start).toBeLessThan(timing.probeTimeoutMs + 300);
  });
});

describe("runImageForLabel", () => {
  const runToml = { images: [{ image: "acme/run", mirrors: ["mirror.io/acme/run"] }, { image: "acme/alt", mirrors: [] }] };

  it("records the whole run.toml entry containing the image used, even when a mirror was used", () => {
    expect(runImageForLabel(runToml, "mirror.io/acme/run", false)).toEqual({ image: "acme/run", mirrors: ["mirror.io/acme/run"] });
    expect(runImageForLabel(runToml, "index.docker.io/acme/alt:latest", false)).toEqual({ image: "acme/alt" });
  });

  it("records just the chosen image when an extension switched to an unlisted one, else the first entry", () => {
    expect(runImageForLabel(runToml, "ext.io/switched", true)).toEqual({ image: "ext.io/switched" });
    expect(runImageForLabel(runToml, "ext.io/switched", false)).toEqual({ image: "acme/run", mirrors: ["mirror.io/acme/run"] });
    expect(runImageForLabel(undefined, "x", false)).toEqual({});
  });
});
