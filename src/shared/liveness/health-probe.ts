import type { IncomingMessage, ServerResponse } from 'node:http';
import { CsiConnection } from '../csi/connection.js';
import type { CsiConnectOptions } from '../csi/connection.js';
import type { CsiOperationMetrics } from '../csi/metrics.js';
import { probe } from '../csi/rpc.js';
import { writeText } from '../http/diagnostics-server.js';
import type { Logger } from '../log/logger.js';

export interface HealthProbeOptions {
  csiAddress: string;
  /** Budget for one check: connecting plus the Probe call. */
  probeTimeoutMs: number;
  driverName: string;
  logger: Logger;
  metrics?: CsiOperationMetrics;
  connect?: (options: CsiConnectOptions) => Promise<CsiConnection>;
}

export interface HealthResult {
  status: 200 | 500;
  body: string;
}

/**
 * Answers /healthz with the driver's Probe over a new connection each time,
 * as upstream does: a cached channel would keep talking to a driver whose
 * socket was removed or replaced.
 */
export class HealthProbe {
  private readonly options: HealthProbeOptions;
  private readonly connect: (options: CsiConnectOptions) => Promise<CsiConnection>;

  constructor(options: HealthProbeOptions) {
    this.options = options;
    this.connect = options.connect ?? ((o) => CsiConnection.connect(o));
  }

  async check(signal?: AbortSignal): Promise<HealthResult> {
    const { logger, probeTimeoutMs } = this.options;
    const deadline = performance.now() + probeTimeoutMs;
    let conn: CsiConnection;
    try {
      conn = await this.connect({
        address: this.options.csiAddress,
        logger,
        metrics: this.options.metrics,
        connectTimeoutMs: probeTimeoutMs,
        signal,
      });
    } catch (err) {
      logger.error(err, 'Failed to establish connection to CSI driver');
      return { status: 500, body: messageOf(err) };
    }
    try {
      logger.v(5).info('Sending probe request to CSI driver', { driver: this.options.driverName });
      const remaining = Math.max(1, deadline - performance.now());
      const ready = await probe(conn, remaining, signal);
      if (!ready) {
        logger.error(undefined, 'Driver responded but is not ready');
        return { status: 500, body: 'driver responded but is not ready' };
      }
      logger.v(5).info('Health check succeeded');
      return { status: 200, body: 'ok' };
    } catch (err) {
      logger.error(err, 'Health check failed');
      return { status: 500, body: messageOf(err) };
    } finally {
      conn.close();
    }
  }

  /** The /healthz handler; a client that goes away cancels its probe. */
  readonly handle = async (_req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const abort = new AbortController();
    const onClose = (): void => abort.abort();
    res.once('close', onClose);
    try {
      const result = await this.check(abort.signal);
      if (!res.destroyed) writeText(res, result.status, result.body);
    } finally {
      res.off('close', onClose);
    }
  };
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
