import { boolFlag, durationFlag, floatFlag, intFlag, stringFlag } from './flag-set.js';

/** csi-lib-utils' standard sidecar flags, with the same names and defaults. */
export const standardFlags = {
  showVersion: boolFlag('version', false, 'Show version.'),
  kubeconfig: stringFlag(
    'kubeconfig',
    '',
    'Absolute path to the kubeconfig file. Required only when running out of cluster.',
  ),
  csiAddress: stringFlag('csi-address', '/run/csi/socket', 'The gRPC endpoint for Target CSI Volume.'),
  leaderElection: boolFlag('leader-election', false, 'Enable leader election.'),
  leaderElectionNamespace: stringFlag(
    'leader-election-namespace',
    '',
    'Namespace where the leader election resource lives. Defaults to the pod namespace if not set.',
  ),
  leaderElectionLeaseDuration: durationFlag(
    'leader-election-lease-duration',
    '15s',
    'Duration, in seconds, that non-leader candidates will wait to force acquire leadership.',
  ),
  leaderElectionRenewDeadline: durationFlag(
    'leader-election-renew-deadline',
    '10s',
    'Duration, in seconds, that the acting leader will retry refreshing leadership before giving up.',
  ),
  leaderElectionRetryPeriod: durationFlag(
    'leader-election-retry-period',
    '5s',
    'Duration, in seconds, the LeaderElector clients should wait between tries of actions.',
  ),
  leaderElectionLabels: stringFlag(
    'leader-election-labels',
    '',
    'Labels for the leader election Lease, as key:value pairs separated by commas (e.g. team:storage,tier:csi).',
    { typeName: 'key:value,...' },
  ),
  kubeApiQps: floatFlag('kube-api-qps', 5, 'QPS to use while communicating with the kubernetes apiserver.'),
  kubeApiBurst: intFlag('kube-api-burst', 10, 'Burst to use while communicating with the kubernetes apiserver.'),
  httpEndpoint: stringFlag(
    'http-endpoint',
    '',
    'The TCP network address where the HTTP server for diagnostics, including metrics and leader election health check, will listen (example: `:8080`). The default is empty string, which means the server is disabled. Only one of `--metrics-address` and `--http-endpoint` can be set.',
  ),
  metricsAddress: stringFlag(
    'metrics-address',
    '',
    '(deprecated) The TCP network address where the prometheus metrics endpoint will listen (example: `:8080`). The default is empty string, which means metrics endpoint is disabled. Only one of `--metrics-address` and `--http-endpoint` can be set.',
  ),
  metricsPath: stringFlag(
    'metrics-path',
    '/metrics',
    'The HTTP path where prometheus metrics will be exposed. Default is `/metrics`.',
  ),
};

/**
 * The diagnostics listen address from --http-endpoint or its deprecated alias
 * --metrics-address; setting both is a start-up error, as upstream.
 */
export function diagnosticsAddress(values: { httpEndpoint: string; metricsAddress: string }): string | undefined {
  if (values.httpEndpoint !== '' && values.metricsAddress !== '') {
    throw new Error('Only one of `--metrics-address` and `--http-endpoint` can be set.');
  }
  const address = values.httpEndpoint || values.metricsAddress;
  return address === '' ? undefined : address;
}
