/** A stack of cleanup actions owned by one resource, run last-in first-out. */
export interface Cleanup {
  /** Adds an action; it runs before every action added earlier. */
  add(action: () => Promise<void> | void): void;
  /** Runs every action once (all of them, even when some fail) and rethrows the failures. */
  run(): Promise<void>;
}

/** Creates an empty cleanup stack. */
export function createCleanup(): Cleanup {
  const actions: (() => Promise<void> | void)[] = [];
  return {
    add(action) {
      actions.push(action);
    },
    async run() {
      const errors: unknown[] = [];
      for (let action = actions.pop(); action !== undefined; action = actions.pop()) {
        try {
          await action();
        } catch (error) {
          errors.push(error);
        }
      }
      if (errors.length === 1) throw errors[0];
      if (errors.length > 1) throw new AggregateError(errors, "several cleanup actions failed");
    },
  };
}

