import type { Registry } from 'prom-client';
import { DiagnosticsServer } from '../http/diagnostics-server.js';
import { metricsHandler } from '../http/metrics-handler.js';
import type { Logger } from '../log/logger.js';
import type { HealthProbe } from './health-probe.js';

export interface LivenessServerOptions {
  /** Go-style listen address of the server that answers /healthz. */
  address: string;
  probe: HealthProbe;
  /** Metrics served beside /healthz; none when absent. */
  metrics?: { registry: Registry; path: string };
  logger: Logger;
  /** Aborting closes the server. */
  signal: AbortSignal;
}

/**
 * livenessprobe's /healthz server: each request probes the driver over a new connection. Used by livenessprobe and
 * by the registrar when it also serves the driver's liveness (one Node.js process per node instead of two).
 * Resolves once listening; rejects when the address cannot be bound.
 */
export async function serveLivenessProbe(options: LivenessServerOptions): Promise<DiagnosticsServer> {
  const { address, logger, metrics } = options;
  const server = new DiagnosticsServer({ address, logger });
  if (metrics) server.handle(metrics.path, metricsHandler(metrics.registry));
  server.handle('/healthz', options.probe.handle);
  options.signal.addEventListener('abort', () => void server.close(), { once: true });
  logger.info('ServeMux listening', { address });
  await server.listen();
  return server;
}
