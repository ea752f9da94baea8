import { describe, expect, it } from 'vitest';
import {
  FlagError,
  HelpRequested,
  boolFlag,
  boolMapFlag,
  durationFlag,
  floatFlag,
  formatUsage,
  intFlag,
  parseFlags,
  stringFlag,
  stringListFlag,
} from './flag-set.js';

const specs = {
  csiAddress: stringFlag('csi-address', '/run/csi/socket', 'Address of the CSI driver socket.'),
  timeout: durationFlag('timeout', '15s', 'Timeout for CSI calls.'),
  leaderElection: boolFlag('leader-election', false, 'Enable leader election.'),
  workers: intFlag('worker-threads', 10, 'Number of workers.'),
  qps: floatFlag('kube-api-qps', 5, 'QPS to the API server.'),
  verbosity: intFlag('v', 0, 'log level', { shorthand: 'v' }),
  gates: boolMapFlag('feature-gates', {}, 'Feature gates.'),
  topics: stringListFlag('extra', [], 'A list.'),
};

describe('parseFlags with Go flag syntax', () => {
  it('accepts single and double dashes, = and separate values', () => {
    const { values, explicit } = parseFlags(
      specs,
      ['-csi-address=/csi/csi.sock', '--timeout', '1m30s', '-worker-threads', '3', '--kube-api-qps=7.5'],
      'go',
    );
    expect(values.csiAddress).toBe('/csi/csi.sock');
    expect(values.timeout).toBe(90_000);
    expect(values.workers).toBe(3);
    expect(values.qps).toBe(7.5);
    expect([...explicit].sort()).toEqual(['csiAddress', 'qps', 'timeout', 'workers']);
  });

  it('keeps defaults for flags not given', () => {
    const { values, explicit } = parseFlags(specs, [], 'go');
    expect(values).toMatchObject({ csiAddress: '/run/csi/socket', timeout: 15_000, leaderElection: false });
    expect(explicit.size).toBe(0);
  });

  it('treats a bare bool flag as true and accepts Go bool spellings after =', () => {
    expect(parseFlags(specs, ['--leader-election'], 'go').values.leaderElection).toBe(true);
    expect(parseFlags(specs, ['-leader-election=f'], 'go').values.leaderElection).toBe(false);
    expect(parseFlags(specs, ['-leader-election=1'], 'go').values.leaderElection).toBe(true);
  });

  it('does not let a bool flag consume the next argument', () => {
    const { values, args } = parseFlags(specs, ['--leader-election', 'false'], 'go');
    expect(values.leaderElection).toBe(true);
    expect(args).toEqual(['false']);
  });

  it('stops at the first non-flag argument', () => {
    const { values, args } = parseFlags(specs, ['x', '--timeout=1s'], 'go');
    expect(values.timeout).toBe(15_000);
    expect(args).toEqual(['x', '--timeout=1s']);
  });

  it('rejects unknown flags, missing values and bad values with FlagError (exit 2)', () => {
    expect(() => parseFlags(specs, ['--nope'], 'go')).toThrow(new FlagError('flag provided but not defined: -nope'));
    expect(() => parseFlags(specs, ['--timeout'], 'go')).toThrow(/flag needs an argument: -timeout/);
    expect(() => parseFlags(specs, ['--timeout=15'], 'go')).toThrow(/invalid value "15" for flag -timeout/);
    expect(() => parseFlags(specs, ['--worker-threads=ten'], 'go')).toThrow(FlagError);
    expect(() => parseFlags(specs, ['--leader-election=yes'], 'go')).toThrow(FlagError);
    expect(new FlagError('x').exitCode).toBe(2);
  });

  it('reports -h and --help as a help request', () => {
    expect(() => parseFlags(specs, ['-h'], 'go')).toThrow(HelpRequested);
    expect(() => parseFlags(specs, ['--help'], 'go')).toThrow(HelpRequested);
  });

  it('parses feature gates as a bool map and merges repeated flags', () => {
    const { values } = parseFlags(specs, ['--feature-gates=A=true,B=false', '--feature-gates', 'C=true'], 'go');
    expect(values.gates).toEqual({ A: true, B: false, C: true });
    expect(() => parseFlags(specs, ['--feature-gates=A'], 'go')).toThrow(FlagError);
    expect(() => parseFlags(specs, ['--feature-gates=A=maybe'], 'go')).toThrow(FlagError);
  });

  it('does not share default objects between parses', () => {
    parseFlags(specs, ['--feature-gates=A=true', '--extra=a,b'], 'go');
    const again = parseFlags(specs, [], 'go');
    expect(again.values.gates).toEqual({});
    expect(again.values.topics).toEqual([]);
  });
});

describe('parseFlags with pflag syntax', () => {
  it('accepts long flags and one-letter shorthands', () => {
    expect(parseFlags(specs, ['--csi-address', '/a', '-v=5'], 'pflag').values).toMatchObject({
      csiAddress: '/a',
      verbosity: 5,
    });
    expect(parseFlags(specs, ['-v', '4'], 'pflag').values.verbosity).toBe(4);
    expect(parseFlags(specs, ['-v3'], 'pflag').values.verbosity).toBe(3);
  });

  it('rejects Go-style single-dash long flags as pflag does', () => {
    expect(() => parseFlags(specs, ['-csi-address=/a'], 'pflag')).toThrow(
      "unknown shorthand flag: 'c' in -csi-address=/a",
    );
    expect(() => parseFlags(specs, ['--nope'], 'pflag')).toThrow('unknown flag: --nope');
  });
});

describe('formatUsage', () => {
  it('lists flags sorted with types and non-zero defaults in Go layout', () => {
    const text = formatUsage('livenessprobe', specs, 'go');
    expect(text.startsWith('Usage of livenessprobe:\n')).toBe(true);
    expect(text).toContain(
      '  -csi-address string\n    \tAddress of the CSI driver socket. (default "/run/csi/socket")\n',
    );
    expect(text).toContain('  -timeout duration\n    \tTimeout for CSI calls. (default 15s)\n');
    expect(text).toContain('  -leader-election\n    \tEnable leader election.\n');
    expect(text.indexOf('-csi-address')).toBeLessThan(text.indexOf('-timeout'));
  });

  it('shows shorthands in pflag layout', () => {
    expect(formatUsage('csi-provisioner', specs, 'pflag')).toContain('  -v, --v int\n');
  });
});
