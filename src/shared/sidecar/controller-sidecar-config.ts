import type { FlagValues } from '../flags/flag-set.js';
import { diagnosticsAddress } from '../flags/standard-flags.js';
import type { standardFlags } from '../flags/standard-flags.js';
import { parseLeaderElectionLabels } from '../leader-election/lease-config.js';

/** What the shared runtime of a controller sidecar (csi-provisioner, csi-attacher) reads from its flags. */
export interface ControllerSidecarConfig {
  csiAddress: string;
  kubeconfig: string;
  /** `--master`; the attacher has no such flag and leaves it empty. */
  master: string;
  kubeApiQps: number;
  kubeApiBurst: number;
  /** `--timeout`: each Probe of the start-up wait, and the sidecar's own CSI calls. */
  operationTimeoutMs: number;
  leaderElection: {
    enabled: boolean;
    /** Empty: POD_NAMESPACE, the service-account namespace or "default", decided at start-up. */
    namespace: string;
    leaseDurationMs: number;
    renewDeadlineMs: number;
    retryPeriodMs: number;
    labels: Record<string, string>;
  };
  http: {
    /** Diagnostics server address; undefined when neither --http-endpoint nor --metrics-address is set. */
    address?: string;
    /** Upstream registers the leader-election healthz only for --http-endpoint, not the deprecated alias. */
    leaderElectionHealthz: boolean;
    metricsPath: string;
  };
}

/** The ControllerSidecarConfig fields that come from csi-lib-utils' standard flags. */
export function standardSidecarConfig(
  values: FlagValues<typeof standardFlags>,
): Omit<ControllerSidecarConfig, 'master' | 'operationTimeoutMs'> {
  return {
    csiAddress: values.csiAddress,
    kubeconfig: values.kubeconfig,
    kubeApiQps: values.kubeApiQps,
    kubeApiBurst: values.kubeApiBurst,
    leaderElection: {
      enabled: values.leaderElection,
      namespace: values.leaderElectionNamespace,
      leaseDurationMs: values.leaderElectionLeaseDuration,
      renewDeadlineMs: values.leaderElectionRenewDeadline,
      retryPeriodMs: values.leaderElectionRetryPeriod,
      labels: parseLeaderElectionLabels(values.leaderElectionLabels),
    },
    http: {
      address: diagnosticsAddress(values),
      leaderElectionHealthz: values.httpEndpoint !== '',
      metricsPath: values.metricsPath,
    },
  };
}
