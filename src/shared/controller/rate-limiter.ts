import { realClock } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';

/** Decides how long a key waits before it is retried (client-go's workqueue RateLimiter). */
export interface RateLimiter<K = string> {
  /** Milliseconds to wait before the key is processed again; records one more failure. */
  when(key: K): number;
  /** Stops tracking the key, so its next failure starts from the base delay again. */
  forget(key: K): void;
  /** How many failures are recorded for the key. */
  numRequeues(key: K): number;
}

export interface ItemExponentialRateLimiterOptions {
  baseDelayMs: number;
  maxDelayMs: number;
}

/** Per-key backoff: base·2^failures, capped at max. */
export class ItemExponentialRateLimiter<K = string> implements RateLimiter<K> {
  private readonly baseDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly failures = new Map<K, number>();

  constructor(options: ItemExponentialRateLimiterOptions) {
    this.baseDelayMs = options.baseDelayMs;
    this.maxDelayMs = options.maxDelayMs;
  }

  when(key: K): number {
    const exponent = this.failures.get(key) ?? 0;
    this.failures.set(key, exponent + 1);
    // 2 ** exponent becomes Infinity long before it could wrap, so min() is enough to cap it.
    return Math.min(this.baseDelayMs * 2 ** exponent, this.maxDelayMs);
  }

  forget(key: K): void {
    this.failures.delete(key);
  }

  numRequeues(key: K): number {
    return this.failures.get(key) ?? 0;
  }
}

export interface BucketRateLimiterOptions {
  /** Tokens added per second. */
  qps: number;
  /** Bucket size; the bucket starts full. */
  burst: number;
  clock?: Clock;
}

/**
 * One token bucket shared by all keys. Every call takes a token even when the
 * bucket is empty (the balance goes negative), like golang.org/x/time/rate's
 * Reserve, so callers queue up behind each other instead of all waking at once.
 */
export class BucketRateLimiter<K = string> implements RateLimiter<K> {
  private readonly qps: number;
  private readonly burst: number;
  private readonly clock: Clock;
  private tokens: number;
  private last: number;

  constructor(options: BucketRateLimiterOptions) {
    this.qps = options.qps;
    this.burst = options.burst;
    this.clock = options.clock ?? realClock;
    this.tokens = options.burst;
    this.last = this.clock.monotonic();
  }

  when(_key: K): number {
    const now = this.clock.monotonic();
    const elapsedSeconds = Math.max(0, now - this.last) / 1000;
    this.last = Math.max(this.last, now);
    this.tokens = Math.min(this.burst, this.tokens + elapsedSeconds * this.qps) - 1;
    return this.tokens >= 0 ? 0 : (-this.tokens / this.qps) * 1000;
  }

  forget(_key: K): void {}

  numRequeues(_key: K): number {
    return 0;
  }
}

export interface MaxOfRateLimiterOptions<K> {
  limiters: RateLimiter<K>[];
}

/** Waits as long as the strictest of its limiters demands. */
export class MaxOfRateLimiter<K = string> implements RateLimiter<K> {
  private readonly limiters: RateLimiter<K>[];

  constructor(options: MaxOfRateLimiterOptions<K>) {
    this.limiters = [...options.limiters];
  }

  when(key: K): number {
    // Every limiter must see the failure, so no short-circuit.
    return this.limiters.reduce((longest, limiter) => Math.max(longest, limiter.when(key)), 0);
  }

  forget(key: K): void {
    for (const limiter of this.limiters) limiter.forget(key);
  }

  numRequeues(key: K): number {
    return this.limiters.reduce((most, limiter) => Math.max(most, limiter.numRequeues(key)), 0);
  }
}

/** client-go's DefaultControllerRateLimiter: max(per key 5 ms → 1000 s, overall 10 qps with a burst of 100). */
export function defaultControllerRateLimiter<K = string>(clock: Clock = realClock): RateLimiter<K> {
  return new MaxOfRateLimiter<K>({
    limiters: [
      new ItemExponentialRateLimiter<K>({ baseDelayMs: 5, maxDelayMs: 1_000_000 }),
      new BucketRateLimiter<K>({ qps: 10, burst: 100, clock }),
    ],
  });
}
