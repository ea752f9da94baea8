import type { V1PersistentVolume } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { FINALIZER_PV } from './keys.js';
import { finalizerUpkeepPatch, removeFinalizerPatch } from './volume-finalizer.js';

const PROTECTION = 'kubernetes.io/pv-protection';

function pv(phase: string, policy: string, finalizers?: string[], deleting = false, csi = true): V1PersistentVolume {
  return {
    metadata: {
      name: 'pv',
      uid: 'uid-1',
      resourceVersion: '7',
      ...(finalizers && { finalizers }),
      ...(deleting && { deletionTimestamp: new Date(0) }),
    },
    spec: {
      persistentVolumeReclaimPolicy: policy,
      ...(csi && { csi: { driver: 'test.csi.k8s.io', volumeHandle: 'vol-1' } }),
    },
    status: { phase },
  };
}

describe('finalizerUpkeepPatch', () => {
  it('appends the finalizer to a Bound Delete PV, testing the current list', () => {
    expect(finalizerUpkeepPatch(pv('Bound', 'Delete', [PROTECTION]))).toEqual([
      { op: 'test', path: '/metadata/uid', value: 'uid-1' },
      { op: 'test', path: '/metadata/finalizers', value: [PROTECTION] },
      { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER_PV },
    ]);
  });

  it('creates the list when there is none, guarded by the resourceVersion', () => {
    expect(finalizerUpkeepPatch(pv('Bound', 'Delete'))).toEqual([
      { op: 'test', path: '/metadata/uid', value: 'uid-1' },
      { op: 'test', path: '/metadata/resourceVersion', value: '7' },
      { op: 'add', path: '/metadata/finalizers', value: [FINALIZER_PV] },
    ]);
  });

  it.each([
    ['already present', pv('Bound', 'Delete', [FINALIZER_PV])],
    ['not Bound yet', pv('Pending', 'Delete')],
    ['Available', pv('Available', 'Delete')],
    ['Released (the finalizer is only added while Bound)', pv('Released', 'Delete')],
    ['being deleted', pv('Bound', 'Delete', [PROTECTION], true)],
    ['Retain without the finalizer', pv('Bound', 'Retain', [PROTECTION])],
    [
      'an in-tree PV migrated to the driver (no spec.csi, so no deletion here)',
      pv('Bound', 'Delete', [], false, false),
    ],
  ])('changes nothing when %s', (_name, volume) => {
    expect(finalizerUpkeepPatch(volume)).toBeUndefined();
  });

  it.each(['Retain', 'Recycle'])('removes the finalizer when the policy is %s', (policy) => {
    expect(finalizerUpkeepPatch(pv('Bound', policy, [FINALIZER_PV, PROTECTION]))).toEqual([
      { op: 'test', path: '/metadata/uid', value: 'uid-1' },
      { op: 'test', path: '/metadata/finalizers', value: [FINALIZER_PV, PROTECTION] },
      { op: 'remove', path: '/metadata/finalizers/0' },
    ]);
  });
});

describe('removeFinalizerPatch', () => {
  it('removes duplicates from the highest index down so indexes stay valid', () => {
    const ops = removeFinalizerPatch(pv('Released', 'Delete', [FINALIZER_PV, PROTECTION, FINALIZER_PV]));
    expect(ops?.slice(2)).toEqual([
      { op: 'remove', path: '/metadata/finalizers/2' },
      { op: 'remove', path: '/metadata/finalizers/0' },
    ]);
  });

  it('is undefined without the finalizer', () => {
    expect(removeFinalizerPatch(pv('Released', 'Delete', [PROTECTION]))).toBeUndefined();
    expect(removeFinalizerPatch(pv('Released', 'Delete'))).toBeUndefined();
  });
});
