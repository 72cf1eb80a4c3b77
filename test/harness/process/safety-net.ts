// Last-resort cleanup: synchronous hooks run when this process exits normally or is told to
// stop with SIGTERM/SIGINT/SIGHUP (vitest ends its fork workers with SIGTERM, which skips
// 'exit' handlers). Deaths by SIGKILL are covered by the service watchdog (service.ts), which
// notices that its lifeline pipe closed.

const hooks = new Set<() => void>();
let installed = false;
const SIGNALS: readonly NodeJS.Signals[] = ["SIGTERM", "SIGINT", "SIGHUP"];

function runHooks(): void {
  for (const hook of [...hooks]) {
    try {
      hook();
    } catch {
      // best effort: the process is going away anyway
    }
  }
  hooks.clear();
}

function onSignal(signal: NodeJS.Signals): void {
  runHooks();
  for (const other of SIGNALS) process.removeListener(other, onSignal);
  // With no listener left Node restores the default action, so re-raising ends the process as
  // the signal would have; when someone else listens, they decide.
  if (process.listenerCount(signal) === 0) process.kill(process.pid, signal);
}

/** Registers a synchronous hook run at process exit or on a terminating signal; returns an unregister function. */
export function onProcessExit(hook: () => void): () => void {
  if (!installed) {
    installed = true;
    process.once("exit", runHooks);
    for (const signal of SIGNALS) process.on(signal, onSignal);
  }
  hooks.add(hook);
  return () => {
    hooks.delete(hook);
  };
}
