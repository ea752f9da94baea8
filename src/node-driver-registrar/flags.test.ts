import { describe, expect, it } from 'vitest';
import { parseFlags } from '../shared/flags/flag-set.js';
import { healthListenAddress, registrarFlags } from './flags.js';

function parse(argv: string[]) {
  return parseFlags(registrarFlags, argv, 'go').values;
}

describe('node-driver-registrar flags', () => {
  it("has upstream v2.17.0's defaults", () => {
    expect(parse([])).toMatchObject({
      connectionTimeout: 0,
      timeout: 1_000,
      csiAddress: '/run/csi/socket',
      pluginRegistrationPath: '/registration',
      kubeletRegistrationPath: '',
      healthPort: 0,
      httpEndpoint: '',
      showVersion: false,
      mode: '',
      enablePprof: false,
      pluginInfoWait: 0,
      verbosity: 0,
      loggingFormat: 'text',
      automaxprocs: false,
    });
  });

  it('takes Go flag syntax: one or two dashes, a separate value, durations', () => {
    const values = parse(['-csi-address', '/csi/csi.sock', '--timeout=2s', '-health-port=9809', '--v=5']);
    expect(values).toMatchObject({ csiAddress: '/csi/csi.sock', timeout: 2_000, healthPort: 9809, verbosity: 5 });
  });

  it('serves HTTP on :<health-port>, on --http-endpoint, or not at all', () => {
    expect(healthListenAddress(parse([]))).toBeUndefined();
    expect(healthListenAddress(parse(['--health-port=9809']))).toBe(':9809');
    expect(healthListenAddress(parse(['--http-endpoint=127.0.0.1:9809']))).toBe('127.0.0.1:9809');
    // A zero or negative port means "off", as upstream's `> 0` test.
    expect(healthListenAddress(parse(['--health-port=-1', '--http-endpoint=:1']))).toBe(':1');
  });

  it("refuses --health-port together with --http-endpoint in upstream's words", () => {
    expect(() => healthListenAddress(parse(['--health-port=9809', '--http-endpoint=:9809']))).toThrow(
      'Only one of `--health-port` and `--http-endpoint` can be set',
    );
  });

  it('rejects a malformed value as Go flag does', () => {
    expect(() => parse(['--health-port=abc'])).toThrow(/invalid value "abc" for flag -health-port/);
  });
});
