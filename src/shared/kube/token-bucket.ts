import { realClock, sleep } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';

/** client-go's rest.Config defaults, used when QPS or Burst is 0. */
export const DEFAULT_QPS = 5;
export const DEFAULT_BURST = 10;

export interface TokenBucketOptions {
  /** Tokens added per second. 0 means DEFAULT_QPS; negative disables limiting (as in client-go). */
  qps: number;
  /** Bucket size, i.e. how many requests may go out at once after a quiet period. 0 means DEFAULT_BURST. */
  burst: number;
  clock?: Clock;
}

/**
 * The client-side request limiter of client-go (flowcontrol token bucket over x/time/rate): the bucket
 * starts full, refills at qps, and each take() reserves one token. A caller that finds the bucket empty
 * reserves a future token and sleeps until it is due, so waiters are served in arrival order.
 */
export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  private readonly clock: Clock;
  /** May go negative: each unit below zero is a token already promised to a waiter. */
  private tokens: number;
  private updatedAt: number;

  constructor(options: TokenBucketOptions) {
    this.qps = options.qps === 0 ? DEFAULT_QPS : options.qps;
    this.burst = options.burst === 0 ? DEFAULT_BURST : options.burst;
    if (!Number.isFinite(this.qps)) throw new Error(`qps must be a finite number, got ${options.qps}`);
    if (!Number.isInteger(this.burst) || this.burst < 0) {
      throw new Error(`burst must be a non-negative integer, got ${options.burst}`);
    }
    this.clock = options.clock ?? realClock;
    this.tokens = this.burst;
    this.updatedAt = this.clock.monotonic();
  }

  get unlimited(): boolean {
    return this.qps < 0;
  }

  /**
   * Resolves once a token is available, with the milliseconds spent waiting (for the caller's
   * "Waited before sending request" log). Rejects with the signal's reason if it aborts first; the
   * reserved token is then returned to the bucket.
   */
  async take(signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    if (this.unlimited) return 0;
    const start = this.clock.monotonic();
    this.refill(start);
    this.tokens -= 1;
    if (this.tokens >= 0) return 0;
    await sleep(this.clock, (-this.tokens / this.qps) * 1000, signal);
    if (signal?.aborted) {
      this.tokens += 1;
      throw signal.reason;
    }
    return this.clock.monotonic() - start;
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.qps);
    this.updatedAt = now;
  }
}
