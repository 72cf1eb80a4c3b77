// The moment a restore record is taken, read from the clock that stamps change times (ctime) on the
// layers directory's filesystem, not from the process's clock.
//
// Linux stamps ctimes from a coarse clock that advances once per jiffy (1–10 ms), so a file written
// just before "now" and a file changed just after can carry the same ctime; network filesystems
// stamp with the server's clock, which may be off from ours by seconds, and some filesystems keep
// whole seconds. Measuring the moment on the filesystem itself sidesteps all three: a probe file
// is stamped until its ctime moves past the stamp it got right after the last write. Every entry
// written before has a ctime strictly older than that moment, and any change made after it gets a
// ctime at least as new as the moment (the clock does not go back), so it can never match a
// recorded ctime that is older. The margin of the racy rule (an entry whose recorded ctime is not
// older than the moment is re-read) is therefore exactly one step of that clock, measured rather
// than guessed: waiting costs one jiffy on a local disk (~0–10 ms, usually nothing with the
// fine-grained stamps of Linux 6.13+), one second on a filesystem with whole-second stamps.
import { randomBytes } from "node:crypto";
import { open, unlink } from "node:fs/promises";
import { join } from "node:path";
import { setTimeout as sleep } from "node:timers/promises";

/** The settled moment: a ctime (ns) newer than every change made before the call, and the device it was read on. */
export interface SettledMoment {
  readonly moment: bigint;
  readonly dev: bigint;
}

/** Longest wait for the clock to move (a 2 s-granularity filesystem needs up to 2 s). */
export const MAX_CLOCK_WAIT_MS = 3000;

/**
 * Waits until the filesystem clock of `dir` has moved past every change made so far and returns
 * that moment; undefined when it did not move within `maxWaitMs` (no record is taken then).
 */
export async function settledMoment(dir: string, maxWaitMs = MAX_CLOCK_WAIT_MS): Promise<SettledMoment | undefined> {
  const probe = join(dir, `.restore-record-clock.${process.pid}.${randomBytes(6).toString("hex")}`);
  const handle = await open(probe, "wx", 0o600);
  try {
    const first = await handle.stat({ bigint: true });
    const deadline = performance.now() + maxWaitMs;
    for (;;) {
      const now = new Date();
      await handle.utimes(now, now);
      const st = await handle.stat({ bigint: true });
      if (st.ctimeNs > first.ctimeNs) return { moment: st.ctimeNs, dev: st.dev };
      if (performance.now() > deadline) return undefined;
      await sleep(1);
    }
  } finally {
    await handle.close();
    await unlink(probe).catch(() => undefined);
  }
}
