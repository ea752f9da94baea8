import type { V1VolumeAttachment } from '@kubernetes/client-node';
import { Gauge } from 'prom-client';
import type { Registry } from 'prom-client';
import { sleep } from '../shared/clock/clock.js';
import type { Clock } from '../shared/clock/clock.js';
import type { CacheReader } from '../shared/kube/cache.js';
import type { Logger } from '../shared/log/logger.js';
import { attacherFinalizer } from './keys.js';

/** How long one count of the cache serves the gauges: both are read within one scrape. */
const SCRAPE_REUSE_MS = 1_000;

export interface PendingOperations {
  count: number;
  /** Age of the longest-waiting one, 0 when none waits. */
  oldestSeconds: number;
}

export interface Backlog {
  attach: PendingOperations;
  detach: PendingOperations;
}

export interface AttachmentBacklogOptions {
  driverName: string;
  attachments: CacheReader<V1VolumeAttachment>;
  clock: Clock;
  logger: Logger;
  registry?: Registry;
}

/**
 * How many VolumeAttachments of this driver wait for an attach or a detach, and for how long: pods that wait half an
 * hour for their volume with nothing in the attacher's log or metrics are upstream #706. Read from the informer
 * cache on each scrape and each log tick, so it costs nothing in between.
 */
export class AttachmentBacklog {
  private readonly options: AttachmentBacklogOptions;
  private readonly finalizer: string;

  constructor(options: AttachmentBacklogOptions) {
    this.options = options;
    this.finalizer = attacherFinalizer(options.driverName);
    if (options.registry) this.register(options.registry);
  }

  /** Waiting to attach: not attached and not being deleted. Waiting to detach: being deleted, finalizer still on. */
  current(): Backlog {
    const nowMs = this.options.clock.now();
    const attach: number[] = [];
    const detach: number[] = [];
    for (const va of this.options.attachments.list()) {
      if (va.spec.attacher !== this.options.driverName) continue;
      const deleted = va.metadata?.deletionTimestamp;
      if (deleted) {
        if ((va.metadata?.finalizers ?? []).includes(this.finalizer)) detach.push(sinceMs(deleted, nowMs));
      } else if (!va.status?.attached) {
        attach.push(sinceMs(va.metadata?.creationTimestamp, nowMs));
      }
    }
    return { attach: summary(attach), detach: summary(detach) };
  }

  /** Logs the backlog every intervalMs while it is not empty, until the signal aborts; 0 logs nothing. */
  async run(intervalMs: number, signal: AbortSignal): Promise<void> {
    if (!(intervalMs > 0)) return;
    while (!signal.aborted) {
      await sleep(this.options.clock, intervalMs, signal).catch(() => undefined);
      if (signal.aborted) return;
      const { attach, detach } = this.current();
      if (attach.count === 0 && detach.count === 0) continue;
      this.options.logger.info('VolumeAttachments waiting', {
        attach: attach.count,
        oldestAttachSeconds: attach.oldestSeconds,
        detach: detach.count,
        oldestDetachSeconds: detach.oldestSeconds,
      });
    }
  }

  private register(registry: Registry): void {
    // Both gauges are collected in one scrape: count the cache once for them.
    let counted: { at: number; backlog: Backlog } | undefined;
    const backlog = (): Backlog => {
      const at = this.options.clock.monotonic();
      if (!counted || at - counted.at > SCRAPE_REUSE_MS) counted = { at, backlog: this.current() };
      return counted.backlog;
    };
    new Gauge({
      name: 'csi_attacher_volumeattachments_pending',
      help: 'VolumeAttachments of this driver waiting to be attached or detached.',
      labelNames: ['operation'],
      registers: [registry],
      collect() {
        const { attach, detach } = backlog();
        this.set({ operation: 'attach' }, attach.count);
        this.set({ operation: 'detach' }, detach.count);
      },
    });
    new Gauge({
      name: 'csi_attacher_volumeattachment_oldest_pending_seconds',
      help: 'How long the longest-waiting VolumeAttachment has waited to be attached or detached.',
      labelNames: ['operation'],
      registers: [registry],
      collect() {
        const { attach, detach } = backlog();
        this.set({ operation: 'attach' }, attach.oldestSeconds);
        this.set({ operation: 'detach' }, detach.oldestSeconds);
      },
    });
  }
}

function sinceMs(timestamp: Date | string | undefined, nowMs: number): number {
  if (timestamp === undefined) return 0;
  return Math.max(0, nowMs - new Date(timestamp).getTime());
}

function summary(agesMs: number[]): PendingOperations {
  const oldestMs = agesMs.reduce((max, age) => Math.max(max, age), 0);
  return { count: agesMs.length, oldestSeconds: Math.round(oldestMs / 1000) };
}
