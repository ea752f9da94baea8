import type { Clock, TimerHandle } from '../clock/clock.js';

export interface WatchdogOptions {
  clock: Clock;
  /** Called once when the limit passes without activity; reason names what was missing and for how long. */
  onExpire: (reason: Error) => void;
}

/**
 * Aborts a request that stops making progress. One timer per limit period rather than per chunk:
 * touch() only records the time, and the timer re-arms itself for whatever is left.
 */
export class Watchdog {
  private readonly clock: Clock;
  private readonly onExpire: (reason: Error) => void;
  private limitMs = 0;
  private what = '';
  private lastActivity = 0;
  private timer: TimerHandle | undefined;

  constructor(options: WatchdogOptions) {
    this.clock = options.clock;
    this.onExpire = options.onExpire;
  }

  /** (Re)starts supervision with a new limit, counting from now. */
  arm(limitMs: number, what: string): void {
    this.cancel();
    this.limitMs = limitMs;
    this.what = what;
    this.lastActivity = this.clock.monotonic();
    this.schedule(limitMs);
  }

  touch(): void {
    this.lastActivity = this.clock.monotonic();
  }

  cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    this.timer = this.clock.after(delayMs, () => {
      const idle = this.clock.monotonic() - this.lastActivity;
      if (idle >= this.limitMs) this.onExpire(new Error(`${this.what} for ${this.limitMs} ms`));
      else this.schedule(this.limitMs - idle);
    });
  }
}
