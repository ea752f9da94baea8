import type { V1PersistentVolume } from '@kubernetes/client-node';
import type { Clock, TimerHandle } from '../shared/clock/clock.js';
import { defaultControllerRateLimiter } from '../shared/controller/rate-limiter.js';
import type { RateLimiter } from '../shared/controller/rate-limiter.js';
import { isAlreadyExists } from '../shared/kube/errors.js';
import type { Logger } from '../shared/log/logger.js';
import type { ProvisionerKube } from './kube-ports.js';

export interface UnsavedVolumesOptions {
  kube: ProvisionerKube;
  clock: Clock;
  logger: Logger;
  /** Called once per volume when it is finally saved. */
  onSaved: (pv: V1PersistentVolume) => void;
  /** client-go's default controller limiter (5 ms → 1000 s per volume, 10 qps overall) unless given. */
  rateLimiter?: RateLimiter<string>;
}

/**
 * PVs whose volume exists on the driver but whose object could not be created (the lib's `unsavedpvs` queue).
 * They are retried forever and never cause a second CreateVolume; the volume is never deleted for this reason.
 * In memory only: a restart loses them (a leak window upstream has too).
 */
export class UnsavedVolumes {
  private readonly kube: ProvisionerKube;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly onSaved: (pv: V1PersistentVolume) => void;
  private readonly rateLimiter: RateLimiter<string>;
  private readonly pending = new Map<string, { pv: V1PersistentVolume; timer: TimerHandle }>();

  constructor(options: UnsavedVolumesOptions) {
    this.kube = options.kube;
    this.clock = options.clock;
    this.logger = options.logger;
    this.onSaved = options.onSaved;
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter<string>(options.clock);
  }

  has(pvName: string): boolean {
    return this.pending.has(pvName);
  }

  get size(): number {
    return this.pending.size;
  }

  add(pv: V1PersistentVolume): void {
    this.schedule(pv.metadata?.name ?? '', pv);
  }

  /** Cancels the retries (shutdown); the PVs are lost, as on a restart. */
  stop(): void {
    for (const { timer } of this.pending.values()) timer.cancel();
    this.pending.clear();
  }

  private schedule(name: string, pv: V1PersistentVolume): void {
    const timer = this.clock.after(this.rateLimiter.when(name), () => void this.save(name, pv));
    this.pending.set(name, { pv, timer });
  }

  private async save(name: string, pv: V1PersistentVolume): Promise<void> {
    try {
      await this.kube.createPersistentVolume(pv);
    } catch (err) {
      if (!isAlreadyExists(err)) {
        if (!this.pending.has(name)) return; // stopped meanwhile
        this.logger.error(err, 'Failed to save PersistentVolume, will retry', { pv: name });
        this.schedule(name, pv);
        return;
      }
    }
    if (!this.pending.delete(name)) return;
    this.rateLimiter.forget(name);
    this.logger.v(2).info('Saved PersistentVolume after retrying', { pv: name });
    this.onSaved(pv);
  }
}
