import { describe, expect, it } from 'vitest';
import { provisionerKube } from '../../src/external-provisioner/kube-ports.js';
import { FINALIZER_PV } from '../../src/external-provisioner/keys.js';
import { createKubeClient } from '../../src/shared/kube/client.js';
import { loadKubeConfig } from '../../src/shared/kube/kubeconfig.js';
import { useTestCluster } from '../fixture/cluster-suite.js';

// The provisioner's API writes whose semantics live in the apiserver, checked against a real one.

const cluster = useTestCluster('provisioner-kube-ports', { controllerManager: false });

interface Volume {
  metadata: { uid: string; finalizers?: string[] };
}

describe('csi-provisioner API writes against kube-apiserver', () => {
  it('removes its PV finalizer by value, whatever else the list holds, and only from the PV with that UID', async () => {
    const c = cluster();
    const kube = provisionerKube(
      createKubeClient({
        kubeConfig: loadKubeConfig({ kubeconfig: c.adminKubeconfigPath }),
        qps: -1,
        burst: 0,
        userAgent: 'e2e',
      }),
    );
    const created = (await c.admin.must('POST', '/api/v1/persistentvolumes', {
      metadata: { name: 'pv-finalizers', finalizers: ['example.com/first', FINALIZER_PV, 'example.com/last'] },
      spec: {
        capacity: { storage: '1Gi' },
        accessModes: ['ReadWriteOnce'],
        csi: { driver: 'example.csi.k8s.io', volumeHandle: 'h' },
      },
    })) as Volume;
    // Someone else changes the list first (as KCM drops pv-protection after a DELETE): no index is assumed.
    await c.admin.must('PUT', '/api/v1/persistentvolumes/pv-finalizers', {
      ...created,
      metadata: { ...created.metadata, finalizers: [FINALIZER_PV, 'example.com/last'] },
    });

    await expect(kube.removeVolumeFinalizer('pv-finalizers', 'another-uid', FINALIZER_PV)).rejects.toThrow(
      /patch PersistentVolume pv-finalizers/,
    );
    let current = (await c.admin.must('GET', '/api/v1/persistentvolumes/pv-finalizers')) as Volume;
    expect(current.metadata.finalizers).toEqual([FINALIZER_PV, 'example.com/last']);

    await kube.removeVolumeFinalizer('pv-finalizers', created.metadata.uid, FINALIZER_PV);
    current = (await c.admin.must('GET', '/api/v1/persistentvolumes/pv-finalizers')) as Volume;
    expect(current.metadata.finalizers).toEqual(['example.com/last']);
  });
});
