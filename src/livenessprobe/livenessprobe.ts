import { CsiConnection } from '../shared/csi/connection.js';
import { CsiOperationMetrics } from '../shared/csi/metrics.js';
import { getDriverName } from '../shared/csi/rpc.js';
import { DiagnosticsServer } from '../shared/http/diagnostics-server.js';
import { metricsHandler } from '../shared/http/metrics-handler.js';
import type { Logger } from '../shared/log/logger.js';
import { createMetricsRegistry } from '../shared/metrics/registry.js';
import type { LivenessProbeFlags } from './flags.js';
import { resolveListeners } from './flags.js';
import { HealthProbe } from '../shared/liveness/health-probe.js';
import { serveLivenessProbe } from '../shared/liveness/liveness-server.js';

export interface LivenessProbeOptions {
  flags: LivenessProbeFlags;
  logger: Logger;
  /** Aborting stops waiting for the driver and closes the servers. */
  signal: AbortSignal;
  exit: (code: number) => void;
}

/**
 * Runs livenessprobe as upstream does: wait (forever) for the driver, learn
 * its name, then serve /healthz. Nothing listens until the driver answered,
 * so kubelet's probes fail with "connection refused" meanwhile instead of the
 * sidecar crash-looping together with its driver.
 */
export async function runLivenessProbe(options: LivenessProbeOptions): Promise<void> {
  const { flags, logger, signal, exit } = options;
  let listeners;
  try {
    listeners = resolveListeners(flags);
  } catch (err) {
    logger.error(undefined, (err as Error).message);
    return exit(1);
  }

  const registry = createMetricsRegistry();
  const metrics = new CsiOperationMetrics({ registry });
  const driverName = await discoverDriverName(flags.csiAddress, logger, metrics, signal);
  if (driverName === undefined) return exit(signal.aborted ? 0 : 1);
  logger.info('CSI driver name', { driver: driverName });
  metrics.setDriverName(driverName);

  const probe = new HealthProbe({
    csiAddress: flags.csiAddress,
    probeTimeoutMs: flags.probeTimeout,
    driverName,
    logger,
    metrics,
  });
  if (listeners.separateMetricsAddress !== undefined) {
    const metricsServer = new DiagnosticsServer({ address: listeners.separateMetricsAddress, logger });
    metricsServer.handle(flags.metricsPath, metricsHandler(registry));
    signal.addEventListener('abort', () => void metricsServer.close(), { once: true });
    logger.info('Separate metrics ServeMux listening', { address: listeners.separateMetricsAddress });
    try {
      await metricsServer.listen();
    } catch (err) {
      logger.error(err, 'Failed to start prometheus metrics endpoint on specified address and path', {
        addr: listeners.separateMetricsAddress,
        path: flags.metricsPath,
      });
      return exit(1);
    }
  }

  try {
    await serveLivenessProbe({
      address: listeners.healthAddress,
      probe,
      metrics: listeners.metricsOnHealthServer ? { registry, path: flags.metricsPath } : undefined,
      logger,
      signal,
    });
  } catch (err) {
    // Upstream logs and returns from main here, i.e. exits 0.
    logger.error(err, 'Failed to start http server');
    return exit(0);
  }
}

async function discoverDriverName(
  address: string,
  logger: Logger,
  metrics: CsiOperationMetrics,
  signal: AbortSignal,
): Promise<string | undefined> {
  let conn: CsiConnection;
  try {
    conn = await CsiConnection.connect({ address, logger, metrics, connectTimeoutMs: 0, signal });
  } catch (err) {
    if (!signal.aborted) logger.error(err, 'Failed to establish connection to CSI driver');
    return undefined;
  }
  try {
    logger.info('Calling CSI driver to discover driver name');
    return await getDriverName(conn);
  } catch (err) {
    logger.error(err, 'Failed to get CSI driver name');
    return undefined;
  } finally {
    conn.close();
  }
}
