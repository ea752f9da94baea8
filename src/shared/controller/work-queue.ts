import { realClock } from '../clock/clock.js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import { noQueueMetrics } from './metrics.js';
import type { QueueMetrics, WorkQueueMetricsFactory } from './metrics.js';
import { defaultControllerRateLimiter } from './rate-limiter.js';
import type { RateLimiter } from './rate-limiter.js';

export interface WorkQueueOptions<K> {
  /** The `name` label of the queue's metrics. */
  name: string;
  clock?: Clock;
  /** Used by addRateLimited, forget and numRequeues; client-go's default controller limiter if unset. */
  rateLimiter?: RateLimiter<K>;
  metrics?: WorkQueueMetricsFactory;
}

export type GetResult<K> = { key: K; shutdown: false } | { shutdown: true };

interface DelayedAdd {
  readyAt: number;
  timer: TimerHandle;
}

/**
 * A client-go style rate-limited work queue. Keys are compared with
 * SameValueZero, so use strings (or other primitives) for deduplication.
 *
 * - A key waits in the queue at most once: adding it again while it waits is a no-op.
 * - A key is handed to one worker at a time: adding it while it is processed
 *   marks it dirty, and done() queues it again, so it runs once more afterwards.
 * - Every get() must be followed by done() for the same key.
 */
export class WorkQueue<K = string> {
  readonly name: string;
  private readonly clock: Clock;
  private readonly rateLimiter: RateLimiter<K>;
  private readonly metrics: QueueMetrics<K>;
  private readonly queue = new Fifo<K>();
  /** Keys that need processing: the queued ones and those re-added while processing. */
  private readonly dirty = new Set<K>();
  private readonly processing = new Set<K>();
  private readonly waiters: ((result: GetResult<K>) => void)[] = [];
  private readonly delayed = new Map<K, DelayedAdd>();
  private drainWaiters: (() => void)[] = [];
  private stopped = false;

  constructor(options: WorkQueueOptions<K>) {
    this.name = options.name;
    this.clock = options.clock ?? realClock;
    this.rateLimiter = options.rateLimiter ?? defaultControllerRateLimiter<K>(this.clock);
    this.metrics = options.metrics?.newQueueMetrics<K>(options.name, this.clock) ?? noQueueMetrics<K>();
  }

  add(key: K): void {
    if (this.stopped || this.dirty.has(key)) return;
    this.metrics.add(key);
    this.dirty.add(key);
    if (!this.processing.has(key)) this.push(key);
  }

  /**
   * The next key, waiting while the queue is empty. After shutDown() the keys
   * still queued are handed out first, then every call reports shutdown.
   */
  get(): Promise<GetResult<K>> {
    if (this.queue.length > 0) return Promise.resolve({ key: this.take(), shutdown: false });
    if (this.stopped) return Promise.resolve({ shutdown: true });
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  /** Marks the key as no longer being processed; queues it again if it was re-added meanwhile. */
  done(key: K): void {
    if (!this.processing.delete(key)) return;
    this.metrics.done(key);
    if (this.dirty.has(key)) this.push(key);
    if (this.processing.size === 0) this.releaseDrainWaiters();
  }

  /** Adds the key once ms have passed; a pending earlier deadline for the same key wins. */
  addAfter(key: K, ms: number): void {
    if (this.stopped) return;
    this.metrics.retry();
    if (!(ms > 0)) {
      this.add(key);
      return;
    }
    const readyAt = this.clock.monotonic() + ms;
    const pending = this.delayed.get(key);
    if (pending && pending.readyAt <= readyAt) return;
    pending?.timer.cancel();
    const timer = this.clock.after(ms, () => {
      this.delayed.delete(key);
      this.add(key);
    });
    this.delayed.set(key, { readyAt, timer });
  }

  /** Adds the key after the delay its rate limiter assigns (one more recorded failure). */
  addRateLimited(key: K): void {
    this.addAfter(key, this.rateLimiter.when(key));
  }

  /** Clears the key's failure history; call after it was processed successfully. */
  forget(key: K): void {
    this.rateLimiter.forget(key);
  }

  numRequeues(key: K): number {
    return this.rateLimiter.numRequeues(key);
  }

  /** Number of keys waiting for a worker (not counting delayed or in-flight ones). */
  len(): number {
    return this.queue.length;
  }

  /** Stops accepting keys, drops delayed adds and wakes idle get() callers. */
  shutDown(): void {
    this.stop();
    this.releaseDrainWaiters();
  }

  /**
   * Like shutDown(), then resolves once no key is being processed. Workers keep
   * receiving the keys still queued, so they must keep calling get() and done().
   * A later shutDown() resolves it at once.
   */
  shutDownWithDrain(): Promise<void> {
    this.stop();
    if (this.processing.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.drainWaiters.push(resolve));
  }

  shuttingDown(): boolean {
    return this.stopped;
  }

  private stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    for (const { timer } of this.delayed.values()) timer.cancel();
    this.delayed.clear();
    this.metrics.close();
    // Waiters exist only while the queue is empty, so all of them are told to exit.
    for (const resolve of this.waiters.splice(0)) resolve({ shutdown: true });
  }

  private push(key: K): void {
    this.queue.push(key);
    // Waiters exist only while the queue is empty, so the woken one receives this key.
    const waiter = this.waiters.shift();
    if (waiter) waiter({ key: this.take(), shutdown: false });
  }

  private take(): K {
    const key = this.queue.shift();
    this.metrics.get(key);
    this.processing.add(key);
    this.dirty.delete(key);
    return key;
  }

  private releaseDrainWaiters(): void {
    const waiters = this.drainWaiters;
    this.drainWaiters = [];
    for (const resolve of waiters) resolve();
  }
}

/** An array-backed FIFO with O(1) amortised shift. */
class Fifo<T> {
  private items: T[] = [];
  private head = 0;

  get length(): number {
    return this.items.length - this.head;
  }

  push(item: T): void {
    this.items.push(item);
  }

  /** Callers check length first. */
  shift(): T {
    const item = this.items[this.head++];
    if (this.head * 2 >= this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }
}
