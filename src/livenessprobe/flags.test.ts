import { describe, expect, it } from 'vitest';
import { parseFlags } from '../shared/flags/flag-set.js';
import { livenessProbeFlags, resolveListeners } from './flags.js';

function listenersFor(argv: string[]) {
  return resolveListeners(parseFlags(livenessProbeFlags, argv, 'go').values);
}

describe('livenessprobe flags', () => {
  it('has upstream defaults', () => {
    const { values } = parseFlags(livenessProbeFlags, [], 'go');
    expect(values).toMatchObject({
      csiAddress: '/run/csi/socket',
      probeTimeout: 3_000,
      healthPort: '9808',
      metricsAddress: '',
      httpEndpoint: '',
      metricsPath: '/metrics',
      verbosity: 0,
      loggingFormat: 'text',
    });
  });

  it('has no --version flag, like upstream', () => {
    expect(() => parseFlags(livenessProbeFlags, ['--version'], 'go')).toThrow(/not defined: -version/);
  });

  it('serves /healthz alone on 0.0.0.0:<health-port> by default', () => {
    expect(listenersFor([])).toEqual({ healthAddress: '0.0.0.0:9808', metricsOnHealthServer: false });
    expect(listenersFor(['-health-port=9809']).healthAddress).toBe('0.0.0.0:9809');
  });

  it('serves /healthz and metrics on --http-endpoint', () => {
    expect(listenersFor(['--http-endpoint=:8080'])).toEqual({ healthAddress: ':8080', metricsOnHealthServer: true });
  });

  it('keeps metrics on a separate server with the deprecated --metrics-address', () => {
    expect(listenersFor(['--metrics-address=:8081'])).toEqual({
      healthAddress: '0.0.0.0:9808',
      metricsOnHealthServer: false,
      separateMetricsAddress: ':8081',
    });
  });

  it('rejects a changed --health-port together with --http-endpoint, but allows the default value', () => {
    expect(() => listenersFor(['--health-port=1234', '--http-endpoint=:8080'])).toThrow(
      'Only one of `--health-port` and `--http-endpoint` can be explicitly set',
    );
    expect(listenersFor(['--health-port=9808', '--http-endpoint=:8080']).healthAddress).toBe(':8080');
  });

  it('rejects --metrics-address together with --http-endpoint', () => {
    expect(() => listenersFor(['--metrics-address=:1', '--http-endpoint=:2'])).toThrow(
      'Only one of `--metrics-address` and `--http-endpoint` can be explicitly set',
    );
  });
});
