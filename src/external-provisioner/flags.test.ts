import { describe, expect, it } from 'vitest';
import { FlagError, formatUsage, parseFlags } from '../shared/flags/flag-set.js';
import { provisionerFlags, resolveProvisionerConfig, resolveProvisionerFeatureGates } from './flags.js';

function parse(argv: string[]) {
  return parseFlags(provisionerFlags, argv, 'pflag').values;
}

function configFor(argv: string[]) {
  return resolveProvisionerConfig(parse(argv));
}

const second = 1_000;
const minute = 60 * second;

describe('provisioner flags: names and defaults', () => {
  // Upstream name, expected parsed default (durations in ms).
  const defaults: [string, unknown][] = [
    ['csi-address', '/run/csi/socket'],
    ['kubeconfig', ''],
    ['master', ''],
    ['kube-api-qps', 5],
    ['kube-api-burst', 10],
    ['timeout', 10 * second],
    ['version', false],
    ['leader-election', false],
    ['leader-election-namespace', ''],
    ['leader-election-lease-duration', 15 * second],
    ['leader-election-renew-deadline', 10 * second],
    ['leader-election-retry-period', 5 * second],
    ['leader-election-labels', ''],
    ['http-endpoint', ''],
    ['metrics-address', ''],
    ['metrics-path', '/metrics'],
    ['enable-pprof', false],
    ['automaxprocs', false],
    ['worker-threads', 100],
    ['retry-interval-start', 1 * second],
    ['retry-interval-max', 5 * minute],
    ['cloning-protection-threads', 1],
    ['snapshot-orphan-sweep-interval', 5 * minute],
    ['capacity-threads', 1],
    ['volume-name-prefix', 'pvc'],
    ['volume-name-uuid-length', -1],
    ['strict-topology', false],
    ['immediate-topology', true],
    ['enable-capacity', false],
    ['capacity-ownerref-level', 1],
    ['capacity-poll-interval', 1 * minute],
    ['capacity-for-immediate-binding', false],
    ['kube-api-capacity-qps', 1],
    ['kube-api-capacity-burst', 5],
    ['node-deployment', false],
    ['node-deployment-immediate-binding', true],
    ['node-deployment-base-delay', 20 * second],
    ['node-deployment-max-delay', 60 * second],
    ['feature-gates', {}],
    ['extra-create-metadata', false],
    ['durable-in-flight', false],
    ['default-fstype', ''],
    ['controller-publish-readonly', false],
    ['prevent-volume-mode-conversion', true],
    ['v', 0],
    ['vmodule', ''],
    ['logging-format', 'text'],
    ['log-flush-frequency', 5 * second],
  ];
  const values = parse([]) as Record<string, unknown>;
  const keyByName = new Map(Object.entries(provisionerFlags).map(([key, spec]) => [spec.name, key]));

  it.each(defaults)('--%s defaults to %j', (name, expected) => {
    const key = keyByName.get(name);
    expect(key, `flag --${name} is registered`).toBeDefined();
    expect(values[key as string]).toEqual(expected);
  });

  it('registers no flag beyond the upstream set, the logging flags and --durable-in-flight', () => {
    const expected = new Set([
      ...defaults.map(([name]) => name),
      'log-text-split-stream',
      'log-text-info-buffer-size',
      'log-json-split-stream',
      'log-json-info-buffer-size',
    ]);
    expect(new Set(keyByName.keys())).toEqual(expected);
  });

  it('uses the pflag shorthand -v for verbosity and documents every flag', () => {
    const usage = formatUsage('csi-provisioner', provisionerFlags, 'pflag');
    expect(usage).toContain('  -v, --v Level');
    expect(usage).toContain('--prevent-volume-mode-conversion');
  });
});

describe('provisioner flags: pflag syntax', () => {
  it.each([
    [['--volume-name-prefix=vol'], 'vol'],
    [['--volume-name-prefix', 'vol'], 'vol'],
  ])('accepts %j', (argv, expected) => {
    expect(parse(argv).volumeNamePrefix).toBe(expected);
  });

  it.each([[['-v=5']], [['-v', '5']], [['-v5']], [['--v=5']]])('accepts verbosity as %j', (argv) => {
    expect(parse(argv).verbosity).toBe(5);
  });

  it('rejects Go-style single-dash long flags', () => {
    expect(() => parse(['-csi-address=/x'])).toThrow(FlagError);
    expect(() => parse(['-csi-address=/x'])).toThrow("unknown shorthand flag: 'c' in -csi-address=/x");
  });

  it('rejects unknown flags', () => {
    expect(() => parse(['--provisioner=foo'])).toThrow('unknown flag: --provisioner');
  });

  it('turns a bare bool flag on and reads explicit bool values', () => {
    expect(parse(['--strict-topology']).strictTopology).toBe(true);
    expect(parse(['--immediate-topology=false']).immediateTopology).toBe(false);
    expect(parse(['--prevent-volume-mode-conversion=f']).preventVolumeModeConversion).toBe(false);
  });

  it('parses Go durations and float QPS', () => {
    const values = parse(['--timeout=1m30s', '--retry-interval-max=300ms', '--kube-api-qps=2.5']);
    expect(values.operationTimeout).toBe(90 * second);
    expect(values.retryIntervalMax).toBe(300);
    expect(values.kubeApiQps).toBe(2.5);
  });

  it('rejects malformed values', () => {
    expect(() => parse(['--timeout=10'])).toThrow(FlagError);
    expect(() => parse(['--worker-threads=many'])).toThrow(FlagError);
    expect(() => parse(['--strict-topology=yes'])).toThrow(FlagError);
  });

  it('merges repeated --feature-gates', () => {
    const values = parse(['--feature-gates=Topology=false', '--feature-gates', 'CrossNamespaceVolumeDataSource=true']);
    expect(values.featureGates).toEqual({ Topology: false, CrossNamespaceVolumeDataSource: true });
  });

  it('rejects a feature gate without a bool value', () => {
    expect(() => parse(['--feature-gates=Topology=maybe'])).toThrow(FlagError);
    expect(() => parse(['--feature-gates=Topology'])).toThrow(FlagError);
  });
});

describe('resolveProvisionerConfig', () => {
  it('builds the default configuration', () => {
    expect(configFor([])).toEqual({
      csiAddress: '/run/csi/socket',
      kubeconfig: '',
      master: '',
      kubeApiQps: 5,
      kubeApiBurst: 10,
      operationTimeoutMs: 10 * second,
      leaderElection: {
        enabled: false,
        namespace: '',
        leaseDurationMs: 15 * second,
        renewDeadlineMs: 10 * second,
        retryPeriodMs: 5 * second,
        labels: {},
      },
      http: { address: undefined, leaderElectionHealthz: false, metricsPath: '/metrics' },
      enablePprof: false,
      workerThreads: 100,
      retryIntervalStartMs: 1 * second,
      retryIntervalMaxMs: 5 * minute,
      cloningProtectionThreads: 1,
      snapshotOrphanSweepIntervalMs: 5 * minute,
      volumeNamePrefix: 'pvc',
      volumeNameUuidLength: -1,
      strictTopology: false,
      immediateTopology: true,
      extraCreateMetadata: false,
      durableInFlight: false,
      defaultFsType: '',
      controllerPublishReadOnly: false,
      preventVolumeModeConversion: true,
      featureGates: {
        Topology: true,
        VolumeAttributesClass: true,
        CrossNamespaceVolumeDataSource: false,
        ReleaseLeaderElectionOnExit: false,
      },
      explicitFeatureGates: new Set(),
    });
  });

  it('carries leader election settings and parses the Lease labels', () => {
    const config = configFor([
      '--leader-election',
      '--leader-election-namespace=kube-system',
      '--leader-election-lease-duration=30s',
      '--leader-election-labels=team:storage,tier:csi',
    ]);
    expect(config.leaderElection).toMatchObject({
      enabled: true,
      namespace: 'kube-system',
      leaseDurationMs: 30 * second,
      labels: { team: 'storage', tier: 'csi' },
    });
  });

  it.each(['team', 'team:storage:x', 'a:b,c'])('rejects the malformed Lease labels %j', (labels) => {
    expect(() => configFor([`--leader-election-labels=${labels}`])).toThrow('malformed item in list of labels');
  });

  it('serves diagnostics with the leader-election healthz on --http-endpoint', () => {
    const config = configFor(['--http-endpoint=:8080', '--enable-pprof']);
    expect(config.http).toEqual({ address: ':8080', leaderElectionHealthz: true, metricsPath: '/metrics' });
    expect(config.enablePprof).toBe(true);
  });

  it('serves metrics without the healthz on the deprecated --metrics-address', () => {
    expect(configFor(['--metrics-address=:8081', '--metrics-path=/m']).http).toEqual({
      address: ':8081',
      leaderElectionHealthz: false,
      metricsPath: '/m',
    });
  });

  it('refuses --metrics-address together with --http-endpoint', () => {
    expect(() => configFor(['--metrics-address=:8081', '--http-endpoint=:8080'])).toThrow(
      'Only one of `--metrics-address` and `--http-endpoint` can be set.',
    );
  });

  it.each(['worker-threads', 'cloning-protection-threads', 'capacity-threads'])(
    'rejects a negative --%s like pflag does for uint flags',
    (name) => {
      const act = () => configFor([`--${name}=-1`]);
      expect(act).toThrow(FlagError);
      expect(act).toThrow(
        `invalid argument "-1" for "--${name}" flag: strconv.ParseUint: parsing "-1": invalid syntax`,
      );
    },
  );

  it('passes naming, topology and behaviour flags through', () => {
    const config = configFor([
      '--volume-name-prefix=vol',
      '--volume-name-uuid-length=8',
      '--strict-topology',
      '--immediate-topology=false',
      '--extra-create-metadata',
      '--durable-in-flight',
      '--default-fstype=ext4',
      '--controller-publish-readonly',
      '--prevent-volume-mode-conversion=false',
      '--worker-threads=7',
      '--cloning-protection-threads=3',
      '--snapshot-orphan-sweep-interval=0',
    ]);
    expect(config).toMatchObject({
      volumeNamePrefix: 'vol',
      volumeNameUuidLength: 8,
      strictTopology: true,
      immediateTopology: false,
      extraCreateMetadata: true,
      durableInFlight: true,
      defaultFsType: 'ext4',
      controllerPublishReadOnly: true,
      preventVolumeModeConversion: false,
      workerThreads: 7,
      cloningProtectionThreads: 3,
      snapshotOrphanSweepIntervalMs: 0,
    });
  });

  it('refuses --enable-capacity instead of silently running without capacity tracking', () => {
    expect(() => configFor(['--enable-capacity'])).toThrow(
      /--enable-capacity: storage capacity tracking .* is not implemented in this release/,
    );
  });

  it('refuses --node-deployment instead of silently running as a central provisioner', () => {
    expect(() => configFor(['--node-deployment'])).toThrow(
      /--node-deployment: distributed provisioning .* is not implemented in this release/,
    );
  });

  it('accepts the capacity and node-deployment tuning flags while those modes are off, as upstream', () => {
    expect(() =>
      configFor([
        '--capacity-poll-interval=5m',
        '--capacity-ownerref-level=-1',
        '--kube-api-capacity-qps=3',
        '--node-deployment-immediate-binding=false',
        '--node-deployment-base-delay=1s',
      ]),
    ).not.toThrow();
  });
});

describe('feature gates', () => {
  it('has upstream defaults', () => {
    expect(resolveProvisionerFeatureGates({})).toEqual({
      gates: {
        Topology: true,
        VolumeAttributesClass: true,
        CrossNamespaceVolumeDataSource: false,
        ReleaseLeaderElectionOnExit: false,
      },
      explicit: new Set(),
    });
  });

  it('applies explicit values and remembers which gates were named', () => {
    const { gates, explicit } = resolveProvisionerFeatureGates({
      VolumeAttributesClass: false,
      ReleaseLeaderElectionOnExit: true,
    });
    expect(gates.VolumeAttributesClass).toBe(false);
    expect(gates.ReleaseLeaderElectionOnExit).toBe(true);
    expect(explicit).toEqual(new Set(['VolumeAttributesClass', 'ReleaseLeaderElectionOnExit']));
  });

  it('lets AllAlpha switch every alpha gate that is not named itself', () => {
    const { gates } = resolveProvisionerFeatureGates({ AllAlpha: true, ReleaseLeaderElectionOnExit: false });
    expect(gates.CrossNamespaceVolumeDataSource).toBe(true);
    expect(gates.ReleaseLeaderElectionOnExit).toBe(false);
    expect(gates.Topology).toBe(true);
  });

  it('accepts AllBeta, which has no provisioner gate to switch', () => {
    expect(resolveProvisionerFeatureGates({ AllBeta: true }).gates.Topology).toBe(true);
  });

  it('rejects an unknown gate and lists the known gates with their defaults', () => {
    const act = () => configFor(['--feature-gates=Topology=true,HonorPVReclaimPolicy=false']);
    expect(act).toThrow('unrecognized feature gate: HonorPVReclaimPolicy');
    expect(act).toThrow('Topology=true|false (GA - default=true)');
    expect(act).toThrow('CrossNamespaceVolumeDataSource=true|false (ALPHA - default=false)');
    expect(act).toThrow('ReleaseLeaderElectionOnExit=true|false (ALPHA - default=false)');
    expect(act).toThrow('VolumeAttributesClass=true|false (GA - default=true)');
  });

  it('matches gate names case-sensitively, as component-base does', () => {
    expect(() => resolveProvisionerFeatureGates({ topology: true })).toThrow('unrecognized feature gate: topology');
  });

  it('reaches the configuration through --feature-gates', () => {
    const config = configFor(['--feature-gates=VolumeAttributesClass=false']);
    expect(config.featureGates.VolumeAttributesClass).toBe(false);
    expect(config.explicitFeatureGates.has('VolumeAttributesClass')).toBe(true);
  });
});
