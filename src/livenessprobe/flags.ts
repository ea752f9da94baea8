import { automaxprocsFlag, loggingFlags } from '../shared/flags/logging-flags.js';
import { durationFlag, stringFlag } from '../shared/flags/flag-set.js';
import type { FlagValues } from '../shared/flags/flag-set.js';

export const defaultHealthPort = '9808';

/** Upstream livenessprobe's flags (Go flag syntax; it has no --version). */
export const livenessProbeFlags = {
  csiAddress: stringFlag('csi-address', '/run/csi/socket', 'Address of the CSI driver socket.'),
  probeTimeout: durationFlag(
    'probe-timeout',
    '3s',
    'Time allowed for one health check: connecting to the driver plus its Probe call.',
  ),
  healthPort: stringFlag(
    'health-port',
    defaultHealthPort,
    '(deprecated) TCP port for /healthz, served on all addresses. Cannot be changed together with --http-endpoint.',
  ),
  metricsAddress: stringFlag(
    'metrics-address',
    '',
    '(deprecated) TCP address of a separate metrics-only server (example: `:8080`). Empty disables it. Cannot be used together with --http-endpoint.',
  ),
  httpEndpoint: stringFlag(
    'http-endpoint',
    '',
    'TCP address of the HTTP server for /healthz and metrics (example: `:9808`). Empty means /healthz is served on --health-port without metrics.',
  ),
  metricsPath: stringFlag('metrics-path', '/metrics', 'HTTP path of the Prometheus metrics.'),
  ...loggingFlags,
  ...automaxprocsFlag,
};

export type LivenessProbeFlags = FlagValues<typeof livenessProbeFlags>;

export interface LivenessProbeListeners {
  /** Address of the server that answers /healthz. */
  healthAddress: string;
  /** Metrics are served on the health server at metricsPath. */
  metricsOnHealthServer: boolean;
  /** A separate metrics-only server, from the deprecated --metrics-address. */
  separateMetricsAddress?: string;
}

/** Applies upstream's flag conflict rules; throws with upstream's message on a conflict. */
export function resolveListeners(flags: LivenessProbeFlags): LivenessProbeListeners {
  if (flags.healthPort !== defaultHealthPort && flags.httpEndpoint !== '') {
    throw new Error('Only one of `--health-port` and `--http-endpoint` can be explicitly set');
  }
  if (flags.metricsAddress !== '' && flags.httpEndpoint !== '') {
    throw new Error('Only one of `--metrics-address` and `--http-endpoint` can be explicitly set');
  }
  const healthAddress = flags.httpEndpoint !== '' ? flags.httpEndpoint : `0.0.0.0:${flags.healthPort}`;
  return {
    healthAddress,
    metricsOnHealthServer: flags.httpEndpoint !== '' && flags.metricsAddress === '',
    separateMetricsAddress: flags.metricsAddress !== '' ? flags.metricsAddress : undefined,
  };
}
