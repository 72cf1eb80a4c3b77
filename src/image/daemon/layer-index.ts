// What this process knows the daemon holds: the layers of every image it inspected or loaded.
// It decides which layers of an image being loaded may go as zero-byte placeholders.
import type { DaemonKind } from "./daemon-kind.js";

/** Layers known to be in the daemon, as single diffIDs and as chains from the bottom. */
export class DaemonLayerIndex {
  private readonly held = new Set<string>();
  private readonly chains = new Map<string, readonly string[]>();

  /** Records the layers of an image found in (or loaded into) the daemon, base first. */
  record(diffIds: readonly string[]): void {
    for (const d of diffIds) this.held.add(d);
    if (diffIds.length > 0) this.chains.set(diffIds.join(","), [...diffIds]);
  }

  /** Whether some known image has this layer. */
  holds(diffId: string): boolean {
    return this.held.has(diffId);
  }

  /** How many bottom layers of `diffIds` equal the bottom of a known image (Docker's reusable chain). */
  storedChainLength(diffIds: readonly string[]): number {
    let best = 0;
    for (const chain of this.chains.values()) {
      let n = 0;
      while (n < chain.length && n < diffIds.length && chain[n] === diffIds[n]) n++;
      best = Math.max(best, n);
    }
    return best;
  }

  /**
   * Which layers a load may leave out: podman reuses any stored layer by diffID; Docker's graph
   * driver store only a stored chain from the bottom; Docker's containerd store none.
   */
  placeholders(kind: DaemonKind, diffIds: readonly string[]): boolean[] {
    if (kind === "podman") return diffIds.map((d) => this.held.has(d));
    if (kind === "docker") {
      const chain = this.storedChainLength(diffIds);
      return diffIds.map((_, i) => i < chain);
    }
    return diffIds.map(() => false);
  }
}
