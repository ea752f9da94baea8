/** A handle for a pending timer created through a Clock. */
export interface TimerHandle {
  cancel(): void;
}

/**
 * Time source for everything that waits or measures. Production code uses
 * realClock; tests inject FakeClock so backoff and expiry run without sleeping.
 */
export interface Clock {
  /** Wall-clock milliseconds since the epoch (for timestamps written to objects). */
  now(): number;
  /** Monotonic milliseconds (for durations and expiry; never jumps). */
  monotonic(): number;
  /**
   * Runs fn after ms. The pending timer keeps the process alive: a sidecar
   * whose only work is a retry (a standby leader, a backoff) must not exit.
   */
  after(ms: number, fn: () => void): TimerHandle;
}

export const realClock: Clock = {
  now: () => Date.now(),
  monotonic: () => performance.now(),
  after(ms, fn) {
    const t = setTimeout(fn, Math.min(Math.max(0, ms), 2_147_483_647));
    return { cancel: () => clearTimeout(t) };
  },
};

/** Resolves after ms on the given clock, or at once when the signal aborts. */
export function sleep(clock: Clock, ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const onAbort = (): void => {
      timer.cancel();
      resolve();
    };
    const timer = clock.after(ms, () => {
      signal?.removeEventListener('abort', onAbort);
      resolve();
    });
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
