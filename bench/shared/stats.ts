/** Nearest-rank percentile of an ascending array (NaN when empty). */
export function percentile(sorted: readonly number[], p: number): number {
  if (sorted.length === 0) return Number.NaN;
  return sorted[Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1))];
}

export interface Distribution {
  p50: number;
  p90: number;
  p99: number;
  max: number;
}

/** p50/p90/p99/max in seconds of millisecond samples, rounded to ms. */
export function distributionS(samplesMs: readonly number[]): Distribution {
  const sorted = [...samplesMs].sort((a, b) => a - b);
  const s = (ms: number): number => +(ms / 1000).toFixed(3);
  return {
    p50: s(percentile(sorted, 50)),
    p90: s(percentile(sorted, 90)),
    p99: s(percentile(sorted, 99)),
    max: s(sorted[sorted.length - 1] ?? Number.NaN),
  };
}

export interface Spread {
  median: number;
  min: number;
  max: number;
  /** Every sample, in run order. */
  runs: number[];
}

/** Median (the mean of the middle two for an even count), min and max of repeated runs; undefined when empty. */
export function spread(samples: readonly number[]): Spread | undefined {
  const values = samples.filter((v) => Number.isFinite(v));
  if (values.length === 0) return undefined;
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  const median = sorted.length % 2 === 1 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
  return { median, min: sorted[0], max: sorted[sorted.length - 1], runs: [...samples] };
}

export function round(value: number, digits = 2): number {
  return +value.toFixed(digits);
}

export const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/**
 * Waits until done() holds. Fails after stallMs without progress (progress() unchanged) or maxMs in total, and
 * at once when check() throws (e.g. the provisioner died), so a stuck provisioner ends the run instead of hanging it.
 */
export async function waitForProgress(opts: {
  what: string;
  done: () => boolean;
  progress: () => number;
  stallMs: number;
  maxMs: number;
  check?: () => void;
  describe?: () => string;
}): Promise<void> {
  const started = performance.now();
  let last = opts.progress();
  let lastChange = started;
  while (!opts.done()) {
    opts.check?.();
    const now = performance.now();
    const current = opts.progress();
    if (current !== last) {
      last = current;
      lastChange = now;
    }
    const detail = opts.describe ? ` (${opts.describe()})` : '';
    if (now - lastChange > opts.stallMs) {
      throw new Error(`${opts.what}: no progress for ${Math.round(opts.stallMs / 1000)} s${detail}`);
    }
    if (now - started > opts.maxMs)
      throw new Error(`${opts.what}: not done after ${Math.round(opts.maxMs / 1000)} s${detail}`);
    await sleep(50);
  }
}
