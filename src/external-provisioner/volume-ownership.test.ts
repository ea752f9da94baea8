import type { V1PersistentVolume } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { ANN_BETA_STORAGE_CLASS, ANN_DYNAMICALLY_PROVISIONED, ANN_MIGRATED_TO, FINALIZER_PV } from './keys.js';
import { isOwnedVolume, shouldDeleteVolume, volumeClassName } from './volume-ownership.js';

const DRIVER = 'test.csi.k8s.io';

function volume(annotations: Record<string, string>, csiDriver?: string): V1PersistentVolume {
  return {
    metadata: { name: 'pv', annotations },
    spec: csiDriver ? { csi: { driver: csiDriver, volumeHandle: 'h' } } : {},
  };
}

describe('isOwnedVolume', () => {
  it.each([
    ['provisioned by the driver', volume({ [ANN_DYNAMICALLY_PROVISIONED]: DRIVER }, DRIVER), true],
    ['provisioned by another driver', volume({ [ANN_DYNAMICALLY_PROVISIONED]: 'other' }, DRIVER), false],
    [
      'in-tree provisioned, migrated to the driver',
      volume({ [ANN_DYNAMICALLY_PROVISIONED]: 'kubernetes.io/aws-ebs', [ANN_MIGRATED_TO]: DRIVER }),
      true,
    ],
    ['static CSI PV of the driver', volume({}, DRIVER), true],
    ['static CSI PV of another driver', volume({}, 'other'), false],
    ['static in-tree PV migrated to the driver', volume({ [ANN_MIGRATED_TO]: DRIVER }), true],
    ['static in-tree PV', volume({}), false],
  ])('%s → %s', (_name, pv, owned) => {
    expect(isOwnedVolume(pv, DRIVER)).toBe(owned);
  });
});

describe('shouldDeleteVolume', () => {
  const base = (phase: string, policy: string, extra: V1PersistentVolume['metadata'] = {}): V1PersistentVolume => ({
    metadata: { name: 'pv', ...extra },
    spec: { persistentVolumeReclaimPolicy: policy },
    status: { phase },
  });

  it('deletes Released volumes with reclaim policy Delete', () => {
    expect(shouldDeleteVolume(base('Released', 'Delete'))).toBe(true);
  });

  it.each([
    ['Bound', 'Delete'],
    ['Released', 'Retain'],
    ['Released', 'Recycle'],
    ['Failed', 'Delete'],
    ['Available', 'Delete'],
  ])('leaves %s volumes with policy %s alone', (phase, policy) => {
    expect(shouldDeleteVolume(base(phase, policy))).toBe(false);
  });

  it('deletes a PV deleted before its claim while the finalizer is on it', () => {
    const deleting = { deletionTimestamp: new Date(0), finalizers: [FINALIZER_PV] };
    expect(shouldDeleteVolume(base('Released', 'Delete', deleting))).toBe(true);
  });

  it('skips a PV being deleted whose finalizer is gone (deletion already finished)', () => {
    expect(shouldDeleteVolume(base('Released', 'Delete', { deletionTimestamp: new Date(0) }))).toBe(false);
  });
});

describe('volumeClassName', () => {
  it('prefers the beta annotation over spec.storageClassName', () => {
    const pv: V1PersistentVolume = {
      metadata: { annotations: { [ANN_BETA_STORAGE_CLASS]: 'beta' } },
      spec: { storageClassName: 'spec' },
    };
    expect(volumeClassName(pv)).toBe('beta');
    expect(volumeClassName({ spec: { storageClassName: 'spec' } })).toBe('spec');
    expect(volumeClassName({})).toBe('');
  });
});
