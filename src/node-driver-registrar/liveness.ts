import { CsiOperationMetrics } from '../shared/csi/metrics.js';
import { HealthProbe } from '../shared/liveness/health-probe.js';
import { serveLivenessProbe } from '../shared/liveness/liveness-server.js';
import type { Logger } from '../shared/log/logger.js';
import { createMetricsRegistry } from '../shared/metrics/registry.js';
import type { RegistrarFlags } from './flags.js';

/**
 * The driver's liveness probe served by the registrar (`--liveness-http-endpoint`), exactly as livenessprobe with
 * `--http-endpoint` serves it. The registrar imports this module only when the flag is set, so without it neither
 * the probe nor the metrics library is loaded.
 */
export async function serveDriverLiveness(options: {
  flags: RegistrarFlags;
  driverName: string;
  logger: Logger;
  signal: AbortSignal;
}): Promise<void> {
  const { flags, driverName, logger, signal } = options;
  let metrics: CsiOperationMetrics | undefined;
  let served;
  if (flags.livenessMetricsPath !== '') {
    const registry = createMetricsRegistry();
    metrics = new CsiOperationMetrics({ registry });
    metrics.setDriverName(driverName);
    served = { registry, path: flags.livenessMetricsPath };
  }
  const probe = new HealthProbe({
    csiAddress: flags.csiAddress,
    probeTimeoutMs: flags.livenessProbeTimeout,
    driverName,
    logger,
    metrics,
  });
  await serveLivenessProbe({ address: flags.livenessHttpEndpoint, probe, metrics: served, logger, signal });
}
