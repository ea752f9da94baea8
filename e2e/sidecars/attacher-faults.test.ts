import type { V1Lease, V1VolumeAttachment } from '@kubernetes/client-node';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess } from '../../src/shared/testing/sidecar-process.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { FAST_LEADER_ELECTION_ARGS, hostnameArgs } from '../fixture/replicas.js';
import { waitUntil } from '../fixture/managed-process.js';
import { MOCK_DRIVER, createMockVolumeWithPv } from '../fixture/mock-storage.js';

// The test plays kube-controller-manager's attach/detach controller: it writes VolumeAttachments itself, so every
// fault is the only thing that happens.
const cluster = useTestCluster('attacher-faults', { controllerManager: false, mockDriver: true });
const running: SidecarProcess[] = [];
let bundle: string;
let kubeconfig: string;

beforeAll(async () => {
  const c = cluster();
  bundle = await bundleSidecar('csi-attacher');
  kubeconfig = await c.serviceAccountKubeconfig('csi-attacher.yaml');
  await c.admin.must('POST', '/apis/storage.k8s.io/v1/csinodes', {
    metadata: { name: 'node-f' },
    spec: { drivers: [{ name: MOCK_DRIVER, nodeID: MOCK_DRIVER }] },
  });
});
afterEach(async () => {
  cluster().driver?.resume();
  for (const p of running.splice(0)) await p.stop();
});
afterAll(async () => {
  for (const p of running.splice(0)) await p.stop();
});

/** `identity` stands in for the pod name: replicas on one host would otherwise share the host name as identity. */
function startAttacher(args: string[] = [], identity?: string): SidecarProcess {
  const c = cluster();
  const proc = new SidecarProcess(
    bundle,
    [`--csi-address=${c.driverSocket}`, `--kubeconfig=${kubeconfig}`, '--retry-interval-start=500ms', '-v=5', ...args],
    identity === undefined ? {} : { nodeArgs: hostnameArgs(identity) },
  );
  running.push(proc);
  return proc;
}

/** A volume on the mock driver, its PV, and a VolumeAttachment for it on node-f. */
async function attachmentFor(name: string): Promise<void> {
  await volumeFor(name);
  await createAttachment(name);
}

/** A volume on the mock driver and its PV. */
async function volumeFor(name: string): Promise<void> {
  await createMockVolumeWithPv(cluster(), name);
}

async function createAttachment(name: string, nodeName = 'node-f'): Promise<void> {
  await cluster().admin.must('POST', '/apis/storage.k8s.io/v1/volumeattachments', {
    metadata: { name },
    spec: { attacher: MOCK_DRIVER, nodeName, source: { persistentVolumeName: name } },
  });
}

async function getAttachment(name: string): Promise<V1VolumeAttachment> {
  return (await cluster().admin.must('GET', `/apis/storage.k8s.io/v1/volumeattachments/${name}`)) as V1VolumeAttachment;
}

const attached = (name: string) => async () => (await getAttachment(name)).status?.attached === true;

async function leaseHolder(): Promise<string | undefined> {
  const lease = await cluster().admin.find<V1Lease>(
    '/apis/coordination.k8s.io/v1/namespaces/default/leases/external-attacher-leader-io-kubernetes-storage-mock',
  );
  return lease?.spec?.holderIdentity;
}

describe('csi-attacher under faults, against a real apiserver and the mock CSI driver', () => {
  it('records a driver error with its gRPC code on the VolumeAttachment and clears it once the attach succeeds', async () => {
    const c = cluster();
    // A CSINode's driver entries are immutable: node-w starts with a node ID the mock rejects.
    const csiNode = (nodeID: string) => ({
      metadata: { name: 'node-w' },
      spec: { drivers: [{ name: MOCK_DRIVER, nodeID }] },
    });
    await c.admin.must('POST', '/apis/storage.k8s.io/v1/csinodes', csiNode('wrong-node'));
    // The opt-in events need the opt-in rule of the RBAC file.
    await c.admin.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
      metadata: { name: 'e2e-attacher-events' },
      rules: [{ apiGroups: [''], resources: ['events'], verbs: ['create', 'patch'] }],
    });
    await c.admin.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
      metadata: { name: 'e2e-attacher-events' },
      subjects: [{ kind: 'ServiceAccount', name: 'csi-attacher', namespace: 'default' }],
      roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'e2e-attacher-events' },
    });
    const attacher = startAttacher(['--volumeattachment-events']);
    await attacher.waitForLog(/Caches synced, starting workers/, 60_000);
    await volumeFor('va-error');
    await createAttachment('va-error', 'node-w');
    await waitUntil(
      'attachError',
      async () => (await getAttachment('va-error')).status?.attachError !== undefined,
      30_000,
    );
    const failed = await getAttachment('va-error');
    expect(failed.status?.attachError?.message).toBe(
      'rpc error: code = NotFound desc = Not matching Node ID wrong-node to Mock Node ID io.kubernetes.storage.mock',
    );
    expect(failed.status?.attachError?.errorCode).toBe(5);
    expect(failed.status?.attached).toBe(false);
    // The finalizer went on before the call: the VolumeAttachment now needs a detach to go away.
    expect(failed.metadata?.finalizers).toEqual(['external-attacher/io-kubernetes-storage-mock']);
    // --volumeattachment-events: the failure is also a Warning event on the VolumeAttachment (cluster-scoped, so in
    // the default namespace).
    await waitUntil(
      'FailedAttach event',
      async () => {
        const list = (await c.admin.must('GET', '/api/v1/namespaces/default/events')) as {
          items: { reason: string; type: string; message: string; involvedObject: { kind: string; name: string } }[];
        };
        return list.items.some(
          (e) =>
            e.reason === 'FailedAttach' &&
            e.type === 'Warning' &&
            e.involvedObject.kind === 'VolumeAttachment' &&
            e.involvedObject.name === 'va-error' &&
            e.message.includes('Not matching Node ID wrong-node'),
        );
      },
      30_000,
    );

    // The node plugin registers again with the right ID.
    await c.admin.must('DELETE', '/apis/storage.k8s.io/v1/csinodes/node-w');
    await c.admin.must('POST', '/apis/storage.k8s.io/v1/csinodes', csiNode(MOCK_DRIVER));
    await waitUntil('attached', attached('va-error'), 60_000);
    const ok = await getAttachment('va-error');
    expect(ok.status?.attachError).toBeUndefined();
    expect(ok.metadata?.annotations?.['csi.alpha.kubernetes.io/node-id']).toBe(MOCK_DRIVER);
  });

  it('times out a hung driver, records DeadlineExceeded, and attaches once the driver answers again', async () => {
    const c = cluster();
    const attacher = startAttacher(['--timeout=2s']);
    await attacher.waitForLog(/Caches synced, starting workers/, 60_000);
    await volumeFor('va-hung');
    c.driver?.pause();
    await createAttachment('va-hung');
    await waitUntil(
      'DeadlineExceeded recorded',
      async () => (await getAttachment('va-hung')).status?.attachError?.errorCode === 4,
      30_000,
    );
    expect((await getAttachment('va-hung')).status?.attachError?.message).toBe(
      'rpc error: code = DeadlineExceeded desc = context deadline exceeded',
    );
    c.driver?.resume();
    await waitUntil('attached after the driver came back', attached('va-hung'), 60_000);
    expect((await getAttachment('va-hung')).status?.attachError).toBeUndefined();
  });

  it('exits when the driver goes away and attaches once both are back', async () => {
    const c = cluster();
    const attacher = startAttacher();
    await attacher.waitForLog(/Caches synced, starting workers/, 60_000);
    await c.driver?.kill();
    expect(await attacher.waitForExit(30_000)).toBe(1);
    expect(attacher.log).toContain('Lost connection to CSI driver, exiting');
    await c.startDriver();
    // The mock keeps its volumes in memory: the restarted driver has none, so the volume is created anew.
    await attachmentFor('va-restart');
    const again = startAttacher();
    await again.waitForLog(/Caches synced, starting workers/, 60_000);
    await waitUntil('attached', attached('va-restart'), 60_000);
  });

  it('keeps attaching across a kube-apiserver restart', async () => {
    const c = cluster();
    const attacher = startAttacher();
    await attacher.waitForLog(/Caches synced, starting workers/, 60_000);
    await c.restartApiserver();
    await attachmentFor('va-after-restart');
    await waitUntil('attached', attached('va-after-restart'), 90_000);
    expect(attacher.running).toBe(true);
  });

  it('attaches with exactly one of two replicas and hands over when the leader is killed', async () => {
    const replicas = new Map([
      ['replica-a', startAttacher(FAST_LEADER_ELECTION_ARGS, 'replica-a')],
      ['replica-b', startAttacher(FAST_LEADER_ELECTION_ARGS, 'replica-b')],
    ]);
    await waitUntil('a Lease holder', async () => replicas.has((await leaseHolder()) ?? ''), 60_000);
    const firstLeader = (await leaseHolder()) ?? '';
    const [standbyName, standby] = [...replicas].find(([name]) => name !== firstLeader) ?? [];
    const leader = replicas.get(firstLeader);
    if (!leader || !standby || !standbyName) throw new Error('expected two replicas');
    await leader.waitForLog(/Caches synced, starting workers/, 60_000);
    await attachmentFor('va-first');
    await waitUntil('attached', attached('va-first'), 60_000);
    expect(leader.log).toMatch(/GRPC call.*ControllerPublishVolume/);
    expect(standby.log).not.toMatch(/GRPC call.*ControllerPublishVolume/);

    await leader.stop();
    await waitUntil('the standby holds the Lease', async () => (await leaseHolder()) === standbyName, 30_000);
    await standby.waitForLog(/Caches synced, starting workers/, 60_000);
    await attachmentFor('va-second');
    await waitUntil('attached', attached('va-second'), 60_000);
    expect(standby.log).toMatch(/GRPC call.*ControllerPublishVolume/);
  });
});
