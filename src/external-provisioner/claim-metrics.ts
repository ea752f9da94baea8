import type { Registry } from 'prom-client';
import { Counter, Histogram } from 'prom-client';

/** Prometheus' default buckets (client_golang DefBuckets), which the lib uses for the duration histogram. */
const DEFAULT_BUCKETS: readonly number[] = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10];
const LABELS = ['class', 'source'] as const;

export interface ClaimMetricLabels {
  /** StorageClass name. */
  class: string;
  /** `spec.dataSource.kind`, or empty. */
  source: string;
}

/** The lib's provisioning metrics (`controller_persistentvolumeclaim_provision_*`). */
export class ClaimMetrics {
  private readonly total: Counter<(typeof LABELS)[number]>;
  private readonly failed: Counter<(typeof LABELS)[number]>;
  private readonly duration: Histogram<(typeof LABELS)[number]>;

  constructor(options: { registry: Registry }) {
    const registers = [options.registry];
    this.total = new Counter({
      name: 'controller_persistentvolumeclaim_provision_total',
      help: 'Total number of persistent volumes provisioned succesfully. Broken down by storage class name and source of the claim.',
      labelNames: LABELS,
      registers,
    });
    this.failed = new Counter({
      name: 'controller_persistentvolumeclaim_provision_failed_total',
      help: 'Total number of persistent volume provision failed attempts. Broken down by storage class name and source of the claim.',
      labelNames: LABELS,
      registers,
    });
    this.duration = new Histogram({
      name: 'controller_persistentvolumeclaim_provision_duration_seconds',
      help: 'Latency in seconds to provision persistent volumes. Failed provisioning attempts are ignored. Broken down by storage class name and source of the claim.',
      labelNames: LABELS,
      buckets: [...DEFAULT_BUCKETS],
      registers,
    });
  }

  succeeded(labels: ClaimMetricLabels, seconds: number): void {
    this.total.inc({ ...labels });
    this.duration.observe({ ...labels }, seconds);
  }

  failedAttempt(labels: ClaimMetricLabels): void {
    this.failed.inc({ ...labels });
  }
}
