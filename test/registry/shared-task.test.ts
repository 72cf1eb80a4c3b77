// SharedTask alone (pure logic): one run for many waiters, each leaving on its own signal, the
// run cancelled only when nobody waits any more. The ping and token fetches are built on it.
import { describe, expect, it } from "vitest";
import { SharedTask } from "../../src/registry/shared-task.js";

/** A task that resolves when told to, and records whether its own signal aborted. */
function controllable(): { task: SharedTask<string>; finish: (value: string) => void; readonly runs: number; aborted: () => boolean } {
  let finish: (value: string) => void = () => undefined;
  let signal: AbortSignal | undefined;
  const state = { runs: 0 };
  const task = new SharedTask((s) => {
    state.runs++;
    signal = s;
    return new Promise<string>((resolve, reject) => {
      finish = resolve;
      s.addEventListener("abort", () => reject(new Error("run aborted")));
    });
  });
  return {
    task,
    finish: (v) => finish(v),
    get runs() {
      return state.runs;
    },
    aborted: () => signal?.aborted ?? false,
  };
}

describe("SharedTask", () => {
  it("runs once and gives every waiter the same result", async () => {
    const t = controllable();
    const waiters = [t.task.join(), t.task.join(new AbortController().signal), t.task.join()];
    t.finish("pong");
    expect(await Promise.all(waiters)).toEqual(["pong", "pong", "pong"]);
    expect(t.runs).toBe(1);
  });

  it("lets one waiter leave on its signal without failing or cancelling the others", async () => {
    const t = controllable();
    const leaving = new AbortController();
    const left = t.task.join(leaving.signal).catch((e: unknown) => e);
    const staying = t.task.join(new AbortController().signal);
    leaving.abort(new Error("timed out"));
    expect(((await left) as Error).message).toBe("timed out");
    expect(t.aborted()).toBe(false);
    expect(t.task.abandoned).toBe(false);
    t.finish("pong");
    expect(await staying).toBe("pong");
  });

  it("cancels the run when the last waiter leaves, and says so", async () => {
    const t = controllable();
    const a = new AbortController();
    const b = new AbortController();
    const first = t.task.join(a.signal).catch((e: unknown) => e);
    const second = t.task.join(b.signal).catch((e: unknown) => e);
    a.abort(new Error("a left"));
    expect(t.aborted()).toBe(false);
    b.abort(new Error("b left"));
    expect(t.aborted()).toBe(true);
    expect(t.task.abandoned).toBe(true);
    expect([((await first) as Error).message, ((await second) as Error).message]).toEqual(["a left", "b left"]);
    await expect(t.task.outcome).rejects.toThrow("run aborted");
  });

  it("never cancels a run that a waiter without a signal waits for", async () => {
    const t = controllable();
    const leaving = new AbortController();
    const left = t.task.join(leaving.signal).catch((e: unknown) => e);
    const patient = t.task.join();
    leaving.abort(new Error("left"));
    await left;
    expect(t.aborted()).toBe(false);
    t.finish("pong");
    expect(await patient).toBe("pong");
  });

  it("rejects a waiter whose signal has already aborted, without counting it", async () => {
    const t = controllable();
    const gone = new AbortController();
    gone.abort(new Error("already gone"));
    await expect(t.task.join(gone.signal)).rejects.toThrow("already gone");
    expect(t.aborted()).toBe(false);
  });

  it("passes the run's failure to every waiter", async () => {
    const task = new SharedTask<string>(() => Promise.reject(new Error("503")));
    await expect(task.join()).rejects.toThrow("503");
    await expect(task.join(new AbortController().signal)).rejects.toThrow("503");
  });
});
