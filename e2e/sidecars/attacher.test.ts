import type { V1PersistentVolume, V1VolumeAttachment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsiConnection } from '../../src/shared/csi/connection.js';
import { discardLogger } from '../../src/shared/log/logger.js';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess, freePort } from '../../src/shared/testing/sidecar-process.js';
import { VolumeCapability_AccessMode_Mode as AccessMode } from '../../src/gen/csi.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { waitUntil } from '../fixture/managed-process.js';
import { MOCK_DRIVER } from '../fixture/mock-storage.js';

const namespace = 'attacher-e2e';
const nodeName = 'node-a';
const finalizer = 'external-attacher/io-kubernetes-storage-mock';
const cluster = useTestCluster('attacher', { controllerManager: true, mockDriver: true });
let attacher: SidecarProcess;
let metricsPort: number;
let csi: CsiConnection;
let volumeId: string;

beforeAll(async () => {
  const c = cluster();
  await c.admin.must('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  await c.admin.must('POST', '/apis/storage.k8s.io/v1/csidrivers', {
    metadata: { name: MOCK_DRIVER },
    spec: { attachRequired: true },
  });
  // A node without a kubelet: kube-controller-manager's attach/detach controller only needs the annotation that
  // hands attach and detach to it, and the attacher reads the node ID from CSINode (the mock's node ID is its name).
  await c.admin.must('POST', '/api/v1/nodes', {
    metadata: { name: nodeName, annotations: { 'volumes.kubernetes.io/controller-managed-attach-detach': 'true' } },
  });
  await c.admin.must('POST', '/apis/storage.k8s.io/v1/csinodes', {
    metadata: { name: nodeName },
    spec: { drivers: [{ name: MOCK_DRIVER, nodeID: MOCK_DRIVER }] },
  });
  csi = await CsiConnection.connect({ address: c.driverSocket, logger: discardLogger() });
  const created = await csi.call(
    'CreateVolume',
    {
      name: 'attach-me',
      capacityRange: { requiredBytes: 1n << 30n, limitBytes: 0n },
      volumeCapabilities: [
        {
          accessType: { $case: 'mount', value: { fsType: 'ext4', mountFlags: [], volumeMountGroup: '' } },
          accessMode: { mode: AccessMode.SINGLE_NODE_WRITER },
        },
      ],
    },
    { timeoutMs: 10_000 },
  );
  volumeId = created.volume?.volumeId ?? '';
  await c.admin.must('POST', '/api/v1/persistentvolumes', {
    metadata: { name: 'pv-a' },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: '',
      csi: { driver: MOCK_DRIVER, volumeHandle: volumeId, fsType: 'ext4' },
      claimRef: { namespace, name: 'claim-a' },
    },
  });
  await c.admin.must('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, {
    metadata: { name: 'claim-a' },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
      storageClassName: '',
      volumeName: 'pv-a',
    },
  });
  const kubeconfig = await c.serviceAccountKubeconfig('csi-attacher.yaml');
  metricsPort = await freePort();
  attacher = new SidecarProcess(await bundleSidecar('csi-attacher'), [
    `--csi-address=${c.driverSocket}`,
    `--kubeconfig=${kubeconfig}`,
    `--http-endpoint=127.0.0.1:${metricsPort}`,
    // The mock reports every volume published on its node, so the reconciler would force extra publishes.
    '--reconcile-sync=10m',
    '--leader-election',
    '--leader-election-namespace=default',
    '-v=5',
  ]);
  await attacher.waitForLog(/Caches synced, starting workers/, 60_000);
});

afterAll(async () => {
  await attacher?.stop();
  csi?.close();
});

async function attachments(): Promise<V1VolumeAttachment[]> {
  const list = (await cluster().admin.must('GET', '/apis/storage.k8s.io/v1/volumeattachments')) as {
    items: V1VolumeAttachment[];
  };
  return list.items.filter((va) => va.spec.source.persistentVolumeName === 'pv-a');
}

describe('csi-attacher against kube-controller-manager and the mock CSI driver', () => {
  it('attaches the volume of a pod placed on a node: VolumeAttachment from the attach/detach controller, published', async () => {
    const c = cluster();
    await c.admin.must('POST', `/api/v1/namespaces/${namespace}/pods`, {
      metadata: { name: 'pod-a' },
      spec: {
        nodeName,
        containers: [{ name: 'c', image: 'registry.invalid/none' }],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'claim-a' } }],
      },
    });
    await waitUntil(
      'VolumeAttachment attached',
      async () => (await attachments())[0]?.status?.attached === true,
      90_000,
    );
    const [va] = await attachments();
    expect(va.spec.attacher).toBe(MOCK_DRIVER);
    expect(va.spec.nodeName).toBe(nodeName);
    expect(va.metadata?.finalizers).toEqual([finalizer]);
    expect(va.metadata?.annotations?.['csi.alpha.kubernetes.io/node-id']).toBe(MOCK_DRIVER);
    expect(Object.keys(va.status?.attachmentMetadata ?? {}).length).toBeGreaterThan(0);
    expect(va.status?.attachError).toBeUndefined();
    const pv = (await c.admin.must('GET', '/api/v1/persistentvolumes/pv-a')) as V1PersistentVolume;
    expect(pv.metadata?.finalizers).toContain(finalizer);
    expect(attacher.log).toMatch(/GRPC call.*ControllerPublishVolume/);

    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(
      /csi_sidecar_operations_seconds_count\{driver_name="io.kubernetes.storage.mock",method_name="\/csi.v1.Controller\/ControllerPublishVolume",grpc_status_code="OK"\} 1/,
    );
    expect(metrics).toMatch(/workqueue_adds_total\{name="csi-attacher-va"\} [1-9]/);
    expect(metrics).toMatch(/workqueue_adds_total\{name="csi-attacher-pv"\} \d/);
    // The backlog gauges (not upstream's): nothing waits once the volume is attached.
    expect(metrics).toContain('csi_attacher_volumeattachments_pending{operation="attach"} 0');
    expect(metrics).toContain('csi_attacher_volumeattachments_pending{operation="detach"} 0');
  });

  it('detaches when the pod goes: ControllerUnpublishVolume, finalizer removed, VolumeAttachment deleted', async () => {
    const c = cluster();
    await c.admin.must('DELETE', `/api/v1/namespaces/${namespace}/pods/pod-a`, { gracePeriodSeconds: 0 });
    await waitUntil('VolumeAttachment gone', async () => (await attachments()).length === 0, 120_000);
    expect(attacher.log).toMatch(/GRPC call.*ControllerUnpublishVolume/);
  });

  it('removes its PV finalizer once the PV is deleted and no VolumeAttachment uses it', async () => {
    const c = cluster();
    await c.admin.must('DELETE', `/api/v1/namespaces/${namespace}/persistentvolumeclaims/claim-a`);
    await c.admin.must('DELETE', '/api/v1/persistentvolumes/pv-a');
    await waitUntil(
      'PV gone',
      async () => (await c.admin.send('GET', '/api/v1/persistentvolumes/pv-a')).status === 404,
      60_000,
    );
    expect(attacher.running).toBe(true);
  });
});
