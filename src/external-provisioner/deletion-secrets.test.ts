import type { V1PersistentVolume, V1StorageClass } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { MemoryCache } from '../shared/testing/memory-cache.js';
import { deletionSecretReference } from './deletion-secrets.js';
import { ANN_DELETION_SECRET_NAME, ANN_DELETION_SECRET_NAMESPACE } from './keys.js';

const templatedClass: V1StorageClass = {
  metadata: { name: 'fast' },
  provisioner: 'test.csi.k8s.io',
  parameters: {
    'csi.storage.k8s.io/provisioner-secret-name': '${pvc.name}',
    'csi.storage.k8s.io/provisioner-secret-namespace': '${pvc.namespace}',
  },
};

function volume(annotations: Record<string, string>, claim = true): V1PersistentVolume {
  return {
    metadata: { name: 'pv-1', annotations },
    spec: { storageClassName: 'fast', ...(claim && { claimRef: { name: 'data', namespace: 'apps' } }) },
  };
}

function resolve(pv: V1PersistentVolume, classes: V1StorageClass[] = [templatedClass]) {
  const warnings: string[] = [];
  const ref = deletionSecretReference({ pv, classes: new MemoryCache(classes), warn: (m) => warnings.push(m) });
  return { ref, warnings };
}

describe('deletionSecretReference', () => {
  it('takes the annotated secret', () => {
    const pv = volume({ [ANN_DELETION_SECRET_NAME]: 'creds', [ANN_DELETION_SECRET_NAMESPACE]: 'storage' });
    expect(resolve(pv).ref).toEqual({ name: 'creds', namespace: 'storage' });
  });

  it.each([
    ['both empty', '', ''],
    ['name empty', '', 'storage'],
    ['namespace empty', 'creds', ''],
  ])('annotations present but %s: no secret, no StorageClass fallback', (_name, name, namespace) => {
    const pv = volume({ [ANN_DELETION_SECRET_NAME]: name, [ANN_DELETION_SECRET_NAMESPACE]: namespace });
    expect(resolve(pv).ref).toBeUndefined();
  });

  it('only one annotation present counts as absent: StorageClass fallback', () => {
    expect(resolve(volume({ [ANN_DELETION_SECRET_NAME]: 'creds' })).ref).toEqual({ name: 'data', namespace: 'apps' });
  });

  it('no annotations and the StorageClass is gone: no secret, with a warning', () => {
    const { ref, warnings } = resolve(volume({}), []);
    expect(ref).toBeUndefined();
    expect(warnings).toEqual(['failed to get storageclass: fast, proceeding to delete without secrets']);
  });

  it('claim templates without a claimRef fail with upstream’s prefix', () => {
    expect(() => resolve(volume({}, false))).toThrow(/^failed to get secretreference for volume pv-1: /);
  });
});
