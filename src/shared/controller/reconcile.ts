import type { Logger } from '../log/logger.js';
import type { WorkQueue } from './work-queue.js';

/** What a successful sync asks for next. */
export interface SyncResult {
  /** Process the key again after this many milliseconds, without counting a failure. */
  requeueAfterMs?: number;
}

export interface SyncContext {
  /** Aborted when the controller stops; long syncs should give up early. */
  signal: AbortSignal;
}

/** Brings the world in line with the object behind key; throws to ask for a retry. */
export type SyncFunction<K> = (key: K, context: SyncContext) => Promise<SyncResult | void> | SyncResult | void;

/**
 * A failure that retrying cannot fix (bad user input, a permanent CSI error):
 * the key is logged and dropped instead of being retried with backoff. It is
 * also recognised when wrapped as the `cause` of another error.
 */
export class TerminalError extends Error {
  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'TerminalError';
  }
}

/** Whether err is a TerminalError or wraps one through its `cause` chain. */
export function isTerminalError(err: unknown): boolean {
  const seen = new Set<unknown>();
  for (let e = err; e instanceof Error && !seen.has(e); e = e.cause) {
    if (e instanceof TerminalError) return true;
    seen.add(e);
  }
  return false;
}

export interface ReconcileKeyOptions<K> {
  queue: WorkQueue<K>;
  key: K;
  sync: SyncFunction<K>;
  logger: Logger;
  signal: AbortSignal;
}

/**
 * Runs sync for one key taken from the queue and maps the outcome onto the
 * queue, as controller-runtime's reconcileHandler does:
 * - success → forget (reset backoff);
 * - success with requeueAfterMs > 0 → forget, then add again after that delay;
 * - TerminalError → log, forget, no retry;
 * - any other error (thrown synchronously or rejected) → log, rate-limited retry.
 * Always calls done() and never throws, so a worker loop survives any sync.
 */
export async function reconcileKey<K>(options: ReconcileKeyOptions<K>): Promise<void> {
  const { queue, key, logger } = options;
  try {
    const result = await options.sync(key, { signal: options.signal });
    queue.forget(key);
    const requeueAfterMs = result ? (result.requeueAfterMs ?? 0) : 0;
    if (requeueAfterMs > 0) queue.addAfter(key, requeueAfterMs);
  } catch (err) {
    if (isTerminalError(err)) {
      queue.forget(key);
      logger.error(err, 'Sync failed permanently, not retrying', { queue: queue.name, key });
    } else {
      queue.addRateLimited(key);
      logger.error(err, 'Sync failed, will retry', { queue: queue.name, key, retries: queue.numRequeues(key) });
    }
  } finally {
    queue.done(key);
  }
}
