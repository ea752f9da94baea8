import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { sendUnaryData, ServerUnaryCall, UntypedHandleCall } from '@grpc/grpc-js';
import { Server, ServerCredentials, status as grpcStatus } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { CreateVolumeRequest, DeleteVolumeRequest } from '../../src/gen/csi.js';
import { CsiConnection } from '../../src/shared/csi/connection.js';
import { CSI_METHODS, CSI_SERVICES } from '../../src/shared/csi/methods.js';
import type { CsiMethod } from '../../src/shared/csi/methods.js';
import { CsiRpcError } from '../../src/shared/csi/status.js';
import { discardLogger } from '../../src/shared/log/logger.js';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess } from '../../src/shared/testing/sidecar-process.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { MOCK_DRIVER, createMockStorageClass } from '../fixture/mock-storage.js';
import { waitUntil } from '../fixture/managed-process.js';

// Provisioning scenarios beyond the plain claim: delayed binding, raw block, StorageClass secrets, clones and
// restores, each against kube-apiserver + kube-controller-manager and the Kubernetes e2e mock CSI driver. What the
// provisioner asked the driver for is read, decoded, on a recording proxy between the two rather than parsed from
// the driver's log.

const namespace = 'scenarios-e2e';
const nodeName = 'e2e-node';
const snapshotApi = '/apis/snapshot.storage.k8s.io/v1';
const cloneFinalizer = 'provisioner.storage.kubernetes.io/cloning-protection';
const snapshotSourceFinalizer = 'provisioner.storage.kubernetes.io/volumesnapshot-as-source-protection';
// What a real snapshot-controller puts on a bound VolumeSnapshot; the provisioner must leave it alone.
const snapshotterBoundFinalizer = 'snapshot.storage.kubernetes.io/volumesnapshot-bound-protection';
// Never to be printed by the provisioner, whatever its verbosity.
const secretValue = `e2e-secret-${randomBytes(12).toString('hex')}`;

const cluster = useTestCluster('provisioner-scenarios', { controllerManager: true, mockDriver: true });
let provisioner: SidecarProcess;
/** Straight to the driver, for the test's own calls (they are not recorded). */
let csi: CsiConnection;
let proxy: Server | undefined;
/** Every request the provisioner sent the driver, in arrival order. */
const calls: RecordedCall[] = [];

interface RecordedCall {
  method: CsiMethod;
  request: unknown;
  /** Set once the driver answered. */
  outcome?: 'ok' | 'error';
}

interface Claim {
  metadata: {
    name: string;
    uid: string;
    annotations?: Record<string, string>;
    finalizers?: string[];
    deletionTimestamp?: string;
  };
  spec: { volumeName?: string };
  status?: { phase?: string };
}

interface Volume {
  metadata: { name: string; annotations?: Record<string, string> };
  spec: {
    volumeMode?: string;
    claimRef?: { name: string; namespace: string };
    csi?: { driver: string; volumeHandle: string; controllerPublishSecretRef?: { name: string; namespace: string } };
  };
}

interface Snapshot {
  metadata: { uid: string; finalizers?: string[] };
}

beforeAll(async () => {
  const c = cluster();
  // Before the provisioner starts, so its VolumeSnapshot informer (orphan sweeper) finds the API.
  await c.installSnapshotCrds();
  await c.admin.must('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  // Acting as a node without a kubelet: the scheduler only needs a name to put into selected-node.
  await c.admin.must('POST', '/api/v1/nodes', { metadata: { name: nodeName } });
  await createMockStorageClass(c, 'immediate');
  await createMockStorageClass(c, 'delayed', { volumeBindingMode: 'WaitForFirstConsumer' });
  await createMockStorageClass(c, 'secured', {
    parameters: {
      'csi.storage.k8s.io/provisioner-secret-name': '${pvc.name}-secret',
      'csi.storage.k8s.io/provisioner-secret-namespace': '${pvc.namespace}',
      'csi.storage.k8s.io/controller-publish-secret-name': '${pv.name}-publish',
      'csi.storage.k8s.io/controller-publish-secret-namespace': '${pvc.namespace}',
    },
  });
  const kubeconfig = await c.serviceAccountKubeconfig('csi-provisioner.yaml');
  csi = await CsiConnection.connect({ address: c.driverSocket, logger: discardLogger() });
  const proxySocket = join(c.dir, 'recorder.sock');
  proxy = await startRecordingProxy(proxySocket, csi);
  // The shipped RBAC leaves secrets opt-in; grant what the manifest's commented rule describes.
  await c.admin.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    metadata: { name: 'e2e-provisioner-secrets' },
    rules: [{ apiGroups: [''], resources: ['secrets'], verbs: ['get'] }],
  });
  await c.admin.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name: 'e2e-provisioner-secrets' },
    subjects: [{ kind: 'ServiceAccount', name: 'csi-provisioner', namespace: 'default' }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'e2e-provisioner-secrets' },
  });
  // -v=5 logs the most detail, which is where a leaked secret would show up.
  provisioner = new SidecarProcess(await bundleSidecar('csi-provisioner'), [
    `--csi-address=${proxySocket}`,
    `--kubeconfig=${kubeconfig}`,
    // Longer than any driver pause below, so a paused CreateVolume is answered rather than retried.
    '--timeout=60s',
    '-v=5',
  ]);
  await provisioner.waitForLog(/Caches synced, starting workers/, 60_000);
});
afterAll(async () => {
  cluster().driver?.resume();
  await provisioner?.stop();
  proxy?.forceShutdown();
  csi?.close();
});

/**
 * A transparent unary gRPC proxy in front of the driver that keeps every request it forwards, decoded, so the
 * tests can check exactly what the provisioner asked the driver for.
 */
async function startRecordingProxy(socket: string, driver: CsiConnection): Promise<Server> {
  const server = new Server();
  for (const [service, definition] of Object.entries(CSI_SERVICES)) {
    const handlers: Record<string, UntypedHandleCall> = {};
    for (const info of Object.values(CSI_METHODS)) {
      if (info.service !== service) continue;
      handlers[info.key] = (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        const record: RecordedCall = { method: info.name, request: call.request };
        calls.push(record);
        // A deadline well past the provisioner's --timeout, so that one decides, as with a direct connection.
        driver.call(info.name, call.request as never, { timeoutMs: 300_000 }).then(
          (response) => {
            record.outcome = 'ok';
            callback(null, response);
          },
          (err: unknown) => {
            record.outcome = 'error';
            const code = err instanceof CsiRpcError ? err.code : grpcStatus.UNAVAILABLE;
            const details = err instanceof CsiRpcError ? err.details : String(err);
            callback({ code, details });
          },
        );
      };
    }
    server.addService(definition, handlers);
  }
  await new Promise<void>((resolve, reject) => {
    server.bindAsync(`unix://${socket}`, ServerCredentials.createInsecure(), (err) => (err ? reject(err) : resolve()));
  });
  return server;
}

async function createClaim(
  name: string,
  className: string,
  extra: { spec?: Record<string, unknown>; annotations?: Record<string, string> } = {},
): Promise<Claim> {
  return (await cluster().admin.must('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, {
    metadata: { name, namespace, annotations: extra.annotations },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
      storageClassName: className,
      ...extra.spec,
    },
  })) as Claim;
}

async function getObject<T>(path: string): Promise<T | undefined> {
  return cluster().admin.find<T>(path);
}

const claimPath = (name: string): string => `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${name}`;
const getClaim = (name: string): Promise<Claim | undefined> => getObject<Claim>(claimPath(name));
const getVolume = (name: string): Promise<Volume | undefined> => getObject<Volume>(`/api/v1/persistentvolumes/${name}`);
const snapshotPath = (name: string): string => `${snapshotApi}/namespaces/${namespace}/volumesnapshots/${name}`;
const getSnapshot = (name: string): Promise<Snapshot | undefined> => getObject<Snapshot>(snapshotPath(name));

/** Waits until kube-controller-manager bound the claim, and returns its volume. */
async function waitBound(name: string): Promise<Volume> {
  await waitUntil(`claim ${name} Bound`, async () => (await getClaim(name))?.status?.phase === 'Bound', 60_000);
  const volumeName = (await getClaim(name))?.spec.volumeName ?? '';
  const volume = await getVolume(volumeName);
  if (!volume) throw new Error(`claim ${name} is Bound to ${volumeName}, which does not exist`);
  return volume;
}

async function claimEvents(name: string): Promise<{ reason: string; message: string; type: string }[]> {
  const list = (await cluster().admin.must('GET', `/api/v1/namespaces/${namespace}/events`)) as {
    items: { reason: string; message: string; type: string; involvedObject: { name: string } }[];
  };
  return list.items.filter((e) => e.involvedObject.name === name);
}

/** CreateVolume requests the provisioner sent for a PV name (the request name is the PV name), answered or not. */
function createVolumeCalls(pvName: string): RecordedCall[] {
  return calls.filter((c) => c.method === 'CreateVolume' && (c.request as CreateVolumeRequest).name === pvName);
}

/** The CreateVolume request for a PV name that the driver answered successfully. */
function createVolumeRequest(pvName: string): CreateVolumeRequest {
  const call = createVolumeCalls(pvName).find((c) => c.outcome === 'ok');
  if (!call) throw new Error(`the driver answered no CreateVolume named ${pvName}`);
  return call.request as CreateVolumeRequest;
}

function deleteVolumeRequests(volumeId: string): DeleteVolumeRequest[] {
  return calls
    .filter((c) => c.method === 'DeleteVolume' && (c.request as DeleteVolumeRequest).volumeId === volumeId)
    .map((c) => c.request as DeleteVolumeRequest);
}

async function driverVolumeIds(): Promise<string[]> {
  const res = await csi.call('ListVolumes', {}, { timeoutMs: 10_000 });
  return res.entries.map((e) => e.volume?.volumeId ?? '');
}

async function deleteClaimAndVolume(name: string): Promise<void> {
  const volume = await waitBound(name);
  await cluster().admin.must('DELETE', claimPath(name));
  await waitUntil(`PV ${volume.metadata.name} deleted`, async () => !(await getVolume(volume.metadata.name)), 60_000);
}

describe('csi-provisioner scenarios against a real control plane and the mock CSI driver', () => {
  it('provisions a WaitForFirstConsumer claim only once the scheduler selected a node', async () => {
    const c = cluster();
    // The storage-provisioner annotation makes the claim ours, as after a reschedule removed selected-node: only
    // the missing selected-node keeps the provisioner from acting (without it KCM would not even hand it over).
    const delayed = await createClaim('delayed', 'delayed', {
      annotations: { 'volume.kubernetes.io/storage-provisioner': MOCK_DRIVER },
    });
    // Created after the delayed claim, so once this one is Bound the provisioner has long seen the delayed one.
    await createClaim('marker', 'immediate');
    await waitBound('marker');
    const delayedPv = `pvc-${delayed.metadata.uid}`;
    expect(createVolumeCalls(delayedPv)).toEqual([]);
    expect(await getVolume(delayedPv)).toBeUndefined();
    expect((await getClaim('delayed'))?.status?.phase).toBe('Pending');

    // The scheduler's part: pick a node for the claim.
    await c.admin.must(
      'PATCH',
      claimPath('delayed'),
      { metadata: { annotations: { 'volume.kubernetes.io/selected-node': nodeName } } },
      'application/merge-patch+json',
    );
    const volume = await waitBound('delayed');
    expect(volume.metadata.name).toBe(delayedPv);
    expect(volume.spec.claimRef?.name).toBe('delayed');
    expect(createVolumeRequest(delayedPv).name).toBe(delayedPv);
  });

  it('provisions a raw block volume for a Block claim', async () => {
    const created = await createClaim('raw', 'immediate', { spec: { volumeMode: 'Block' } });
    const volume = await waitBound('raw');
    expect(volume.metadata.name).toBe(`pvc-${created.metadata.uid}`);
    expect(volume.spec.volumeMode).toBe('Block');
    const capabilities = createVolumeRequest(volume.metadata.name).volumeCapabilities;
    expect(capabilities).toHaveLength(1);
    expect(capabilities[0].accessType?.$case).toBe('block');
  });

  it('passes StorageClass secrets to CreateVolume and DeleteVolume without logging them', async () => {
    const c = cluster();
    await c.admin.must('POST', `/api/v1/namespaces/${namespace}/secrets`, {
      metadata: { name: 'secured-secret' },
      stringData: { password: secretValue },
    });
    const created = await createClaim('secured', 'secured');
    const volume = await waitBound('secured');
    const pvName = `pvc-${created.metadata.uid}`;
    expect(volume.metadata.name).toBe(pvName);
    // DeleteVolume finds its secret through these annotations, even if the class changes later.
    expect(volume.metadata.annotations?.['volume.kubernetes.io/provisioner-deletion-secret-name']).toBe(
      'secured-secret',
    );
    expect(volume.metadata.annotations?.['volume.kubernetes.io/provisioner-deletion-secret-namespace']).toBe(namespace);
    expect(volume.spec.csi?.controllerPublishSecretRef).toEqual({ name: `${pvName}-publish`, namespace });
    const request = createVolumeRequest(pvName);
    expect(request.secrets).toEqual({ password: secretValue });
    // Secret references are for the provisioner, never driver parameters.
    expect(Object.keys(request.parameters)).toEqual([]);
    const handle = volume.spec.csi?.volumeHandle ?? '';
    expect(await driverVolumeIds()).toContain(handle);

    await c.admin.must('DELETE', claimPath('secured'));
    await waitUntil('secured PV deleted', async () => !(await getVolume(pvName)), 60_000);
    expect(await driverVolumeIds()).not.toContain(handle);
    const deletes = deleteVolumeRequests(handle);
    expect(deletes.length).toBeGreaterThan(0);
    for (const request of deletes) expect(request.secrets).toEqual({ password: secretValue });

    // A claim whose templated secret does not exist: the event names it, and no volume is made.
    const orphan = await createClaim('unsecured', 'secured');
    await waitUntil(
      'ProvisioningFailed naming the missing secret',
      async () =>
        (await claimEvents('unsecured')).some(
          (e) => e.reason === 'ProvisioningFailed' && e.message.includes('unsecured-secret'),
        ),
      60_000,
    );
    const orphanPv = `pvc-${orphan.metadata.uid}`;
    expect(createVolumeCalls(orphanPv)).toEqual([]);
    expect(await getVolume(orphanPv)).toBeUndefined();
    expect((await getClaim('unsecured'))?.status?.phase).toBe('Pending');
    await c.admin.must('DELETE', claimPath('unsecured'));

    // At -v=5 the provisioner logs every CreateVolume request, with the secrets stripped; the value never appears.
    const logged = provisioner.log.split('\n').find((l) => l.includes('"GRPC call"') && l.includes(pvName));
    expect(logged).toContain('CreateVolume');
    expect(logged).toContain('***stripped***');
    expect(provisioner.log).not.toContain(secretValue);
  });

  it('clones a claim and protects the source claim while the clone is pending', async () => {
    const c = cluster();
    await createClaim('origin', 'immediate');
    const source = await waitBound('origin');
    const sourceHandle = source.spec.csi?.volumeHandle ?? '';

    // A stopped driver keeps the clone's CreateVolume in flight, so "while the clone is pending" lasts.
    c.driver?.pause();
    let clone: Claim;
    try {
      clone = await createClaim('copy', 'immediate', {
        spec: { dataSource: { kind: 'PersistentVolumeClaim', name: 'origin' } },
      });
      await waitUntil(
        'clone protection on the source claim',
        async () => (await getClaim('origin'))?.metadata.finalizers?.includes(cloneFinalizer) === true,
        30_000,
      );
      await waitUntil(
        'clone CreateVolume sent',
        () => createVolumeCalls(`pvc-${clone.metadata.uid}`).length > 0,
        30_000,
      );
      expect(createVolumeCalls(`pvc-${clone.metadata.uid}`).map((call) => call.outcome)).toEqual([undefined]);
      // Deleting the source now must not remove it: KCM drops its own (unused-claim) finalizer, ours stays.
      await c.admin.must('DELETE', claimPath('origin'));
      await waitUntil(
        'KCM released the source claim',
        async () => !(await getClaim('origin'))?.metadata.finalizers?.includes('kubernetes.io/pvc-protection'),
        30_000,
      );
      const held = await getClaim('origin');
      expect(held?.metadata.deletionTimestamp).toBeTruthy();
      expect(held?.metadata.finalizers).toEqual([cloneFinalizer]);
      expect((await getClaim('copy'))?.status?.phase).toBe('Pending');
    } finally {
      c.driver?.resume();
    }

    const volume = await waitBound('copy');
    expect(volume.metadata.name).toBe(`pvc-${clone.metadata.uid}`);
    const contentSource = createVolumeRequest(volume.metadata.name).volumeContentSource;
    expect(contentSource?.type).toEqual({ $case: 'volume', value: { volumeId: sourceHandle } });
    // The clone is no longer pending: the finalizer goes, the source claim and then its volume with it.
    await waitUntil('source claim gone', async () => !(await getClaim('origin')), 60_000);
    await waitUntil('source PV deleted', async () => !(await getVolume(source.metadata.name)), 60_000);
    const onDriver = await driverVolumeIds();
    expect(onDriver).not.toContain(sourceHandle);
    expect(onDriver).toContain(volume.spec.csi?.volumeHandle);
    await deleteClaimAndVolume('copy');
  });

  it('restores a claim from a VolumeSnapshot and protects the snapshot while restoring', async () => {
    const c = cluster();
    await createClaim('snapped', 'immediate');
    const source = await waitBound('snapped');
    // No snapshot-controller or csi-snapshotter here: cut the snapshot on the driver and publish it by hand.
    const { snapshot } = await csi.call(
      'CreateSnapshot',
      { name: 'e2e-snapshot', sourceVolumeId: source.spec.csi?.volumeHandle ?? '' },
      { timeoutMs: 10_000 },
    );
    const snapshotId = snapshot?.snapshotId ?? '';
    expect(snapshotId).not.toBe('');
    const restoreBytes = 1 << 30;

    await c.admin.must('POST', `${snapshotApi}/volumesnapshotclasses`, {
      apiVersion: 'snapshot.storage.k8s.io/v1',
      kind: 'VolumeSnapshotClass',
      metadata: { name: 'mock-snapshots' },
      driver: MOCK_DRIVER,
      deletionPolicy: 'Delete',
    });
    const created = (await c.admin.must('POST', `${snapshotApi}/namespaces/${namespace}/volumesnapshots`, {
      apiVersion: 'snapshot.storage.k8s.io/v1',
      kind: 'VolumeSnapshot',
      metadata: { name: 'backup', finalizers: [snapshotterBoundFinalizer] },
      spec: { volumeSnapshotClassName: 'mock-snapshots', source: { volumeSnapshotContentName: 'backup-content' } },
    })) as Snapshot;
    // A pre-provisioned content bound both ways, as the snapshot-controller leaves it.
    await c.admin.must('POST', `${snapshotApi}/volumesnapshotcontents`, {
      apiVersion: 'snapshot.storage.k8s.io/v1',
      kind: 'VolumeSnapshotContent',
      metadata: { name: 'backup-content' },
      spec: {
        deletionPolicy: 'Retain',
        driver: MOCK_DRIVER,
        source: { snapshotHandle: snapshotId },
        volumeSnapshotClassName: 'mock-snapshots',
        volumeSnapshotRef: {
          apiVersion: 'snapshot.storage.k8s.io/v1',
          kind: 'VolumeSnapshot',
          name: 'backup',
          namespace,
          uid: created.metadata.uid,
        },
      },
    });
    const mergePatch = 'application/merge-patch+json';
    await c.admin.must(
      'PATCH',
      `${snapshotApi}/volumesnapshotcontents/backup-content/status`,
      { status: { readyToUse: true, snapshotHandle: snapshotId, restoreSize: restoreBytes } },
      mergePatch,
    );
    await c.admin.must(
      'PATCH',
      `${snapshotPath('backup')}/status`,
      { status: { boundVolumeSnapshotContentName: 'backup-content', readyToUse: true, restoreSize: '1Gi' } },
      mergePatch,
    );

    c.driver?.pause();
    let restored: Claim;
    try {
      restored = await createClaim('restored', 'immediate', {
        spec: { dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'backup' } },
      });
      await waitUntil(
        'source protection on the VolumeSnapshot',
        async () => (await getSnapshot('backup'))?.metadata.finalizers?.includes(snapshotSourceFinalizer) === true,
        30_000,
      );
      // The finalizer came first, and the restore's CreateVolume is now waiting on the stopped driver.
      const restoredPv = `pvc-${restored.metadata.uid}`;
      await waitUntil('restore CreateVolume sent', () => createVolumeCalls(restoredPv).length > 0, 30_000);
      expect(createVolumeCalls(restoredPv).map((call) => call.outcome)).toEqual([undefined]);
      expect((await getSnapshot('backup'))?.metadata.finalizers).toContain(snapshotterBoundFinalizer);
    } finally {
      c.driver?.resume();
    }

    const volume = await waitBound('restored');
    expect(volume.metadata.name).toBe(`pvc-${restored.metadata.uid}`);
    const contentSource = createVolumeRequest(volume.metadata.name).volumeContentSource;
    expect(contentSource?.type).toEqual({ $case: 'snapshot', value: { snapshotId } });
    // Restored: the provisioner takes its finalizer off and leaves the snapshot-controller's in place.
    await waitUntil(
      'source protection removed',
      async () => (await getSnapshot('backup'))?.metadata.finalizers?.includes(snapshotSourceFinalizer) === false,
      30_000,
    );
    expect((await getSnapshot('backup'))?.metadata.finalizers).toEqual([snapshotterBoundFinalizer]);
    await deleteClaimAndVolume('restored');
  });
});
