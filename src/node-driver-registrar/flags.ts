import { automaxprocsFlag, loggingFlags } from '../shared/flags/logging-flags.js';
import { boolFlag, durationFlag, intFlag, stringFlag } from '../shared/flags/flag-set.js';
import type { FlagValues } from '../shared/flags/flag-set.js';

/** The deprecated `--mode` value that only ever checked a file written by old releases; a no-op since v2.9. */
export const registrationProbeMode = 'kubelet-registration-probe';

/** Upstream node-driver-registrar's flags (Go flag syntax), then the ones this project adds. */
export const registrarFlags = {
  connectionTimeout: durationFlag(
    'connection-timeout',
    '0s',
    'Deprecated and ignored (a notice is logged when it is set).',
  ),
  timeout: durationFlag(
    'timeout',
    '1s',
    "Deadline of the driver's GetPluginInfo at start-up and of the /healthz check's GetInfo on the registration socket.",
  ),
  csiAddress: stringFlag(
    'csi-address',
    '/run/csi/socket',
    'Unix socket of the CSI driver, as mounted in this container.',
  ),
  pluginRegistrationPath: stringFlag(
    'plugin-registration-path',
    '/registration',
    "Directory, as mounted in this container, where kubelet's plugin watcher looks for registration sockets (on the host usually /var/lib/kubelet/plugins_registry).",
  ),
  kubeletRegistrationPath: stringFlag(
    'kubelet-registration-path',
    '',
    'Required. The CSI driver socket as kubelet on the host reaches it (e.g. /var/lib/kubelet/plugins/<driver>/csi.sock); handed to kubelet as the endpoint.',
  ),
  healthPort: intFlag(
    'health-port',
    0,
    '(deprecated) Serve /healthz on this TCP port on all addresses; 0 disables it. Cannot be combined with --http-endpoint.',
  ),
  httpEndpoint: stringFlag(
    'http-endpoint',
    '',
    'TCP address of the HTTP server for /healthz (whether the registration socket exists and answers) and /readyz (example: `:9809`). Empty disables the server. Cannot be combined with --health-port.',
  ),
  showVersion: boolFlag('version', false, 'Print the program name and version, then exit.'),
  mode: stringFlag(
    'mode',
    '',
    `DEPRECATED. ${registrationProbeMode} exits 0 at once without registering; any other value registers with kubelet.`,
  ),
  enablePprof: boolFlag(
    'enable-pprof',
    false,
    "Accepted for compatibility: Go's /debug/pprof endpoints do not exist in Node.js, so this only logs a warning (use node --inspect or heap snapshots).",
  ),
  pluginInfoWait: durationFlag(
    'plugin-info-wait',
    '0s',
    'Not an upstream flag. How long to keep retrying GetPluginInfo at start-up when the driver fails or is slower than --timeout (each attempt still under --timeout). 0 exits 1 on the first failure, as upstream.',
  ),
  livenessHttpEndpoint: stringFlag(
    'liveness-http-endpoint',
    '',
    "Not an upstream flag. Also serve the driver's liveness probe here, as livenessprobe's --http-endpoint does (/healthz calls the driver's Probe; metrics at --liveness-metrics-path), so that a node needs no livenessprobe container. Empty disables it.",
  ),
  livenessProbeTimeout: durationFlag(
    'liveness-probe-timeout',
    '3s',
    "Not an upstream flag. livenessprobe's --probe-timeout for --liveness-http-endpoint: connecting to the driver plus its Probe call.",
  ),
  livenessMetricsPath: stringFlag(
    'liveness-metrics-path',
    '/metrics',
    "Not an upstream flag. livenessprobe's --metrics-path for --liveness-http-endpoint; empty serves /healthz only and loads no metrics library.",
  ),
  ...loggingFlags,
  ...automaxprocsFlag,
};

export type RegistrarFlags = FlagValues<typeof registrarFlags>;

/**
 * The HTTP listen address from `--health-port` / `--http-endpoint`, undefined when neither is set; throws with
 * upstream's message when both are.
 */
export function healthListenAddress(flags: Pick<RegistrarFlags, 'healthPort' | 'httpEndpoint'>): string | undefined {
  if (flags.healthPort > 0 && flags.httpEndpoint !== '') {
    throw new Error('Only one of `--health-port` and `--http-endpoint` can be set');
  }
  if (flags.healthPort > 0) return `:${flags.healthPort}`;
  return flags.httpEndpoint === '' ? undefined : flags.httpEndpoint;
}
