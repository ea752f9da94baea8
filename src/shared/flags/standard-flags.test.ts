import { describe, expect, it } from 'vitest';
import { parseFlags } from './flag-set.js';
import { diagnosticsAddress, standardFlags } from './standard-flags.js';

describe('standard sidecar flags', () => {
  it('have csi-lib-utils defaults', () => {
    const { values } = parseFlags(standardFlags, [], 'go');
    expect(values).toEqual({
      showVersion: false,
      kubeconfig: '',
      csiAddress: '/run/csi/socket',
      leaderElection: false,
      leaderElectionNamespace: '',
      leaderElectionLeaseDuration: 15_000,
      leaderElectionRenewDeadline: 10_000,
      leaderElectionRetryPeriod: 5_000,
      leaderElectionLabels: '',
      kubeApiQps: 5,
      kubeApiBurst: 10,
      httpEndpoint: '',
      metricsAddress: '',
      metricsPath: '/metrics',
    });
  });

  it('take the diagnostics address from --http-endpoint or the deprecated --metrics-address, not both', () => {
    expect(diagnosticsAddress({ httpEndpoint: ':8080', metricsAddress: '' })).toBe(':8080');
    expect(diagnosticsAddress({ httpEndpoint: '', metricsAddress: ':8081' })).toBe(':8081');
    expect(diagnosticsAddress({ httpEndpoint: '', metricsAddress: '' })).toBeUndefined();
    expect(() => diagnosticsAddress({ httpEndpoint: ':1', metricsAddress: ':2' })).toThrow(
      'Only one of `--metrics-address` and `--http-endpoint` can be set.',
    );
  });
});
