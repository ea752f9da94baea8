import type { V1VolumeAttachment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ControllerServiceCapability_RPC_Type as ControllerRpc, Volume } from '../../src/gen/csi.js';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess } from '../../src/shared/testing/sidecar-process.js';
import { CsiTestDriver, TEST_DRIVER_NAME } from '../../src/shared/testing/csi-test-driver.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { waitUntil } from '../fixture/managed-process.js';

// The mock driver reports every volume as published on its node whatever happened, so the ListVolumes reconciler
// cannot show anything with it; this suite uses the TypeScript test driver, whose ListVolumes reports what is
// published, next to a real kube-apiserver. (The upstream hostpath driver does the same; see issue 12.)
const cluster = useTestCluster('attacher-reconciler', { controllerManager: false });
const NODE_ID = 'node-r-id';
let driver: CsiTestDriver;
let attacher: SidecarProcess;

beforeAll(async () => {
  const c = cluster();
  driver = await CsiTestDriver.start({
    controllerCapabilities: [
      ControllerRpc.PUBLISH_UNPUBLISH_VOLUME,
      ControllerRpc.LIST_VOLUMES,
      ControllerRpc.LIST_VOLUMES_PUBLISHED_NODES,
    ],
  });
  driver.volumes.set('vol-r', Volume.fromPartial({ volumeId: 'vol-r' }));
  await c.admin.must('POST', '/apis/storage.k8s.io/v1/csinodes', {
    metadata: { name: 'node-r' },
    spec: { drivers: [{ name: TEST_DRIVER_NAME, nodeID: NODE_ID }] },
  });
  await c.admin.must('POST', '/api/v1/persistentvolumes', {
    metadata: { name: 'pv-r' },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      csi: { driver: TEST_DRIVER_NAME, volumeHandle: 'vol-r' },
    },
  });
  attacher = new SidecarProcess(await bundleSidecar('csi-attacher'), [
    `--csi-address=${driver.socketPath}`,
    `--kubeconfig=${await c.serviceAccountKubeconfig('csi-attacher.yaml')}`,
    '--reconcile-sync=1s',
    '-v=4',
  ]);
  await attacher.waitForLog(/Caches synced, starting workers/, 60_000);
});

afterAll(async () => {
  await attacher?.stop();
  await driver?.stop();
});

const publishes = (): number => driver.calls.filter((c) => c.method === 'ControllerPublishVolume').length;

describe('csi-attacher ListVolumes reconciler against a real apiserver', () => {
  it('publishes again when the driver lost a publication the VolumeAttachment still shows', async () => {
    const c = cluster();
    await c.admin.must('POST', '/apis/storage.k8s.io/v1/volumeattachments', {
      metadata: { name: 'va-r' },
      spec: { attacher: TEST_DRIVER_NAME, nodeName: 'node-r', source: { persistentVolumeName: 'pv-r' } },
    });
    await waitUntil(
      'attached',
      async () =>
        ((await c.admin.must('GET', '/apis/storage.k8s.io/v1/volumeattachments/va-r')) as V1VolumeAttachment).status
          ?.attached === true,
      30_000,
    );
    expect([...(driver.published.get('vol-r') ?? [])]).toEqual([NODE_ID]);
    const before = publishes();

    // The storage backend forgot the attachment (a controller failover on its side).
    driver.published.delete('vol-r');
    await waitUntil('published again', () => driver.published.get('vol-r')?.has(NODE_ID) === true, 30_000);
    expect(publishes()).toBeGreaterThan(before);
    expect(attacher.log).toContain('VolumeAttachment attached status and actual state do not match');
  });
});
