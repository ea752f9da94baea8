import { describe, expect, it } from 'vitest';
import { FlagError, parseFlags } from '../shared/flags/flag-set.js';
import { attacherFlags, resolveAttacherConfig } from './flags.js';

const second = 1_000;
const minute = 60 * second;

function parse(argv: string[]) {
  return parseFlags(attacherFlags, argv, 'go').values;
}

function configFor(argv: string[]) {
  return resolveAttacherConfig(parse(argv));
}

describe('resolveAttacherConfig', () => {
  it("builds upstream's defaults", () => {
    expect(configFor([])).toEqual({
      csiAddress: '/run/csi/socket',
      kubeconfig: '',
      master: '',
      kubeApiQps: 5,
      kubeApiBurst: 10,
      operationTimeoutMs: 15 * second,
      leaderElection: {
        enabled: false,
        namespace: '',
        leaseDurationMs: 15 * second,
        renewDeadlineMs: 10 * second,
        retryPeriodMs: 5 * second,
        labels: {},
      },
      http: { address: undefined, leaderElectionHealthz: false, metricsPath: '/metrics' },
      resyncMs: 10 * minute,
      retryIntervalStartMs: 1 * second,
      retryIntervalMaxMs: 5 * minute,
      workerThreads: 10,
      maxEntries: 0,
      defaultFsType: '',
      reconcileSyncMs: 1 * minute,
      maxGrpcLogLength: -1,
      backlogLogIntervalMs: 1 * minute,
      volumeAttachmentEvents: false,
      featureGates: { ReleaseLeaderElectionOnExit: false, MutableCSINodeAllocatableCount: true },
    });
  });

  it('reads the attacher flags in Go syntax', () => {
    const config = configFor([
      '-timeout=30s',
      '--worker-threads=4',
      '-max-entries',
      '100',
      '--default-fstype=xfs',
      '--reconcile-sync=5m',
      '--retry-interval-start=500ms',
      '--retry-interval-max=1m',
      '--resync=1h',
      '--http-endpoint=:8080',
      '--feature-gates=ReleaseLeaderElectionOnExit=true,MutableCSINodeAllocatableCount=false',
    ]);
    expect(config).toMatchObject({
      operationTimeoutMs: 30 * second,
      workerThreads: 4,
      maxEntries: 100,
      defaultFsType: 'xfs',
      reconcileSyncMs: 5 * minute,
      retryIntervalStartMs: 500,
      retryIntervalMaxMs: minute,
      resyncMs: 60 * minute,
      http: { address: ':8080', leaderElectionHealthz: true },
      featureGates: { ReleaseLeaderElectionOnExit: true, MutableCSINodeAllocatableCount: false },
    });
  });

  it("reads the two flags that are not upstream's: the backlog log period and the opt-in events", () => {
    const config = configFor(['-backlog-log-interval=0', '--volumeattachment-events']);
    expect(config.backlogLogIntervalMs).toBe(0);
    expect(config.volumeAttachmentEvents).toBe(true);
    expect(configFor(['--backlog-log-interval=30s']).backlogLogIntervalMs).toBe(30_000);
  });

  it('rejects --worker-threads=0 as a start-up error (exit 1), not a flag error', () => {
    let thrown: unknown;
    try {
      configFor(['--worker-threads=0']);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(Error);
    expect(thrown).not.toBeInstanceOf(FlagError);
    expect((thrown as Error).message).toBe('Option -worker-threads must be greater than zero');
  });

  it("rejects a negative --worker-threads like Go's uint flag (FlagError, exit 2)", () => {
    expect(() => configFor(['--worker-threads=-1'])).toThrow(FlagError);
    expect(() => configFor(['--worker-threads=-1'])).toThrow(
      'invalid value "-1" for flag -worker-threads: parse error',
    );
  });

  it('rejects an unknown feature gate as a start-up error', () => {
    expect(() => configFor(['--feature-gates=NoSuchGate=true'])).toThrow('unrecognized feature gate: NoSuchGate');
    expect(() => configFor(['--feature-gates=NoSuchGate=true'])).not.toThrow(FlagError);
  });

  it('accepts --automaxprocs and rejects flags upstream does not register', () => {
    expect(() => parse(['--automaxprocs'])).not.toThrow();
    expect(() => parse(['--logtostderr'])).toThrow('flag provided but not defined: -logtostderr');
    expect(() => parse(['--master=x'])).toThrow(FlagError);
  });
});
