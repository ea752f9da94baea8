import type { V1PersistentVolume } from '@kubernetes/client-node';
import type { Clock } from '../shared/clock/clock.js';
import { runWorkers } from '../shared/controller/controller.js';
import type { WorkQueueMetricsFactory } from '../shared/controller/metrics.js';
import type { RateLimiter } from '../shared/controller/rate-limiter.js';
import { WorkQueue } from '../shared/controller/work-queue.js';
import { isAlreadyExists } from '../shared/kube/errors.js';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import type { ProvisionerKube } from './kube-ports.js';

/** The lib's queue name, so `workqueue_*{name="unsavedpvs"}` dashboards keep working. */
export const UNSAVED_QUEUE_NAME = 'unsavedpvs';

export interface UnsavedVolumesOptions {
  kube: ProvisionerKube;
  clock: Clock;
  logger: Logger;
  /** Called once per volume when it is finally saved. */
  onSaved: (pv: V1PersistentVolume) => void;
  metrics?: WorkQueueMetricsFactory;
  /** client-go's default controller limiter (5 ms → 1000 s per volume, 10 qps overall) unless given. */
  rateLimiter?: RateLimiter<string>;
}

/**
 * PVs whose volume exists on the driver but whose object could not be created (the lib's `unsavedpvs` queue: the
 * first retry at once, then per-volume backoff). They are retried forever and never cause a second CreateVolume;
 * the volume is never deleted for this reason. In memory only: a restart loses them (a leak window upstream has
 * too).
 */
export class UnsavedVolumes {
  private readonly kube: ProvisionerKube;
  private readonly logger: Logger;
  private readonly onSaved: (pv: V1PersistentVolume) => void;
  private readonly queue: WorkQueue<string>;
  private readonly pending = new Map<string, V1PersistentVolume>();

  constructor(options: UnsavedVolumesOptions) {
    this.kube = options.kube;
    this.logger = options.logger;
    this.onSaved = options.onSaved;
    this.queue = new WorkQueue<string>({
      name: UNSAVED_QUEUE_NAME,
      clock: options.clock,
      ...(options.rateLimiter ? { rateLimiter: options.rateLimiter } : {}),
      ...(options.metrics ? { metrics: options.metrics } : {}),
    });
    // One worker: saves are rare and each is one request; the queue exists from the start like upstream's.
    void runWorkers({ queue: this.queue, workers: 1, sync: (name) => this.save(name), logger: options.logger });
  }

  has(pvName: string): boolean {
    return this.pending.has(pvName);
  }

  get size(): number {
    return this.pending.size;
  }

  add(pv: V1PersistentVolume): void {
    const name = pv.metadata?.name ?? '';
    this.pending.set(name, pv);
    this.queue.add(name);
  }

  /** Stops the retries (shutdown); the PVs are lost, as on a restart. */
  stop(): void {
    this.pending.clear();
    this.queue.shutDown();
  }

  private async save(name: string): Promise<void> {
    const pv = this.pending.get(name);
    if (!pv) return;
    try {
      await this.kube.createPersistentVolume(pv);
    } catch (err) {
      if (!isAlreadyExists(err)) {
        throw new Error(`failed to save PersistentVolume ${name}: ${errorText(err)}`, { cause: err });
      }
    }
    if (!this.pending.delete(name)) return;
    this.logger.v(2).info('Saved PersistentVolume after retrying', { pv: name });
    this.onSaved(pv);
  }
}
