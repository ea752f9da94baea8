import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../shared/controller/work-queue.js';
import { discardLogger } from '../shared/log/logger.js';
import { FakeClock } from '../shared/testing/fake-clock.js';
import { MemoryCache } from '../shared/testing/memory-cache.js';
import { FINALIZER_SNAPSHOT_SOURCE_PROTECTION } from './keys.js';
import type { VolumeSnapshot } from './protection-ports.js';
import { SnapshotFinalizerController, snapshotKeyOf } from './snapshot-finalizer-controller.js';
import { FakeProtectionKube } from './testing/fake-protection-kube.js';

const SNAPSHOTTER_FINALIZER = 'snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection';
const GROUP = 'snapshot.storage.k8s.io';
const INTERVAL_MS = 5 * 60_000;

function snapshot(
  namespace: string,
  name: string,
  finalizers = [SNAPSHOTTER_FINALIZER, FINALIZER_SNAPSHOT_SOURCE_PROTECTION],
) {
  const snap: VolumeSnapshot = {
    metadata: { namespace, name, uid: `uid-${name}`, resourceVersion: '3', finalizers },
    spec: { source: { persistentVolumeClaimName: 'origin' } },
  };
  return snap;
}

function restore(name: string, phase: string | undefined, snapshotName = 'snap', namespace = 'ns') {
  const claim: V1PersistentVolumeClaim = {
    metadata: { namespace, name },
    spec: { dataSource: { kind: 'VolumeSnapshot', apiGroup: GROUP, name: snapshotName } },
    status: phase === undefined ? {} : { phase },
  };
  return claim;
}

function setup(snapshots: VolumeSnapshot[], claims: V1PersistentVolumeClaim[] = []) {
  const clock = new FakeClock();
  const snapshotCache = new MemoryCache<VolumeSnapshot>(snapshots);
  const claimCache = new MemoryCache<V1PersistentVolumeClaim>(claims);
  const kube = new FakeProtectionKube();
  for (const s of snapshots) kube.snapshots.set(`${s.metadata?.namespace}/${s.metadata?.name}`, structuredClone(s));
  const queue = new WorkQueue<string>({ name: 'snapshot-finalizer', clock });
  const controller = new SnapshotFinalizerController({
    snapshots: snapshotCache,
    claims: claimCache,
    kube,
    queue,
    sweepIntervalMs: INTERVAL_MS,
    clock,
    logger: discardLogger(),
  });
  return { clock, snapshotCache, claimCache, kube, queue, controller };
}

function finalizersOf(kube: FakeProtectionKube, key: string): string[] | undefined {
  return kube.snapshots.get(key)?.metadata?.finalizers;
}

async function drain(queue: WorkQueue<string>): Promise<string[]> {
  const keys: string[] = [];
  while (queue.len() > 0) {
    const next = await queue.get();
    if (next.shutdown) break;
    keys.push(next.key);
    queue.done(next.key);
  }
  return keys.sort();
}

describe('snapshotKeyOf', () => {
  it('reads dataSource in the claim namespace, then dataSourceRef with its namespace', () => {
    expect(snapshotKeyOf(restore('c', 'Pending'))).toBe('ns/snap');
    const noGroup = restore('c', 'Pending');
    delete noGroup.spec!.dataSource!.apiGroup;
    expect(snapshotKeyOf(noGroup)).toBe('ns/snap');
    const byRef: V1PersistentVolumeClaim = {
      metadata: { namespace: 'ns', name: 'c' },
      spec: { dataSourceRef: { kind: 'VolumeSnapshot', apiGroup: GROUP, name: 'snap', namespace: 'other' } },
    };
    expect(snapshotKeyOf(byRef)).toBe('other/snap');
    byRef.spec!.dataSourceRef!.namespace = '';
    expect(snapshotKeyOf(byRef)).toBe('ns/snap');
  });

  it('ignores other kinds and groups', () => {
    const wrongGroup = restore('c', 'Pending');
    wrongGroup.spec!.dataSource!.apiGroup = 'example.com';
    expect(snapshotKeyOf(wrongGroup)).toBeUndefined();
    expect(
      snapshotKeyOf({
        metadata: { namespace: 'ns' },
        spec: { dataSource: { kind: 'PersistentVolumeClaim', name: 'x' } },
      }),
    ).toBeUndefined();
    expect(snapshotKeyOf({ metadata: { namespace: 'ns' }, spec: {} })).toBeUndefined();
  });
});

describe('SnapshotFinalizerController.sync', () => {
  it('removes the finalizer with an update of the cached object when no claim is provisioning from the snapshot', async () => {
    const f = setup([snapshot('ns', 'snap')], [restore('done', 'Bound')]);
    await f.controller.sync('ns/snap');
    const expected = snapshot('ns', 'snap', [SNAPSHOTTER_FINALIZER]);
    // The resourceVersion read makes the update conditional; the cache itself is left alone.
    expect(f.kube.callsTo('updateVolumeSnapshot')).toEqual([[expected]]);
    expect(finalizersOf(f.kube, 'ns/snap')).toEqual([SNAPSHOTTER_FINALIZER]);
    expect(f.snapshotCache.get('ns/snap')?.metadata?.finalizers).toContain(FINALIZER_SNAPSHOT_SOURCE_PROTECTION);
  });

  it.each([
    ['Pending', 'Pending'],
    ['without a phase yet', undefined],
  ])('keeps the finalizer while a claim is %s', async (_name, phase) => {
    const f = setup([snapshot('ns', 'snap')], [restore('done', 'Bound'), restore('busy', phase)]);
    await f.controller.sync('ns/snap');
    expect(f.kube.calls).toEqual([]);
  });

  it('keeps the finalizer for a cross-namespace dataSourceRef restore', async () => {
    const claim: V1PersistentVolumeClaim = {
      metadata: { namespace: 'consumer', name: 'c' },
      spec: { dataSourceRef: { kind: 'VolumeSnapshot', apiGroup: GROUP, name: 'snap', namespace: 'ns' } },
      status: { phase: 'Pending' },
    };
    const f = setup([snapshot('ns', 'snap')], [claim]);
    await f.controller.sync('ns/snap');
    expect(f.kube.calls).toEqual([]);
  });

  it('is not kept by a Pending claim of the same snapshot name in another namespace', async () => {
    const f = setup([snapshot('ns', 'snap')], [restore('c', 'Pending', 'snap', 'other')]);
    await f.controller.sync('ns/snap');
    expect(finalizersOf(f.kube, 'ns/snap')).toEqual([SNAPSHOTTER_FINALIZER]);
  });

  it('does nothing for a snapshot without the finalizer or gone from the cache', async () => {
    const f = setup([snapshot('ns', 'plain', [SNAPSHOTTER_FINALIZER])]);
    await f.controller.sync('ns/plain');
    await f.controller.sync('ns/missing');
    expect(f.kube.calls).toEqual([]);
  });

  it('tolerates NotFound and Forbidden (the next sweep tries again)', async () => {
    const f = setup([snapshot('ns', 'snap')]);
    f.kube.failNext('updateVolumeSnapshot', { status: 404, reason: 'NotFound' });
    await expect(f.controller.sync('ns/snap')).resolves.toBeUndefined();
    f.kube.failNext('updateVolumeSnapshot', { status: 403, reason: 'Forbidden' });
    await expect(f.controller.sync('ns/snap')).resolves.toBeUndefined();
  });

  it('fails for a retry on a conflict or a concurrent write', async () => {
    const f = setup([snapshot('ns', 'snap')]);
    f.kube.failNext('updateVolumeSnapshot', { status: 409, reason: 'Conflict' });
    await expect(f.controller.sync('ns/snap')).rejects.toThrow(
      /failed to remove finalizer from VolumeSnapshot ns\/snap/,
    );
    const stored = f.kube.snapshots.get('ns/snap')!.metadata!;
    stored.finalizers!.push('other');
    stored.resourceVersion = '4';
    await expect(f.controller.sync('ns/snap')).rejects.toThrow(/VolumeSnapshot ns\/snap.*modified/);
    expect(finalizersOf(f.kube, 'ns/snap')).toHaveLength(3);
  });
});

describe('SnapshotFinalizerController.sweep', () => {
  it('queues only snapshots holding the finalizer that no provisioning claim needs', async () => {
    const f = setup(
      [snapshot('ns', 'snap'), snapshot('ns', 'needed'), snapshot('ns', 'plain', []), snapshot('b', 'snap')],
      [restore('busy', 'Pending', 'needed'), restore('done', 'Bound', 'snap')],
    );
    f.controller.sweep();
    expect(await drain(f.queue)).toEqual(['b/snap', 'ns/snap']);
  });
});

describe('SnapshotFinalizerController enqueue handlers', () => {
  it('enqueueSnapshot queues snapshots with the finalizer only', async () => {
    const f = setup([]);
    f.controller.enqueueSnapshot(snapshot('ns', 'plain', [SNAPSHOTTER_FINALIZER]));
    f.controller.enqueueSnapshot(snapshot('ns', 'snap'));
    expect(await drain(f.queue)).toEqual(['ns/snap']);
  });

  it('enqueueClaim queues the snapshot a claim restores from', async () => {
    const f = setup([]);
    f.controller.enqueueClaim({ metadata: { namespace: 'ns', name: 'plain' }, spec: {} });
    f.controller.enqueueClaim(restore('c', 'Bound'));
    expect(await drain(f.queue)).toEqual(['ns/snap']);
  });
});

describe('SnapshotFinalizerController.run', () => {
  it('sweeps at once and then every interval, until aborted', async () => {
    const f = setup([snapshot('ns', 'snap')], [restore('busy', 'Pending')]);
    const abort = new AbortController();
    const running = f.controller.run({ workers: 1, signal: abort.signal });
    await f.clock.advance(0);
    expect(finalizersOf(f.kube, 'ns/snap')).toContain(FINALIZER_SNAPSHOT_SOURCE_PROTECTION);

    // The restore is deleted mid-provision: the next sweep finds the finalizer orphaned.
    f.claimCache.delete('ns/busy');
    await f.clock.advance(INTERVAL_MS - 1);
    expect(f.kube.calls).toEqual([]);
    await f.clock.advance(1);
    expect(finalizersOf(f.kube, 'ns/snap')).toEqual([SNAPSHOTTER_FINALIZER]);

    abort.abort();
    await running;
    expect(f.clock.pending()).toBe(0);
  });
});

describe('SnapshotFinalizerController setup', () => {
  it('rejects a sweep interval of 0 (the sweeper is disabled then)', () => {
    expect(
      () =>
        new SnapshotFinalizerController({
          snapshots: new MemoryCache<VolumeSnapshot>(),
          claims: new MemoryCache<V1PersistentVolumeClaim>(),
          kube: new FakeProtectionKube(),
          queue: new WorkQueue<string>({ name: 'x' }),
          sweepIntervalMs: 0,
          clock: new FakeClock(),
          logger: discardLogger(),
        }),
    ).toThrow(RangeError);
  });

  it('hasAccess: true when listing works, false when forbidden, throws otherwise', async () => {
    const f = setup([]);
    await expect(f.controller.hasAccess()).resolves.toBe(true);
    f.kube.failNext('probeVolumeSnapshotList', { status: 403, reason: 'Forbidden' });
    await expect(f.controller.hasAccess()).resolves.toBe(false);
    f.kube.failNext('probeVolumeSnapshotList', { status: 500, reason: 'InternalError' });
    await expect(f.controller.hasAccess()).rejects.toThrow();
  });
});
