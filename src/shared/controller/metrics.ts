import { Counter, Gauge, Histogram, exponentialBuckets } from 'prom-client';
import type { Metric, Registry } from 'prom-client';
import type { Clock } from '../clock/clock.js';

/**
 * component-base (v0.36, the version the Go sidecars vendor) writes the
 * stability level into HELP; the workqueue family became BETA in Kubernetes 1.36.
 */
const STABILITY = '[BETA] ';

/** 1e-8 s … 10 s, computed like Go's ExponentialBuckets(10e-9, 10, 10) so the bounds are bit-identical. */
const DURATION_BUCKETS = exponentialBuckets(10e-9, 10, 10);

/** What a work queue reports about itself; one instance per queue. */
export interface QueueMetrics<K> {
  /** A key entered the queue (it was not already waiting). */
  add(key: K): void;
  /** A worker took the key. */
  get(key: K): void;
  /** A worker finished the key. */
  done(key: K): void;
  /** addAfter / addRateLimited was called. */
  retry(): void;
  /** The queue shut down; its live gauges stop being reported. */
  close(): void;
}

export function noQueueMetrics<K>(): QueueMetrics<K> {
  return { add() {}, get() {}, done() {}, retry() {}, close() {} };
}

/** Live figures of one queue, read at scrape time. */
interface QueueSnapshot {
  readonly name: string;
  unfinishedSeconds(): number;
  longestRunningSeconds(): number;
  oldestWaitingSeconds(): number;
}

type Aggregate = 'sum' | 'max';

const factories = new WeakMap<Registry, WorkQueueMetricsFactory>();

/**
 * The `workqueue_*` families on one Registry, shared by every queue of the
 * process and told apart by the `name` label. Queues that share a name add up
 * (depth, adds, retries, unfinished work) or report the worst value (longest
 * running processor, oldest item age).
 */
export class WorkQueueMetricsFactory {
  private readonly depth: Gauge<'name'>;
  private readonly adds: Counter<'name'>;
  private readonly latency: Histogram<'name'>;
  private readonly workDuration: Histogram<'name'>;
  private readonly retries: Counter<'name'>;
  private readonly live = new Set<QueueSnapshot>();
  /** Names ever seen, so computed gauges report 0 rather than vanish once a queue is gone. */
  private readonly names = new Set<string>();

  /** The factory of this registry, created on first use. */
  static forRegistry(registry: Registry): WorkQueueMetricsFactory {
    let factory = factories.get(registry);
    if (!factory) {
      factory = new WorkQueueMetricsFactory(registry);
      factories.set(registry, factory);
    }
    return factory;
  }

  private constructor(registry: Registry) {
    const register = <M extends Metric<'name'>>(metric: M, name: string): M => {
      // Another component may already own the name; keep theirs rather than throw.
      if (!registry.getSingleMetric(name)) registry.registerMetric(metric);
      return metric;
    };
    const labelNames = ['name'] as const;
    this.depth = register(
      new Gauge({ name: 'workqueue_depth', help: `${STABILITY}Current depth of workqueue`, labelNames, registers: [] }),
      'workqueue_depth',
    );
    this.adds = register(
      new Counter({
        name: 'workqueue_adds_total',
        help: `${STABILITY}Total number of adds handled by workqueue`,
        labelNames,
        registers: [],
      }),
      'workqueue_adds_total',
    );
    this.latency = register(
      new Histogram({
        name: 'workqueue_queue_duration_seconds',
        help: `${STABILITY}How long in seconds an item stays in workqueue before being requested.`,
        labelNames,
        buckets: DURATION_BUCKETS,
        registers: [],
      }),
      'workqueue_queue_duration_seconds',
    );
    this.workDuration = register(
      new Histogram({
        name: 'workqueue_work_duration_seconds',
        help: `${STABILITY}How long in seconds processing an item from workqueue takes.`,
        labelNames,
        buckets: DURATION_BUCKETS,
        registers: [],
      }),
      'workqueue_work_duration_seconds',
    );
    register(
      this.computedGauge(
        'workqueue_unfinished_work_seconds',
        `${STABILITY}How many seconds of work has done that is in progress and hasn't been observed by work_duration. ` +
          'Large values indicate stuck threads. One can deduce the number of stuck threads by observing the rate at ' +
          'which this increases.',
        'sum',
        (q) => q.unfinishedSeconds(),
      ),
      'workqueue_unfinished_work_seconds',
    );
    register(
      this.computedGauge(
        'workqueue_longest_running_processor_seconds',
        `${STABILITY}How many seconds has the longest running processor for workqueue been running.`,
        'max',
        (q) => q.longestRunningSeconds(),
      ),
      'workqueue_longest_running_processor_seconds',
    );
    this.retries = register(
      new Counter({
        name: 'workqueue_retries_total',
        help: `${STABILITY}Total number of retries handled by workqueue`,
        labelNames,
        registers: [],
      }),
      'workqueue_retries_total',
    );
    // Not in client-go: how long the oldest waiting item has been waiting, a direct signal of a backlog.
    register(
      this.computedGauge(
        'workqueue_oldest_item_age_seconds',
        'How many seconds the oldest item waiting in workqueue has been waiting.',
        'max',
        (q) => q.oldestWaitingSeconds(),
      ),
      'workqueue_oldest_item_age_seconds',
    );
  }

  /** Metrics for one queue; pass the queue's own clock so durations agree with its timers. */
  newQueueMetrics<K>(name: string, clock: Clock): QueueMetrics<K> {
    if (!this.names.has(name)) {
      // Go creates every series with the queue; a zero sample beats a missing one for rate() and alerts.
      this.names.add(name);
      this.depth.inc({ name }, 0);
      this.adds.inc({ name }, 0);
      this.retries.inc({ name }, 0);
      this.latency.zero({ name });
      this.workDuration.zero({ name });
    }
    const tracker = new QueueTracker<K>({
      name,
      clock,
      depth: this.depth.labels({ name }),
      adds: this.adds.labels({ name }),
      latency: this.latency.labels({ name }),
      workDuration: this.workDuration.labels({ name }),
      retries: this.retries.labels({ name }),
      onClose: (t) => this.live.delete(t),
    });
    this.live.add(tracker);
    return tracker;
  }

  /** A gauge whose values are computed from the live queues when scraped, so no timer is needed. */
  private computedGauge(
    name: string,
    help: string,
    aggregate: Aggregate,
    read: (q: QueueSnapshot) => number,
  ): Gauge<'name'> {
    const names = this.names;
    const live = this.live;
    return new Gauge({
      name,
      help,
      labelNames: ['name'],
      registers: [],
      collect(): void {
        const values = new Map<string, number>();
        for (const n of names) values.set(n, 0);
        for (const q of live) {
          const current = values.get(q.name) ?? 0;
          const value = read(q);
          values.set(q.name, aggregate === 'sum' ? current + value : Math.max(current, value));
        }
        this.reset();
        for (const [n, value] of values) this.set({ name: n }, value);
      },
    });
  }
}

interface QueueTrackerOptions<K> {
  name: string;
  clock: Clock;
  depth: Gauge.Internal<'name'>;
  adds: Counter.Internal;
  latency: Histogram.Internal<'name'>;
  workDuration: Histogram.Internal<'name'>;
  retries: Counter.Internal;
  onClose: (tracker: QueueTracker<K>) => void;
}

/** Per-queue bookkeeping, the counterpart of client-go's defaultQueueMetrics. */
class QueueTracker<K> implements QueueMetrics<K>, QueueSnapshot {
  readonly name: string;
  private readonly options: QueueTrackerOptions<K>;
  /** Insertion order is arrival order (the clock never goes back), so the first entry is the oldest. */
  private readonly addTimes = new Map<K, number>();
  private readonly startTimes = new Map<K, number>();

  constructor(options: QueueTrackerOptions<K>) {
    this.name = options.name;
    this.options = options;
  }

  add(key: K): void {
    this.options.adds.inc();
    this.options.depth.inc();
    if (!this.addTimes.has(key)) this.addTimes.set(key, this.options.clock.monotonic());
  }

  get(key: K): void {
    const now = this.options.clock.monotonic();
    this.options.depth.dec();
    const added = this.addTimes.get(key);
    if (added !== undefined) {
      this.options.latency.observe(seconds(now - added));
      this.addTimes.delete(key);
    }
    this.startTimes.set(key, now);
  }

  done(key: K): void {
    const started = this.startTimes.get(key);
    if (started === undefined) return;
    this.options.workDuration.observe(seconds(this.options.clock.monotonic() - started));
    this.startTimes.delete(key);
  }

  retry(): void {
    this.options.retries.inc();
  }

  close(): void {
    this.options.onClose(this);
  }

  unfinishedSeconds(): number {
    const now = this.options.clock.monotonic();
    let total = 0;
    for (const started of this.startTimes.values()) total += seconds(now - started);
    return total;
  }

  longestRunningSeconds(): number {
    const now = this.options.clock.monotonic();
    let longest = 0;
    for (const started of this.startTimes.values()) longest = Math.max(longest, seconds(now - started));
    return longest;
  }

  oldestWaitingSeconds(): number {
    for (const added of this.addTimes.values()) return seconds(this.options.clock.monotonic() - added);
    return 0;
  }
}

function seconds(ms: number): number {
  return Math.max(0, ms) / 1000;
}
