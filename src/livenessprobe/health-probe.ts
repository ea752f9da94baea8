import { statSync } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { CsiConnection } from '../shared/csi/connection.js';
import type { CsiConnectOptions } from '../shared/csi/connection.js';
import { normalizeCsiAddress } from '../shared/csi/address.js';
import type { CsiOperationMetrics } from '../shared/csi/metrics.js';
import { probe } from '../shared/csi/rpc.js';
import { writeText } from '../shared/http/diagnostics-server.js';
import type { Logger } from '../shared/log/logger.js';

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

interface CachedConnection {
  conn: CsiConnection;
  /** dev:ino of the socket file the connection was opened on. */
  socketId: string;
}

/**
 * Answers /healthz with the driver's Probe. Upstream opens a new connection
 * per request so that a removed or replaced socket is noticed; a gRPC channel
 * per request costs ~100 KB of garbage here, so one connection is kept while
 * the socket file is the same file (same device and inode) and dropped after
 * any failed call. A removed socket, a new socket, or a dead driver therefore
 * get the same answers as with a fresh connection.
 */
export class HealthProbe {
  private readonly options: HealthProbeOptions;
  private readonly connect: (options: CsiConnectOptions) => Promise<CsiConnection>;
  private readonly socketPath: string | undefined;
  private cached: CachedConnection | undefined;

  constructor(options: HealthProbeOptions) {
    this.options = options;
    this.connect = options.connect ?? ((o) => CsiConnection.connect(o));
    this.socketPath = normalizeCsiAddress(options.csiAddress).socketPath;
  }

  async check(signal?: AbortSignal): Promise<HealthResult> {
    const { logger, probeTimeoutMs } = this.options;
    const deadline = performance.now() + probeTimeoutMs;
    let conn: CsiConnection;
    try {
      conn = await this.connection(signal);
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
      this.drop(conn);
      logger.error(err, 'Health check failed');
      return { status: 500, body: messageOf(err) };
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

  close(): void {
    if (this.cached) this.drop(this.cached.conn);
  }

  private async connection(signal: AbortSignal | undefined): Promise<CsiConnection> {
    const current = this.socketPath === undefined ? undefined : socketIdentity(this.socketPath);
    if (this.cached && this.cached.socketId === current) return this.cached.conn;
    if (this.cached) this.drop(this.cached.conn);
    const conn = await this.connect({
      address: this.options.csiAddress,
      logger: this.options.logger,
      metrics: this.options.metrics,
      connectTimeoutMs: this.options.probeTimeoutMs,
      signal,
    });
    const socketId = this.socketPath === undefined ? undefined : socketIdentity(this.socketPath);
    // TCP targets have no file to compare: they get a fresh connection every time.
    if (socketId !== undefined) this.cached = { conn, socketId };
    else queueMicrotask(() => this.drop(conn));
    return conn;
  }

  private drop(conn: CsiConnection): void {
    if (this.cached?.conn === conn) this.cached = undefined;
    conn.close();
  }
}

function socketIdentity(path: string): string | undefined {
  try {
    const st = statSync(path, { bigint: true });
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined;
  }
}

function messageOf(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
