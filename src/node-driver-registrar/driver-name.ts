import type { Clock } from '../shared/clock/clock.js';
import { sleep } from '../shared/clock/clock.js';
import type { CsiCaller } from '../shared/csi/connection.js';
import { getDriverName } from '../shared/csi/rpc.js';
import { Backoff } from '../shared/kube/backoff.js';
import type { Logger } from '../shared/log/logger.js';

export interface DriverNameOptions {
  conn: CsiCaller;
  logger: Logger;
  clock: Clock;
  /** `--timeout`: each GetPluginInfo. */
  timeoutMs: number;
  /** `--plugin-info-wait`: how long failures are retried; 0 = one attempt, as upstream. */
  waitMs: number;
  signal?: AbortSignal;
}

const FIRST_RETRY_MS = 1_000;
const MAX_RETRY_MS = 10_000;

/**
 * The driver's name from GetPluginInfo. Upstream asks once and exits on any error, so a driver that is still
 * starting and answers slower than `--timeout` crash-loops the registrar (kubernetes-csi/node-driver-registrar#405);
 * with a wait, failures are retried (1 s doubling to 10 s) until it has passed. Throws the last error.
 */
export async function driverName(options: DriverNameOptions): Promise<string> {
  const { conn, logger, clock, timeoutMs, waitMs, signal } = options;
  const giveUpAt = clock.monotonic() + waitMs;
  // No jitter: one process retries one driver, and the delays stay predictable in the log.
  const backoff = new Backoff({ initialMs: FIRST_RETRY_MS, maxMs: MAX_RETRY_MS, clock, random: () => 0 });
  for (;;) {
    try {
      return await getDriverName(conn, timeoutMs);
    } catch (err) {
      const left = giveUpAt - clock.monotonic();
      if (left <= 0 || signal?.aborted) throw err;
      const wait = Math.min(backoff.next(), left);
      logger.error(err, 'GetPluginInfo failed, retrying', { retryIn: `${wait}ms` });
      await sleep(clock, wait, signal);
      if (signal?.aborted) throw err;
    }
  }
}
