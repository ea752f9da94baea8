import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess, freePort } from '../../src/shared/testing/sidecar-process.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { MOCK_DRIVER, createMockStorageClass, driverVolumeNames } from '../fixture/mock-storage.js';
import { waitUntil } from '../fixture/managed-process.js';

const namespace = 'provisioner-e2e';
const cluster = useTestCluster('provisioner', { controllerManager: true, mockDriver: true });
let provisioner: SidecarProcess;
let metricsPort: number;

interface Obj {
  metadata: {
    name: string;
    annotations?: Record<string, string>;
    finalizers?: string[];
  };
  spec?: Record<string, unknown> & {
    csi?: { driver: string; volumeHandle: string; volumeAttributes?: Record<string, string> };
  };
  status?: { phase?: string };
}

interface EventList {
  items: { reason: string; message: string; type: string; involvedObject: { name: string } }[];
}

beforeAll(async () => {
  const c = cluster();
  await c.admin.must('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  await createMockStorageClass(c, 'mock', { parameters: { color: 'blue' } });
  await createMockStorageClass(c, 'mock-bad', { parameters: { 'csi.storage.k8s.io/no-such-key': 'x' } });
  await createMockStorageClass(c, 'mock-late', { volumeBindingMode: 'WaitForFirstConsumer' });
  // The provisioner runs as its own ServiceAccount with the shipped RBAC.
  const kubeconfig = await c.serviceAccountKubeconfig('csi-provisioner.yaml');
  metricsPort = await freePort();
  provisioner = new SidecarProcess(await bundleSidecar('csi-provisioner'), [
    `--csi-address=${c.driverSocket}`,
    `--kubeconfig=${kubeconfig}`,
    `--http-endpoint=127.0.0.1:${metricsPort}`,
    '--leader-election',
    '--leader-election-namespace=default',
    '-v=5',
  ]);
  await provisioner.waitForLog(/Caches synced, starting workers/, 60_000);
});
afterAll(async () => {
  await provisioner?.stop();
});

function claim(name: string, storageClassName: string) {
  return {
    metadata: { name, namespace },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName },
  };
}

async function get(path: string): Promise<Obj | undefined> {
  return cluster().admin.find<Obj>(path);
}

async function events(name: string): Promise<EventList['items']> {
  const list = (await cluster().admin.must('GET', `/api/v1/namespaces/${namespace}/events`)) as EventList;
  return list.items.filter((e) => e.involvedObject.name === name);
}

describe('csi-provisioner against a real control plane and CSI driver', () => {
  it('provisions a volume for a claim, which kube-controller-manager binds, and deletes it with the claim', async () => {
    const c = cluster();
    const created = (await c.admin.must(
      'POST',
      `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
      claim('data', 'mock'),
    )) as Obj & {
      metadata: { uid: string };
    };
    const pvName = `pvc-${created.metadata.uid}`;
    await waitUntil(
      'claim Bound',
      async () => (await get(`/api/v1/namespaces/${namespace}/persistentvolumeclaims/data`))?.status?.phase === 'Bound',
      60_000,
    );
    const pv = await get(`/api/v1/persistentvolumes/${pvName}`);
    expect(pv?.metadata.annotations?.['pv.kubernetes.io/provisioned-by']).toBe(MOCK_DRIVER);
    expect(pv?.metadata.finalizers).toContain('external-provisioner.volume.kubernetes.io/finalizer');
    expect(pv?.spec?.csi?.driver).toBe(MOCK_DRIVER);
    expect(pv?.spec?.csi?.volumeHandle).toBeTruthy();
    expect(pv?.spec?.csi?.volumeAttributes?.['storage.kubernetes.io/csiProvisionerIdentity']).toMatch(
      new RegExp(`^\\d+-\\d+-${MOCK_DRIVER}$`),
    );
    expect(pv?.spec?.persistentVolumeReclaimPolicy).toBe('Delete');
    await waitUntil(
      'ProvisioningSucceeded event',
      async () => (await events('data')).some((e) => e.reason === 'ProvisioningSucceeded'),
      30_000,
    );
    expect(c.driver?.log()).toContain('CreateVolume');
    expect(await driverVolumeNames(c)).toContain(pvName);

    await c.admin.must('DELETE', `/api/v1/namespaces/${namespace}/persistentvolumeclaims/data`);
    await waitUntil(
      'volume deleted',
      async () => (await get(`/api/v1/persistentvolumes/${pvName}`)) === undefined,
      90_000,
    );
    expect(c.driver?.log()).toContain('DeleteVolume');
    expect(await driverVolumeNames(c)).not.toContain(pvName);
    const metrics = await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text();
    expect(metrics).toMatch(
      /csi_sidecar_operations_seconds_count\{driver_name="io.kubernetes.storage.mock",method_name="\/csi.v1.Controller\/CreateVolume",grpc_status_code="OK"\} 1/,
    );
    // As Go v6.3: the driver name labels every call after GetPluginInfo, the start-up capability calls too.
    const startup = (method: string) =>
      metrics.match(
        new RegExp(`csi_sidecar_operations_seconds_count\\{driver_name="([^"]+)",method_name="/csi.v1.${method}"`),
      )?.[1];
    expect(['Identity/Probe', 'Identity/GetPluginInfo'].map(startup)).toEqual(['unknown-driver', 'unknown-driver']);
    expect(['Identity/GetPluginCapabilities', 'Controller/ControllerGetCapabilities'].map(startup)).toEqual([
      MOCK_DRIVER,
      MOCK_DRIVER,
    ]);
  });

  it('holds a Lease named after the driver and records a LeaderElection event on it', async () => {
    const c = cluster();
    const lease = (await c.admin.must(
      'GET',
      '/apis/coordination.k8s.io/v1/namespaces/default/leases/io-kubernetes-storage-mock',
    )) as { spec: { holderIdentity: string } };
    expect(lease.spec.holderIdentity).not.toBe('');
    await waitUntil(
      'LeaderElection event',
      async () => {
        const list = (await c.admin.must('GET', '/api/v1/namespaces/default/events')) as {
          items: { reason: string; message: string; involvedObject: { kind: string; name: string } }[];
        };
        return list.items.some(
          (e) =>
            e.reason === 'LeaderElection' &&
            e.involvedObject.kind === 'Lease' &&
            e.message === `${lease.spec.holderIdentity} became leader`,
        );
      },
      30_000,
    );
  });

  it('reports a bad StorageClass parameter as ProvisioningFailed and creates nothing', async () => {
    const c = cluster();
    await c.admin.must('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, claim('bad', 'mock-bad'));
    await waitUntil(
      'ProvisioningFailed event',
      async () => (await events('bad')).some((e) => e.reason === 'ProvisioningFailed'),
      60_000,
    );
    const failed = (await events('bad')).find((e) => e.reason === 'ProvisioningFailed');
    expect(failed?.type).toBe('Warning');
    expect(failed?.message).toContain('csi.storage.k8s.io/no-such-key');
    expect(provisioner.running).toBe(true);
  });

  it('provisions a WaitForFirstConsumer claim whose selected node does not exist when the driver has no topology, as Go v6.3', async () => {
    const c = cluster();
    const late = claim('late', 'mock-late');
    const annotated = {
      ...late,
      metadata: { ...late.metadata, annotations: { 'volume.kubernetes.io/selected-node': 'node-gone' } },
    };
    await c.admin.must('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, annotated);
    await waitUntil(
      'claim Bound',
      async () => (await get(`/api/v1/namespaces/${namespace}/persistentvolumeclaims/late`))?.status?.phase === 'Bound',
      60_000,
    );
    const bound = await get(`/api/v1/namespaces/${namespace}/persistentvolumeclaims/late`);
    expect(bound?.metadata.annotations?.['volume.kubernetes.io/selected-node']).toBe('node-gone');
    expect((await events('late')).filter((e) => e.reason === 'ProvisioningFailed')).toEqual([]);
  });

  it('names the unserved VolumeSnapshot API in the ProvisioningFailed event as client-go does (no snapshot CRDs)', async () => {
    const c = cluster();
    const restore = claim('restore', 'mock');
    await c.admin.must('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, {
      ...restore,
      spec: {
        ...restore.spec,
        dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'snap' },
      },
    });
    await waitUntil(
      'ProvisioningFailed event',
      async () => (await events('restore')).some((e) => e.reason === 'ProvisioningFailed'),
      60_000,
    );
    const failed = (await events('restore')).find((e) => e.reason === 'ProvisioningFailed');
    expect(failed?.message).toBe(
      'error getting handle for DataSource Type VolumeSnapshot by Name snap: error getting snapshot snap from api server: ' +
        'the server could not find the requested resource (get volumesnapshots.snapshot.storage.k8s.io snap)',
    );
    expect(provisioner.running).toBe(true);
  });
});
