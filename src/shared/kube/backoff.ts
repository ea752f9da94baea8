import { realClock } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';

export interface BackoffOptions {
  /** First delay before jitter. client-go's reflector: 800 ms. */
  initialMs?: number;
  /** Delays stop growing here (before jitter). client-go: 30 s. */
  maxMs?: number;
  /** After this long without a call to next(), the delay starts over from initialMs. client-go: 2 min. */
  resetAfterMs?: number;
  clock?: Clock;
  /** Source of jitter in [0, 1); injectable for deterministic tests. */
  random?: () => number;
}

/**
 * Jittered exponential backoff as the client-go reflector uses it: each delay doubles up to the cap and
 * is then stretched by a random factor in [1, 2), so a fleet of clients does not retry in lockstep.
 * A quiet period resets it, which keeps a healthy informer's next failure cheap to retry.
 */
export class Backoff {
  private readonly initialMs: number;
  private readonly maxMs: number;
  private readonly resetAfterMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private currentMs: number;
  private lastAt: number | undefined;

  constructor(options: BackoffOptions = {}) {
    this.initialMs = options.initialMs ?? 800;
    this.maxMs = options.maxMs ?? 30_000;
    this.resetAfterMs = options.resetAfterMs ?? 120_000;
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
    this.currentMs = this.initialMs;
  }

  /** The delay to wait before the next attempt. */
  next(): number {
    const now = this.clock.monotonic();
    if (this.lastAt !== undefined && now - this.lastAt > this.resetAfterMs) this.currentMs = this.initialMs;
    this.lastAt = now;
    const base = this.currentMs;
    this.currentMs = Math.min(this.currentMs * 2, this.maxMs);
    return base * (1 + this.random());
  }
}
