import { describe, expect, it } from 'vitest';
import { Logger } from '../log/logger.js';
import { FakeClock } from '../testing/fake-clock.js';
import { FakeLeaseClient } from './fake-lease-client.js';
import { leaderElectionEventComponent, newSidecarLeaderElector } from './sidecar-leader-election.js';
import type { SidecarLeaderElectionOptions } from './sidecar-leader-election.js';

function setup(run: SidecarLeaderElectionOptions['run'], options: Partial<SidecarLeaderElectionOptions> = {}) {
  const clock = new FakeClock();
  const store = new FakeLeaseClient();
  const lines: string[] = [];
  const exits: number[] = [];
  const controller = new AbortController();
  const elector = newSidecarLeaderElector({
    leaseClient: store,
    lockName: 'external-attacher-leader-hostpath.csi.k8s.io',
    identity: 'csi_attacher.0',
    namespace: 'kube-system',
    clock,
    logger: new Logger({ verbosity: 3, sink: (line) => void lines.push(line) }),
    run,
    exit: (code) => void exits.push(code),
    ...options,
  });
  const done = elector.run(controller.signal);
  return { clock, store, lines, exits, controller, done };
}

const LEASE = 'external-attacher-leader-hostpath-csi-k8s-io';

describe('newSidecarLeaderElector', () => {
  it('uses sanitised names, runs the controllers, and on loss logs "Stopped leading" and exits 1', async () => {
    const runs: AbortSignal[] = [];
    const { clock, store, lines, exits, done } = setup((signal) => void runs.push(signal));
    await clock.advance(0);

    const lease = store.read('kube-system', LEASE);
    expect(lease?.spec?.holderIdentity).toBe('csi-attacher-0');
    expect(runs).toHaveLength(1);
    expect(lines.some((l) => l.includes('"became leader, starting"'))).toBe(true);
    expect(lines.some((l) => l.includes('"New leader detected" leader="csi-attacher-0"'))).toBe(true);

    store.intercept(() => Promise.reject(new Error('apiserver unreachable')));
    await clock.advance(20_000);
    await done;
    expect(runs[0].aborted).toBe(true);
    expect(exits).toEqual([1]);
    expect(lines.some((l) => l.startsWith('E') && l.includes('"Stopped leading"'))).toBe(true);
  });

  it('on a requested stop releases the Lease and returns without exiting or logging an error', async () => {
    const runs: AbortSignal[] = [];
    const { clock, store, lines, exits, controller, done } = setup((signal) => void runs.push(signal), {
      releaseOnCancel: true,
    });
    await clock.advance(7_000);
    controller.abort();
    await done;

    expect(runs[0].aborted).toBe(true);
    expect(exits).toEqual([]);
    expect(lines.filter((l) => l.startsWith('E'))).toEqual([]);
    expect(lines.some((l) => l.includes('"Stopped leading on request"'))).toBe(true);
    expect(store.read('kube-system', LEASE)?.spec?.holderIdentity).toBe('');
  });

  it.each([
    ['rejects', () => Promise.reject(new Error('informer sync failed'))],
    [
      'throws',
      () => {
        throw new Error('informer sync failed');
      },
    ],
  ])('exits 1 when the controllers fail to start (run %s) instead of holding the Lease', async (_label, run) => {
    const { clock, lines, exits } = setup(run);
    await clock.advance(0);

    expect(exits).toEqual([1]);
    const line = lines.find((l) => l.includes('"Controllers failed"'));
    expect(line?.startsWith('E')).toBe(true);
    expect(line).toContain('informer sync failed');
  });

  it('only logs a controller failure that comes after a requested stop', async () => {
    const { clock, lines, exits, controller, done } = setup(
      (signal) =>
        new Promise<void>((_resolve, reject) => {
          signal.addEventListener('abort', () => reject(new Error('stopped while syncing')), { once: true });
        }),
    );
    await clock.advance(0);
    controller.abort();
    await done;
    await clock.advance(0);

    expect(exits).toEqual([]);
    expect(lines.some((l) => l.includes('"Controllers failed"') && l.includes('stopped while syncing'))).toBe(true);
  });

  it('names the event source "<lockName>/<identity>" without sanitising', () => {
    expect(leaderElectionEventComponent('hostpath.csi.k8s.io', 'pod.1')).toBe('hostpath.csi.k8s.io/pod.1');
  });
});
