import { describe, expect, it } from 'vitest';
import { Logger } from '../log/logger.js';
import { FakeClock } from '../testing/fake-clock.js';
import { FakeLeaseClient } from './fake-lease-client.js';
import { leaderElectionEventComponent, newSidecarLeaderElector } from './sidecar-leader-election.js';

describe('newSidecarLeaderElector', () => {
  it('uses sanitised names, runs the controllers, and on loss logs "Stopped leading" and exits 1', async () => {
    const clock = new FakeClock();
    const store = new FakeLeaseClient();
    const lines: string[] = [];
    const exits: number[] = [];
    const runs: AbortSignal[] = [];
    const elector = newSidecarLeaderElector({
      leaseClient: store,
      lockName: 'external-attacher-leader-hostpath.csi.k8s.io',
      identity: 'csi_attacher.0',
      namespace: 'kube-system',
      clock,
      logger: new Logger({ verbosity: 3, sink: (line) => void lines.push(line) }),
      run: (signal) => void runs.push(signal),
      exit: (code) => void exits.push(code),
    });
    const done = elector.run(new AbortController().signal);
    await clock.advance(0);

    const lease = store.read('kube-system', 'external-attacher-leader-hostpath-csi-k8s-io');
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

  it('names the event source "<lockName>/<identity>" without sanitising', () => {
    expect(leaderElectionEventComponent('hostpath.csi.k8s.io', 'pod.1')).toBe('hostpath.csi.k8s.io/pod.1');
  });
});
