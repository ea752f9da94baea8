import { beforeAll, describe, expect, it } from 'vitest';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { waitUntil } from '../fixture/managed-process.js';

// kube-controller-manager for the second test: its PV binder hands a WaitForFirstConsumer claim to the
// external provisioner once the scheduler has picked a node.
const cluster = useTestCluster('scheduler', { scheduler: true, controllerManager: true });

const nodeName = 'hollow-sched-1';
const namespace = 'default';

interface Pod {
  spec: { nodeName?: string };
  status?: { phase?: string };
}

interface Claim {
  metadata: { annotations?: Record<string, string> };
  status?: { phase?: string };
}

const getPod = async (name: string): Promise<Pod> =>
  (await cluster().admin.must('GET', `/api/v1/namespaces/${namespace}/pods/${name}`)) as Pod;

describe('kube-scheduler', () => {
  beforeAll(async () => {
    await cluster().startHollowKubelet(nodeName);
  });

  it('binds a plain pod to the hollow node, whose kubelet runs it', async () => {
    const name = 'plain';
    // The hollow kubelet's container runtime is fake: the image is never pulled.
    await cluster().admin.must('POST', `/api/v1/namespaces/${namespace}/pods`, {
      metadata: { name },
      spec: { containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }] },
    });
    await waitUntil(`pod ${name} bound`, async () => (await getPod(name)).spec.nodeName !== undefined, 30_000);
    expect((await getPod(name)).spec.nodeName).toBe(nodeName);
    await waitUntil(`pod ${name} Running`, async () => (await getPod(name)).status?.phase === 'Running', 60_000);
    expect(cluster().scheduler?.log()).toMatch(
      /"Successfully bound pod to node" pod="default\/plain" node="hollow-sched-1"/,
    );
    await cluster().admin.must('DELETE', `/api/v1/namespaces/${namespace}/pods/${name}`);
  });

  it('picks the hollow node for a WaitForFirstConsumer claim: selected-node on the PVC', async () => {
    const provisioner = 'scheduler.e2e.example.com';
    await cluster().admin.must('POST', '/apis/storage.k8s.io/v1/storageclasses', {
      metadata: { name: 'wffc' },
      provisioner,
      volumeBindingMode: 'WaitForFirstConsumer',
    });
    const claim = 'wffc-claim';
    await cluster().admin.must('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, {
      metadata: { name: claim },
      spec: {
        storageClassName: 'wffc',
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '1Gi' } },
      },
    });
    const getClaim = async (): Promise<Claim> =>
      (await cluster().admin.must('GET', `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${claim}`)) as Claim;
    // Before a consumer exists nobody picks a node.
    expect((await getClaim()).metadata.annotations?.['volume.kubernetes.io/selected-node']).toBeUndefined();

    const pod = 'wffc-consumer';
    await cluster().admin.must('POST', `/api/v1/namespaces/${namespace}/pods`, {
      metadata: { name: pod },
      spec: {
        containers: [{ name: 'app', image: 'registry.k8s.io/pause:3.10' }],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: claim } }],
      },
    });
    await waitUntil(
      'selected-node on the claim',
      async () => (await getClaim()).metadata.annotations?.['volume.kubernetes.io/selected-node'] !== undefined,
      30_000,
    );
    const annotations = (await getClaim()).metadata.annotations ?? {};
    expect(annotations['volume.kubernetes.io/selected-node']).toBe(nodeName);
    // KCM's PV binder then hands the claim to the (absent) external provisioner.
    await waitUntil(
      'storage-provisioner on the claim',
      async () => (await getClaim()).metadata.annotations?.['volume.kubernetes.io/storage-provisioner'] === provisioner,
      30_000,
    );
    // No provisioner runs: the claim stays Pending and the pod waits in the scheduler's PreBind, unbound.
    expect((await getClaim()).status?.phase).toBe('Pending');
    expect((await getPod(pod)).spec.nodeName).toBeUndefined();
    await cluster().admin.must('DELETE', `/api/v1/namespaces/${namespace}/pods/${pod}`);
  });
});
