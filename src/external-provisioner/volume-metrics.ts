import { Counter, Histogram } from 'prom-client';
import type { Registry } from 'prom-client';

/** Prometheus' DefBuckets, which the lib's duration histograms use. */
const DEFAULT_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];

/**
 * The lib's deletion metrics (controller/metrics), names, help texts and the
 * `class` label (the PV's spec.storageClassName) unchanged so existing
 * dashboards keep working.
 */
export class VolumeDeleteMetrics {
  private readonly total: Counter;
  private readonly failedTotal: Counter;
  private readonly duration: Histogram;

  constructor(options: { registry: Registry }) {
    const registers = [options.registry];
    this.total = new Counter({
      name: 'controller_persistentvolume_delete_total',
      help: 'Total number of persistent volumes deleted succesfully. Broken down by storage class name.',
      labelNames: ['class'],
      registers,
    });
    this.failedTotal = new Counter({
      name: 'controller_persistentvolume_delete_failed_total',
      help: 'Total number of persistent volume delete failed attempts. Broken down by storage class name.',
      labelNames: ['class'],
      registers,
    });
    this.duration = new Histogram({
      name: 'controller_persistentvolume_delete_duration_seconds',
      help: 'Latency in seconds to delete persistent volumes. Failed deletion attempts are ignored. Broken down by storage class name.',
      labelNames: ['class'],
      buckets: DEFAULT_BUCKETS,
      registers,
    });
  }

  succeeded(className: string, seconds: number): void {
    this.duration.observe({ class: className }, seconds);
    this.total.inc({ class: className });
  }

  failed(className: string): void {
    this.failedTotal.inc({ class: className });
  }
}
