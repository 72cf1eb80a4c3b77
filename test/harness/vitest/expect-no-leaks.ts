import { afterAll, expect } from "vitest";
import { runningTools } from "../process/run-tool.js";
import { liveServices } from "../process/service.js";

/**
 * Registers an afterAll that fails the suite if any harness service or tool process is still
 * running. Call it before the other `use*` helpers: afterAll hooks run in reverse order.
 */
export function expectNoLeakedProcesses(): void {
  afterAll(() => {
    expect(liveServices()).toEqual([]);
    expect(runningTools()).toBe(0);
  });
}
