import type { V1PersistentVolume } from '@kubernetes/client-node';
import type { Clock } from '../shared/clock/clock.js';
import type { CacheReader } from '../shared/kube/cache.js';

/**
 * How long a PV saved by this process counts as existing without the volumes informer showing it. Long enough
 * for any watch delay; afterwards the cache alone decides (a PV deleted meanwhile never shows up).
 */
export const SAVED_VOLUME_TTL_MS = 5 * 60_000;

/**
 * PVs this process saved that the volumes cache may not show yet, so a claim re-queued during CreateVolume is not
 * provisioned a second time before the PV's watch event arrives. PV name → monotonic expiry.
 */
export class SavedVolumes {
  private readonly expiries = new Map<string, number>();
  private readonly volumes: CacheReader<V1PersistentVolume>;
  private readonly clock: Clock;

  constructor(volumes: CacheReader<V1PersistentVolume>, clock: Clock) {
    this.volumes = volumes;
    this.clock = clock;
  }

  get size(): number {
    return this.expiries.size;
  }

  /** The cache has the PV now, it need not be remembered. */
  forget(name: string): void {
    this.expiries.delete(name);
  }

  /** Saved by this process and not yet in the volumes cache (the entry goes once the cache has it, or expires). */
  has(name: string): boolean {
    const expiresAt = this.expiries.get(name);
    if (expiresAt === undefined) return false;
    if (this.volumes.get(name) || this.clock.monotonic() >= expiresAt) {
      this.expiries.delete(name);
      return false;
    }
    return true;
  }

  remember(pv: V1PersistentVolume): void {
    const now = this.clock.monotonic();
    // Entries whose claim is never synced again are dropped here (the add handler normally drops them first).
    for (const [saved, expiresAt] of this.expiries) if (now >= expiresAt) this.expiries.delete(saved);
    const name = pv.metadata?.name;
    if (name && !this.volumes.get(name)) this.expiries.set(name, now + SAVED_VOLUME_TTL_MS);
  }
}
