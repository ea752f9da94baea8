import type { V1VolumeAttachment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess } from '../../src/shared/testing/sidecar-process.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { waitUntil } from '../fixture/managed-process.js';
import { MOCK_DRIVER } from '../fixture/mock-storage.js';

// The mock without PUBLISH_UNPUBLISH_VOLUME: the attacher's trivial mode. No kube-controller-manager, so the test
// plays the attach/detach controller and writes the VolumeAttachment itself.
const cluster = useTestCluster('attacher-trivial', {
  controllerManager: false,
  mockDriver: { args: ['--disable-attach'] },
});
let attacher: SidecarProcess;

beforeAll(async () => {
  const c = cluster();
  await c.admin.must('POST', '/api/v1/persistentvolumes', {
    metadata: { name: 'pv-t' },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      csi: { driver: MOCK_DRIVER, volumeHandle: 'no-such-volume' },
    },
  });
  const kubeconfig = await c.serviceAccountKubeconfig('csi-attacher.yaml');
  attacher = new SidecarProcess(await bundleSidecar('csi-attacher'), [
    `--csi-address=${c.driverSocket}`,
    `--kubeconfig=${kubeconfig}`,
    '-v=5',
  ]);
  await attacher.waitForLog(/Caches synced, starting workers/, 60_000);
});

afterAll(async () => {
  await attacher?.stop();
});

async function getAttachment(name: string): Promise<V1VolumeAttachment | undefined> {
  return cluster().admin.find<V1VolumeAttachment>(`/apis/storage.k8s.io/v1/volumeattachments/${name}`);
}

describe('csi-attacher for a driver without ControllerPublishVolume (trivial mode)', () => {
  it('marks a VolumeAttachment attached without a CSI call or a finalizer, and lets it go at once', async () => {
    const c = cluster();
    expect(attacher.log).toMatch(/Starting csi-attacher.*handler="trivial"/);
    await c.admin.must('POST', '/apis/storage.k8s.io/v1/volumeattachments', {
      metadata: { name: 'va-t' },
      spec: { attacher: MOCK_DRIVER, nodeName: 'node-t', source: { persistentVolumeName: 'pv-t' } },
    });
    await waitUntil('attached', async () => (await getAttachment('va-t'))?.status?.attached === true, 30_000);
    const va = await getAttachment('va-t');
    expect(va?.metadata?.finalizers).toBeUndefined();
    expect(va?.status?.attachmentMetadata).toBeUndefined();
    const pv = (await c.admin.must('GET', '/api/v1/persistentvolumes/pv-t')) as { metadata: { finalizers?: string[] } };
    expect(pv.metadata.finalizers ?? []).not.toContain('external-attacher/io-kubernetes-storage-mock');
    expect(attacher.log).not.toMatch(/GRPC call.*ControllerPublishVolume/);

    await c.admin.must('DELETE', '/apis/storage.k8s.io/v1/volumeattachments/va-t');
    expect(await getAttachment('va-t')).toBeUndefined();
  });

  it('leaves VolumeAttachments of other drivers alone', async () => {
    const c = cluster();
    await c.admin.must('POST', '/apis/storage.k8s.io/v1/volumeattachments', {
      metadata: { name: 'va-other' },
      spec: { attacher: 'other.example.com', nodeName: 'node-t', source: { persistentVolumeName: 'pv-t' } },
    });
    // A VolumeAttachment of ours created after it is handled, so the other one has been seen by then.
    await c.admin.must('POST', '/apis/storage.k8s.io/v1/volumeattachments', {
      metadata: { name: 'va-later' },
      spec: { attacher: MOCK_DRIVER, nodeName: 'node-t', source: { persistentVolumeName: 'pv-t' } },
    });
    await waitUntil('attached', async () => (await getAttachment('va-later'))?.status?.attached === true, 30_000);
    expect((await getAttachment('va-other'))?.status?.attached ?? false).toBe(false);
  });
});
