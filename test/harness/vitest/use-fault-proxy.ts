import { beforeEach } from "vitest";
import { startFaultProxy, type FaultProxy, type FaultProxyOptions } from "../proxy/fault-proxy.js";
import { useResource } from "./use-resource.js";

/** Options for `useFaultProxy`. */
export interface UseFaultProxyOptions extends Omit<FaultProxyOptions, "upstream"> {
  /** Clear rules and counters before every test (default true). */
  resetBetweenTests?: boolean;
}

/**
 * Starts a fault proxy for the suite in front of the registry `upstream()` returns (call
 * `useRegistry` first so the registry is up when this beforeAll runs); returns its accessor.
 */
export function useFaultProxy(upstream: () => FaultProxyOptions["upstream"], options: UseFaultProxyOptions = {}): () => FaultProxy {
  const { resetBetweenTests = true, ...proxyOptions } = options;
  const proxy = useResource("fault proxy", () => startFaultProxy({ ...proxyOptions, upstream: upstream() }));
  if (resetBetweenTests) {
    beforeEach(() => {
      proxy().clearRules();
      proxy().resetCounters();
    });
  }
  return proxy;
}
