import type { Logger } from '../log/logger.js';
import { reconcileKey } from './reconcile.js';
import type { SyncFunction } from './reconcile.js';
import type { WorkQueue } from './work-queue.js';

export interface RunWorkersOptions<K> {
  queue: WorkQueue<K>;
  /** Number of keys synced concurrently; one key is never synced twice at once. */
  workers: number;
  sync: SyncFunction<K>;
  logger: Logger;
  /** Aborting shuts the queue down; workers finish their current key and take no new one. */
  signal?: AbortSignal;
}

/**
 * Runs `workers` loops that take keys from the queue and sync them (see
 * reconcileKey for how outcomes map onto the queue). Resolves once the queue
 * has shut down and every worker has exited. Without a signal, the caller
 * stops it with queue.shutDown(); workers then drain the keys still queued.
 */
export async function runWorkers<K>(options: RunWorkersOptions<K>): Promise<void> {
  const { queue, signal } = options;
  if (!Number.isInteger(options.workers) || options.workers < 1) {
    throw new RangeError(`workers must be a positive integer, got ${options.workers}`);
  }
  // Sync always gets a signal, even when the caller has none to give.
  const syncSignal = signal ?? new AbortController().signal;
  const onAbort = (): void => queue.shutDown();
  if (syncSignal.aborted) queue.shutDown();
  else syncSignal.addEventListener('abort', onAbort, { once: true });
  try {
    const loops = Array.from({ length: options.workers }, () => workerLoop(options, syncSignal));
    await Promise.all(loops);
  } finally {
    syncSignal.removeEventListener('abort', onAbort);
  }
}

async function workerLoop<K>(options: RunWorkersOptions<K>, signal: AbortSignal): Promise<void> {
  const { queue, sync, logger } = options;
  while (!signal.aborted) {
    const next = await queue.get();
    if (next.shutdown) return;
    await reconcileKey({ queue, key: next.key, sync, logger, signal });
  }
}

/** A controller as the sidecars write them: a work queue of keys and the sync of one key. */
export interface QueueController<K> {
  readonly queue: WorkQueue<K>;
  sync: SyncFunction<K>;
}

export interface RunControllerOptions {
  /** Concurrent syncs; 0 runs none (upstream's idle loop) and just waits for the signal. */
  workers: number;
  logger: Logger;
  signal: AbortSignal;
}

/** Runs a controller's workers until the signal aborts. */
export async function runController<K>(controller: QueueController<K>, options: RunControllerOptions): Promise<void> {
  const { workers, signal } = options;
  if (workers === 0) {
    if (signal.aborted) return;
    await new Promise<void>((resolve) => signal.addEventListener('abort', () => resolve(), { once: true }));
    return;
  }
  await runWorkers({
    queue: controller.queue,
    workers,
    sync: (key, context) => controller.sync(key, context),
    logger: options.logger,
    signal,
  });
}
