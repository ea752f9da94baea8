import { Gauge, Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { WorkQueueMetricsFactory } from './metrics.js';
import { ItemExponentialRateLimiter } from './rate-limiter.js';
import { WorkQueue } from './work-queue.js';

interface Setup {
  registry: Registry;
  clock: FakeClock;
  queue: WorkQueue;
}

function setup(name = 'claims'): Setup {
  const registry = new Registry();
  const clock = new FakeClock();
  const queue = new WorkQueue({
    name,
    clock,
    rateLimiter: new ItemExponentialRateLimiter({ baseDelayMs: 1000, maxDelayMs: 8000 }),
    metrics: WorkQueueMetricsFactory.forRegistry(registry),
  });
  return { registry, clock, queue };
}

/** The sample of metric with the given labels, read back as a scrape would. */
async function sample(registry: Registry, metric: string, labels: Record<string, string>): Promise<number> {
  const all = await registry.getMetricsAsJSON();
  const family = all.find((m) => metric === m.name || metric.startsWith(`${m.name}_`));
  if (!family) throw new Error(`metric ${metric} not registered`);
  // Histogram samples carry their series name (_bucket, _sum, _count) in metricName.
  const values = family.values as { value: number; labels: Record<string, unknown>; metricName?: string }[];
  const found = values.find(
    (v) =>
      (v.metricName ?? family.name) === metric &&
      Object.entries(labels).every(([k, want]) => String(v.labels[k]) === want),
  );
  if (!found) throw new Error(`no ${metric} sample with ${JSON.stringify(labels)}`);
  return found.value;
}

async function take(queue: WorkQueue): Promise<string> {
  const next = await queue.get();
  if (next.shutdown) throw new Error('queue unexpectedly shut down');
  return next.key;
}

describe('workqueue metrics', () => {
  it('exposes zeroed series for a queue as soon as it is created', async () => {
    const { registry } = setup();
    expect(await sample(registry, 'workqueue_depth', { name: 'claims' })).toBe(0);
    expect(await sample(registry, 'workqueue_adds_total', { name: 'claims' })).toBe(0);
    expect(await sample(registry, 'workqueue_retries_total', { name: 'claims' })).toBe(0);
    expect(await sample(registry, 'workqueue_queue_duration_seconds_count', { name: 'claims' })).toBe(0);
    expect(await sample(registry, 'workqueue_work_duration_seconds_count', { name: 'claims' })).toBe(0);
  });

  it('counts adds that enter the queue and tracks the depth', async () => {
    const { registry, queue } = setup();
    queue.add('a');
    queue.add('a');
    queue.add('b');
    expect(await sample(registry, 'workqueue_adds_total', { name: 'claims' })).toBe(2);
    expect(await sample(registry, 'workqueue_depth', { name: 'claims' })).toBe(2);
    await take(queue);
    expect(await sample(registry, 'workqueue_depth', { name: 'claims' })).toBe(1);
  });

  it('counts a key re-added during processing in the depth, as client-go does', async () => {
    const { registry, queue } = setup();
    queue.add('a');
    await take(queue);
    queue.add('a');
    expect(await sample(registry, 'workqueue_depth', { name: 'claims' })).toBe(1);
    expect(await sample(registry, 'workqueue_adds_total', { name: 'claims' })).toBe(2);
  });

  it('counts every delayed or rate-limited add as a retry', async () => {
    const { registry, queue } = setup();
    queue.addRateLimited('a');
    queue.addAfter('b', 100);
    queue.addAfter('c', 0);
    expect(await sample(registry, 'workqueue_retries_total', { name: 'claims' })).toBe(3);
  });

  it('observes how long a key waited before a worker took it', async () => {
    const { registry, clock, queue } = setup();
    queue.add('a');
    await clock.advance(2000);
    await take(queue);
    const name = 'workqueue_queue_duration_seconds';
    expect(await sample(registry, `${name}_count`, { name: 'claims' })).toBe(1);
    expect(await sample(registry, `${name}_sum`, { name: 'claims' })).toBe(2);
    expect(await sample(registry, `${name}_bucket`, { name: 'claims', le: '1' })).toBe(0);
    expect(await sample(registry, `${name}_bucket`, { name: 'claims', le: '10' })).toBe(1);
  });

  it('observes how long processing a key took', async () => {
    const { registry, clock, queue } = setup();
    queue.add('a');
    await take(queue);
    await clock.advance(3000);
    queue.done('a');
    const name = 'workqueue_work_duration_seconds';
    expect(await sample(registry, `${name}_count`, { name: 'claims' })).toBe(1);
    expect(await sample(registry, `${name}_sum`, { name: 'claims' })).toBe(3);
  });

  it('reports unfinished work and the longest running processor at scrape time', async () => {
    const { registry, clock, queue } = setup();
    queue.add('a');
    await take(queue);
    await clock.advance(4000);
    queue.add('b');
    await take(queue);
    await clock.advance(1000);
    expect(await sample(registry, 'workqueue_unfinished_work_seconds', { name: 'claims' })).toBe(6);
    expect(await sample(registry, 'workqueue_longest_running_processor_seconds', { name: 'claims' })).toBe(5);
    queue.done('a');
    queue.done('b');
    expect(await sample(registry, 'workqueue_unfinished_work_seconds', { name: 'claims' })).toBe(0);
    expect(await sample(registry, 'workqueue_longest_running_processor_seconds', { name: 'claims' })).toBe(0);
  });

  it('reports the age of the oldest waiting key', async () => {
    const { registry, clock, queue } = setup();
    expect(await sample(registry, 'workqueue_oldest_item_age_seconds', { name: 'claims' })).toBe(0);
    queue.add('a');
    await clock.advance(5000);
    queue.add('b');
    await clock.advance(2000);
    expect(await sample(registry, 'workqueue_oldest_item_age_seconds', { name: 'claims' })).toBe(7);
    await take(queue);
    expect(await sample(registry, 'workqueue_oldest_item_age_seconds', { name: 'claims' })).toBe(2);
  });

  it('uses client-go names, BETA help texts and buckets from 1e-8 to 10 seconds', async () => {
    const { registry } = setup();
    expect(await registry.getSingleMetricAsString('workqueue_depth')).toContain(
      '# HELP workqueue_depth [BETA] Current depth of workqueue\n# TYPE workqueue_depth gauge',
    );
    expect(await registry.getSingleMetricAsString('workqueue_unfinished_work_seconds')).toContain(
      "[BETA] How many seconds of work has done that is in progress and hasn't been observed by work_duration.",
    );
    const histogram = await registry.getSingleMetricAsString('workqueue_work_duration_seconds');
    expect(histogram).toContain('# TYPE workqueue_work_duration_seconds histogram');
    const bounds = [...histogram.matchAll(/le="([^"]+)"/g)].map((m) => m[1]);
    expect(bounds.at(-1)).toBe('+Inf');
    // The doubles Go's ExponentialBuckets(10e-9, 10, 10) yields, as listed in Kubernetes' metrics inventory.
    const goBounds = [1e-8, 1e-7, 1e-6, 9.999999999999999e-6, 9.999999999999999e-5, 0.001, 0.01, 0.1, 1, 10];
    expect(bounds.slice(0, -1).map(Number)).toEqual(goBounds);
    const names = (await registry.getMetricsAsJSON()).map((m) => m.name).sort();
    expect(names).toEqual([
      'workqueue_adds_total',
      'workqueue_depth',
      'workqueue_longest_running_processor_seconds',
      'workqueue_oldest_item_age_seconds',
      'workqueue_queue_duration_seconds',
      'workqueue_retries_total',
      'workqueue_unfinished_work_seconds',
      'workqueue_work_duration_seconds',
    ]);
  });

  it('shares one set of metrics per registry and tells queues apart by name', async () => {
    const { registry, queue } = setup('volumes');
    const factory = WorkQueueMetricsFactory.forRegistry(registry);
    expect(WorkQueueMetricsFactory.forRegistry(registry)).toBe(factory);
    const other = new WorkQueue({ name: 'claims', clock: new FakeClock(), metrics: factory });
    queue.add('a');
    other.add('x');
    other.add('y');
    expect(await sample(registry, 'workqueue_depth', { name: 'volumes' })).toBe(1);
    expect(await sample(registry, 'workqueue_depth', { name: 'claims' })).toBe(2);
  });

  it('adds up queues that share a name', async () => {
    const { registry, clock, queue } = setup('claims');
    const twin = new WorkQueue({ name: 'claims', clock, metrics: WorkQueueMetricsFactory.forRegistry(registry) });
    queue.add('a');
    twin.add('b');
    await take(queue);
    await take(twin);
    await clock.advance(1000);
    expect(await sample(registry, 'workqueue_adds_total', { name: 'claims' })).toBe(2);
    expect(await sample(registry, 'workqueue_unfinished_work_seconds', { name: 'claims' })).toBe(2);
    expect(await sample(registry, 'workqueue_longest_running_processor_seconds', { name: 'claims' })).toBe(1);
  });

  it('keeps a metric another component registered under the same name instead of throwing', async () => {
    const registry = new Registry();
    new Gauge({ name: 'workqueue_depth', help: 'foreign', registers: [registry] });
    expect(() => WorkQueueMetricsFactory.forRegistry(registry)).not.toThrow();
    expect(await registry.getSingleMetricAsString('workqueue_depth')).toContain('foreign');
  });

  it('stops reporting live figures of a queue once it shuts down, keeping its series at 0', async () => {
    const { registry, clock, queue } = setup();
    queue.add('a');
    queue.add('b');
    await take(queue);
    await clock.advance(3000);
    queue.shutDown();
    expect(await sample(registry, 'workqueue_unfinished_work_seconds', { name: 'claims' })).toBe(0);
    expect(await sample(registry, 'workqueue_oldest_item_age_seconds', { name: 'claims' })).toBe(0);
  });
});
