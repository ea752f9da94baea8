import { describe, expect, it } from 'vitest';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { TEST_DRIVER_NAME } from '../shared/testing/csi-test-driver.js';
import { FINALIZER_CLONE_PROTECTION, FINALIZER_SNAPSHOT_SOURCE_PROTECTION } from './keys.js';
import { CLAIM_KEY, PV_NAME, useClaimControllerFixture } from './testing/claim-controller-fixture.js';
import type { FixtureOptions, ClaimControllerFixture } from './testing/claim-controller-fixture.js';
import type { VolumeSnapshot, VolumeSnapshotContent } from './snapshot-types.js';
import { sourceClaim, sourceVolume } from './testing/clone-source-objects.js';

const start = useClaimControllerFixture();

const SNAPSHOTTER_FINALIZER = 'snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection';

function snapshot(): VolumeSnapshot {
  return {
    metadata: {
      name: 'snap',
      namespace: 'default',
      uid: 'snap-uid',
      resourceVersion: '10',
      finalizers: [SNAPSHOTTER_FINALIZER],
    },
    spec: { source: { persistentVolumeClaimName: 'x' } },
    status: { boundVolumeSnapshotContentName: 'content1', readyToUse: true, restoreSize: '1Gi' },
  };
}

function content(): VolumeSnapshotContent {
  return {
    metadata: { name: 'content1' },
    spec: {
      driver: TEST_DRIVER_NAME,
      deletionPolicy: 'Delete',
      volumeSnapshotRef: { namespace: 'default', name: 'snap', uid: 'snap-uid' },
      sourceVolumeMode: 'Filesystem',
      source: { volumeHandle: 'x' },
    },
    status: { snapshotHandle: 'snap-handle', readyToUse: true },
  };
}

async function startClone(options: FixtureOptions = { protection: true }): Promise<ClaimControllerFixture> {
  const f = await start({ ...options, capabilities: { cloning: true } });
  f.claims.set(sourceClaim({ resourceVersion: '4' }));
  f.volumes.set(sourceVolume());
  f.protection.claims.set('default/src', sourceClaim({ resourceVersion: '4' }));
  f.claims.get(CLAIM_KEY)!.spec!.dataSource = { kind: 'PersistentVolumeClaim', name: 'src' };
  return f;
}

async function startRestore(options: FixtureOptions = { protection: true }): Promise<ClaimControllerFixture> {
  const f = await start({ ...options, capabilities: { snapshots: true } });
  f.kube.snapshots.set('default/snap', snapshot());
  f.kube.snapshotContents.set('content1', content());
  f.protection.snapshots.set('default/snap', snapshot());
  const claim = f.claims.get(CLAIM_KEY)!;
  claim.spec!.dataSource = { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'snap' };
  claim.status = { phase: 'Pending' };
  return f;
}

/** Records how many CreateVolume calls the driver had seen when each update was sent. */
function createVolumesSeenAtUpdate(f: ClaimControllerFixture, method: 'updateClaim' | 'updateVolumeSnapshot') {
  const seen: number[] = [];
  const original = f.protection[method].bind(f.protection) as (obj: never) => Promise<unknown>;
  (f.protection as unknown as Record<string, unknown>)[method] = (obj: never) => {
    seen.push(f.driver.callsTo('CreateVolume').length);
    return original(obj);
  };
  return seen;
}

describe('clone source protection in the provisioning path', () => {
  it('adds the finalizer to the source claim with an update before CreateVolume', async () => {
    const f = await startClone();
    const seen = createVolumesSeenAtUpdate(f, 'updateClaim');
    await f.controller.sync(CLAIM_KEY);
    expect(seen).toEqual([0]);
    const [[sent]] = f.protection.callsTo('updateClaim') as [[V1PersistentVolumeClaim]];
    // A copy of the cached claim, conditional on the resourceVersion read.
    expect(sent.metadata).toMatchObject({ resourceVersion: '4', finalizers: [FINALIZER_CLONE_PROTECTION] });
    expect(f.protection.claims.get('default/src')?.metadata?.finalizers).toEqual([FINALIZER_CLONE_PROTECTION]);
    expect(f.claims.get('default/src')?.metadata?.finalizers).toBeUndefined();
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
    expect(f.kube.volumes.has(PV_NAME)).toBe(true);
  });

  it('does not write when the source already has the finalizer', async () => {
    const f = await startClone();
    f.claims.get('default/src')!.metadata!.finalizers = [FINALIZER_CLONE_PROTECTION];
    await f.controller.sync(CLAIM_KEY);
    expect(f.protection.calls).toEqual([]);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
  });

  it('fails without CreateVolume when the update fails, and succeeds on retry', async () => {
    const f = await startClone();
    f.protection.failNext('updateClaim', { status: 409, reason: 'Conflict', message: 'the object has been modified' });
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow(
      'failed to add clone protection finalizer to PVC default/src: the object has been modified',
    );
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
    expect(f.recorder.reasons()).toEqual(['Provisioning', 'ProvisioningFailed']);
    // NoChange: nothing is in flight, the claim is simply retried.
    expect(f.controller.inFlightCount).toBe(0);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
    expect(f.protection.claims.get('default/src')?.metadata?.finalizers).toEqual([FINALIZER_CLONE_PROTECTION]);
  });

  it('writes nothing without a protection port', async () => {
    const f = await startClone({});
    await f.controller.sync(CLAIM_KEY);
    expect(f.protection.calls).toEqual([]);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
  });
});

describe('snapshot source protection in the provisioning path', () => {
  const finalizers = (f: ClaimControllerFixture) => f.protection.snapshots.get('default/snap')?.metadata?.finalizers;

  it('adds the finalizer before CreateVolume and removes it after the PV is saved', async () => {
    const f = await startRestore();
    const seen = createVolumesSeenAtUpdate(f, 'updateVolumeSnapshot');
    await f.controller.sync(CLAIM_KEY);
    expect(seen).toEqual([0, 1]);
    const [[added], [released]] = f.protection.callsTo('updateVolumeSnapshot') as [[VolumeSnapshot], [VolumeSnapshot]];
    expect(added.metadata).toMatchObject({
      resourceVersion: '10',
      finalizers: [SNAPSHOTTER_FINALIZER, FINALIZER_SNAPSHOT_SOURCE_PROTECTION],
    });
    // The release builds on the object the first update returned, so no extra GET is needed.
    expect(released.metadata).toMatchObject({ resourceVersion: '11', finalizers: [SNAPSHOTTER_FINALIZER] });
    expect(f.kube.callsTo('getVolumeSnapshot')).toHaveLength(1);
    expect(f.kube.volumes.has(PV_NAME)).toBe(true);
    expect(finalizers(f)).toEqual([SNAPSHOTTER_FINALIZER]);
  });

  it('fails without CreateVolume when adding fails, keeping the finalizer off', async () => {
    const f = await startRestore();
    f.protection.failNext('updateVolumeSnapshot', { status: 500, reason: 'InternalError', message: 'etcd down' });
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow(
      'failed to add finalizer to VolumeSnapshot default/snap: etcd down',
    );
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
  });

  it('restores unprotected when the update is forbidden (optional RBAC)', async () => {
    const f = await startRestore();
    f.protection.failNext('updateVolumeSnapshot', { status: 403, reason: 'Forbidden' });
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
    expect(f.protection.callsTo('updateVolumeSnapshot')).toHaveLength(1);
  });

  it('keeps the finalizer when CreateVolume fails', async () => {
    const f = await startRestore();
    f.driver.fail('CreateVolume', 3, 'bad request');
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow(/bad request/);
    expect(f.protection.callsTo('updateVolumeSnapshot')).toHaveLength(1);
    expect(finalizers(f)).toEqual([SNAPSHOTTER_FINALIZER, FINALIZER_SNAPSHOT_SOURCE_PROTECTION]);
  });

  it('re-reads the snapshot once when the release conflicts', async () => {
    const f = await startRestore();
    // The snapshot controller writes the snapshot during CreateVolume, after our first update.
    const seen = createVolumesSeenAtUpdate(f, 'updateVolumeSnapshot');
    const original = f.protection.updateVolumeSnapshot.bind(f.protection);
    f.protection.updateVolumeSnapshot = async (s) => {
      const out = await original(s);
      if (seen.length === 1) {
        const stored = f.protection.snapshots.get('default/snap')!;
        stored.metadata!.resourceVersion = '20';
        f.kube.snapshots.set('default/snap', structuredClone(stored));
      }
      return out;
    };
    await f.controller.sync(CLAIM_KEY);
    expect(f.kube.callsTo('getVolumeSnapshot')).toHaveLength(2);
    expect(finalizers(f)).toEqual([SNAPSHOTTER_FINALIZER]);
  });

  it('keeps the finalizer while another claim still restores from the snapshot', async () => {
    const f = await startRestore();
    f.claims.set({
      metadata: { name: 'other', namespace: 'default', uid: 'other-uid' },
      spec: { dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'snap' } },
      status: { phase: 'Pending' },
    });
    await f.controller.sync(CLAIM_KEY);
    expect(f.protection.callsTo('updateVolumeSnapshot')).toHaveLength(1);
    expect(finalizers(f)).toEqual([SNAPSHOTTER_FINALIZER, FINALIZER_SNAPSHOT_SOURCE_PROTECTION]);
  });
});
