import { realClock } from '../clock/clock.js';
import type { Clock, TimerHandle } from '../clock/clock.js';

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

interface Waiter {
  lane: number;
  start: number;
  grant(waitedMs: number): void;
}

// A token that float arithmetic leaves a hair short of whole is whole.
const EPSILON = 1e-9;

/**
 * The client-side request limiter of client-go (flowcontrol token bucket over x/time/rate): the bucket starts full,
 * refills at qps, and each take() uses one token; a caller that finds it empty waits for the next one, in arrival
 * order. Callers may also name a lane: when several lanes wait, tokens go to them in turn (so one kind of work
 * sharing the budget, such as a burst of detaches, cannot hold every request of another kind behind it), and in
 * arrival order within a lane. With one lane this is client-go's limiter.
 */
export class TokenBucket {
  readonly qps: number;
  readonly burst: number;
  private readonly clock: Clock;
  private tokens: number;
  private updatedAt: number;
  /** Waiters by lane, each in arrival order. */
  private readonly lanes = new Map<number, Waiter[]>();
  private lastLane: number | undefined;
  private timer: TimerHandle | undefined;

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
   * Resolves once a token is granted, with the milliseconds spent waiting (for the caller's "Waited before sending
   * request" log). Rejects with the signal's reason if it aborts first, taking no token.
   */
  take(signal?: AbortSignal, lane = 0): Promise<number> {
    if (signal?.aborted) return Promise.reject(signal.reason as Error);
    if (this.unlimited) return Promise.resolve(0);
    const start = this.clock.monotonic();
    this.refill(start);
    if (this.lanes.size === 0 && this.tokens >= 1 - EPSILON) {
      this.tokens -= 1;
      return Promise.resolve(0);
    }
    return new Promise<number>((resolve, reject) => {
      const onAbort = (): void => {
        this.remove(waiter);
        reject(signal?.reason);
      };
      const waiter: Waiter = {
        lane,
        start,
        grant: (waitedMs) => {
          signal?.removeEventListener('abort', onAbort);
          resolve(waitedMs);
        },
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      const queue = this.lanes.get(lane) ?? [];
      queue.push(waiter);
      this.lanes.set(lane, queue);
      this.schedule();
    });
  }

  private refill(now: number): void {
    this.tokens = Math.min(this.burst, this.tokens + ((now - this.updatedAt) / 1000) * this.qps);
    this.updatedAt = now;
  }

  /** Wakes up when the next token is due, if anyone waits. */
  private schedule(): void {
    if (this.timer !== undefined || this.lanes.size === 0) return;
    this.refill(this.clock.monotonic());
    const waitMs = this.tokens >= 1 - EPSILON ? 0 : ((1 - this.tokens) / this.qps) * 1000;
    this.timer = this.clock.after(waitMs, () => {
      this.timer = undefined;
      this.grantDue();
    });
  }

  private grantDue(): void {
    const now = this.clock.monotonic();
    this.refill(now);
    while (this.tokens >= 1 - EPSILON && this.lanes.size > 0) {
      const waiter = this.next();
      this.tokens -= 1;
      waiter.grant(now - waiter.start);
    }
    this.schedule();
  }

  /** The first waiter of the lane after the one served last (lanes in ascending order, cyclically). */
  private next(): Waiter {
    const lanes = [...this.lanes.keys()].sort((a, b) => a - b);
    const lane = lanes.find((l) => this.lastLane === undefined || l > this.lastLane) ?? lanes[0];
    const queue = this.lanes.get(lane) ?? [];
    const waiter = queue.shift() as Waiter;
    if (queue.length === 0) this.lanes.delete(lane);
    this.lastLane = lane;
    return waiter;
  }

  private remove(waiter: Waiter): void {
    const queue = this.lanes.get(waiter.lane);
    if (!queue) return;
    const index = queue.indexOf(waiter);
    if (index >= 0) queue.splice(index, 1);
    if (queue.length === 0) this.lanes.delete(waiter.lane);
    if (this.lanes.size === 0) {
      this.timer?.cancel();
      this.timer = undefined;
    }
  }
}
