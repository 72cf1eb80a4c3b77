import { describe, expect, it } from "vitest";
import { MemoryLogger } from "../../src/log/logger.js";
import { formatBytes, progressLine, ProgressReporter, type ProgressClock } from "../../src/log/progress.js";

/** A clock that moves only when told: intervals fire in time order as `advance` passes them. */
class ManualClock implements ProgressClock {
  private time = 0;
  private readonly timers = new Set<{ next: number; ms: number; fn: () => void }>();

  now(): number {
    return this.time;
  }

  every(ms: number, fn: () => void): () => void {
    const timer = { next: this.time + ms, ms, fn };
    this.timers.add(timer);
    return () => this.timers.delete(timer);
  }

  /** Moves time forward by `ms`, firing every interval due on the way. */
  advance(ms: number): void {
    const until = this.time + ms;
    for (;;) {
      const due = [...this.timers].filter((t) => t.next <= until).sort((a, b) => a.next - b.next)[0];
      if (!due) break;
      this.time = due.next;
      due.next += due.ms;
      due.fn();
    }
    this.time = until;
  }

  get active(): number {
    return this.timers.size;
  }
}

function setup() {
  const logger = new MemoryLogger("info");
  const clock = new ManualClock();
  return { logger, clock, progress: new ProgressReporter(logger, { clock }) };
}

describe("progress lines for long transfers", () => {
  it("prints nothing for a transfer that ends within 5 s, and stops its timer", () => {
    const { logger, clock, progress } = setup();
    const t = progress.start("Uploading", "layer 'acme/node:deps'", 10_000_000);
    clock.advance(4_000);
    t.set(10_000_000);
    t.end();
    clock.advance(60_000);
    expect(logger.lines).toEqual([]);
    expect(clock.active).toBe(0);
  });

  it("prints one line every 5 s with bytes done, total, percentage and the rate of the last interval", () => {
    const { logger, clock, progress } = setup();
    const t = progress.start("Uploading", "layer 'acme/node:deps'", 260_500_000);
    t.set(100_000_000);
    clock.advance(5_000);
    t.set(120_000_000);
    clock.advance(4_999);
    expect(logger.lines).toEqual(["Uploading layer 'acme/node:deps': 100.0 MB of 260.5 MB (38%, 20.0 MB/s)"]);
    clock.advance(1);
    t.set(260_500_000);
    clock.advance(5_000);
    t.end();
    clock.advance(20_000);
    expect(logger.lines).toEqual([
      "Uploading layer 'acme/node:deps': 100.0 MB of 260.5 MB (38%, 20.0 MB/s)",
      "Uploading layer 'acme/node:deps': 120.0 MB of 260.5 MB (46%, 4.0 MB/s)",
      "Uploading layer 'acme/node:deps': 260.5 MB of 260.5 MB (100%, 28.1 MB/s)",
    ]);
  });

  it("leaves the total out when it is unknown, and counts added bytes", () => {
    const { logger, clock, progress } = setup();
    const t = progress.start("Extracting", "layer 'acme/node:node'");
    t.add(1_500_000);
    t.add(1_500_000);
    clock.advance(5_000);
    t.setTotal(12_000_000);
    t.add(3_000_000);
    clock.advance(5_000);
    t.end();
    expect(logger.lines).toEqual([
      "Extracting layer 'acme/node:node': 3.0 MB (0.6 MB/s)",
      "Extracting layer 'acme/node:node': 6.0 MB of 12.0 MB (50%, 0.6 MB/s)",
    ]);
  });

  it("still prints while no byte moves (a stalled transfer does not look finished)", () => {
    const { logger, clock, progress } = setup();
    const t = progress.start("Downloading", "layer 'acme/node:node'", 1_000_000);
    clock.advance(10_000);
    t.end();
    expect(logger.lines).toEqual([
      "Downloading layer 'acme/node:node': 0.0 MB of 1.0 MB (0%, 0.0 MB/s)",
      "Downloading layer 'acme/node:node': 0.0 MB of 1.0 MB (0%, 0.0 MB/s)",
    ]);
  });

  it("never prints more than one line per layer per 5 s, even with two transfers of it at once", () => {
    const { logger, clock, progress } = setup();
    const a = progress.start("Uploading", "layer 'acme/node:deps'", 50_000_000);
    clock.advance(2_000);
    const b = progress.start("Uploading", "layer 'acme/node:deps'", 50_000_000);
    const other = progress.start("Uploading", "layer 'acme/npm:modules'", 50_000_000);
    clock.advance(18_000);
    a.end();
    b.end();
    other.end();
    const deps = logger.lines.filter((l) => l.includes("acme/node:deps"));
    const modules = logger.lines.filter((l) => l.includes("acme/npm:modules"));
    // 20 s: lines at 5, 10, 15, 20 s; the second transfer's ticks fall within those intervals
    expect(deps).toHaveLength(4);
    expect(modules).toHaveLength(3);
  });

  it("shows a restarted attempt's bytes without a negative rate", () => {
    const { logger, clock, progress } = setup();
    const t = progress.start("Uploading", "layer 'x'", 10_000_000);
    t.set(8_000_000);
    clock.advance(5_000);
    t.set(1_000_000);
    clock.advance(5_000);
    t.end();
    expect(logger.lines[1]).toBe("Uploading layer 'x': 1.0 MB of 10.0 MB (10%, 0.2 MB/s)");
  });

  it("formats sizes in decimal MB, and GB from 1 GB", () => {
    expect(formatBytes(0)).toBe("0.0 MB");
    expect(formatBytes(38_249_999)).toBe("38.2 MB");
    expect(formatBytes(2_600_000_000)).toBe("2.6 GB");
    expect(progressLine("Downloading", "layer 'a'", 5, 0, 0)).toBe("Downloading layer 'a': 0.0 MB (0.0 MB/s)");
  });
});
