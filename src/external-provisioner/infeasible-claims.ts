import type { V1StorageClass } from '@kubernetes/client-node';
import type { Clock } from '../shared/clock/clock.js';

/** Fixed, like upstream: its slow-set is built with the library default before the flags apply. */
export const INFEASIBLE_RETRY_DELAY_MS = 5 * 60_000;

interface Entry {
  retryAtMs: number;
  classUid: string;
}

/**
 * Claims whose CreateVolume got InvalidArgument ("infeasible"): asking again with the same StorageClass gives the
 * same answer, so attempts pause for five minutes, unless the class was deleted and created again meanwhile. As
 * upstream's library, only the UID counts: a class's parameters cannot be edited, so another resourceVersion means
 * no other request.
 */
export class InfeasibleClaims {
  private readonly clock: Clock;
  private readonly entries = new Map<string, Entry>();

  constructor(options: { clock: Clock }) {
    this.clock = options.clock;
  }

  add(claimUid: string, storageClass: V1StorageClass): void {
    this.entries.set(claimUid, {
      retryAtMs: this.clock.monotonic() + INFEASIBLE_RETRY_DELAY_MS,
      classUid: storageClass.metadata?.uid ?? '',
    });
  }

  /** Milliseconds until the claim may be tried again; 0 when it may be tried now (the entry is then dropped). */
  remainingDelayMs(claimUid: string, storageClass: V1StorageClass | undefined): number {
    const entry = this.entries.get(claimUid);
    if (!entry) return 0;
    const remaining = entry.retryAtMs - this.clock.monotonic();
    if (remaining <= 0 || (storageClass && (storageClass.metadata?.uid ?? '') !== entry.classUid)) {
      this.entries.delete(claimUid);
      return 0;
    }
    return remaining;
  }

  get size(): number {
    return this.entries.size;
  }

  delete(claimUid: string): void {
    this.entries.delete(claimUid);
  }
}
