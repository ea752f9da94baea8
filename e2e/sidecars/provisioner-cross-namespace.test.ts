import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess } from '../../src/shared/testing/sidecar-process.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { createMockStorageClass } from '../fixture/mock-storage.js';
import { waitUntil } from '../fixture/managed-process.js';

// A clone from a claim in another namespace (dataSourceRef.namespace), which needs the alpha
// CrossNamespaceVolumeDataSource gate on kube-apiserver and the provisioner, and a Gateway API
// ReferenceGrant in the source namespace.

const cluster = useTestCluster('provisioner-cross-namespace', {
  controllerManager: true,
  mockDriver: true,
  featureGates: 'CrossNamespaceVolumeDataSource=true',
});
let provisioner: SidecarProcess;

interface Claim {
  metadata: { uid: string };
  spec: { volumeName?: string };
  status?: { phase?: string };
}

interface EventList {
  items: { reason: string; message: string; involvedObject: { name: string } }[];
}

beforeAll(async () => {
  const c = cluster();
  await c.installReferenceGrantCrd();
  for (const name of ['golden', 'apps']) await c.admin.must('POST', '/api/v1/namespaces', { metadata: { name } });
  await createMockStorageClass(c, 'mock');
  const kubeconfig = await c.serviceAccountKubeconfig('csi-provisioner.yaml');
  // The opt-in rule of manifests/rbac/csi-provisioner.yaml that the gate needs.
  await c.admin.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterroles', {
    metadata: { name: 'provisioner-reference-grants' },
    rules: [
      { apiGroups: ['gateway.networking.k8s.io'], resources: ['referencegrants'], verbs: ['get', 'list', 'watch'] },
    ],
  });
  await c.admin.must('POST', '/apis/rbac.authorization.k8s.io/v1/clusterrolebindings', {
    metadata: { name: 'provisioner-reference-grants' },
    subjects: [{ kind: 'ServiceAccount', name: 'csi-provisioner', namespace: 'default' }],
    roleRef: { apiGroup: 'rbac.authorization.k8s.io', kind: 'ClusterRole', name: 'provisioner-reference-grants' },
  });
  provisioner = new SidecarProcess(await bundleSidecar('csi-provisioner'), [
    `--csi-address=${c.driverSocket}`,
    `--kubeconfig=${kubeconfig}`,
    '--feature-gates=CrossNamespaceVolumeDataSource=true',
    // Keeps the retry after the grant appears short.
    '--retry-interval-max=2s',
    '-v=4',
  ]);
  await provisioner.waitForLog(/Caches synced, starting workers/, 60_000);
});
afterAll(async () => {
  await provisioner?.stop();
});

async function boundClaim(namespace: string, name: string): Promise<Claim> {
  const path = `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${name}`;
  await waitUntil(
    `${namespace}/${name} Bound`,
    async () => {
      const res = await cluster().admin.send('GET', path);
      return res.status === 200 && (res.body as Claim).status?.phase === 'Bound';
    },
    60_000,
  );
  return (await cluster().admin.must('GET', path)) as Claim;
}

function claim(name: string, dataSourceRef?: Record<string, string>) {
  return {
    metadata: { name },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
      storageClassName: 'mock',
      ...(dataSourceRef ? { dataSourceRef } : {}),
    },
  };
}

describe('csi-provisioner with CrossNamespaceVolumeDataSource', () => {
  it('refuses a clone from another namespace until a ReferenceGrant there allows it', async () => {
    const c = cluster();
    await c.admin.must('POST', '/api/v1/namespaces/golden/persistentvolumeclaims', claim('src'));
    const source = await boundClaim('golden', 'src');
    const sourcePv = (await c.admin.must('GET', `/api/v1/persistentvolumes/${source.spec.volumeName}`)) as {
      spec: { csi: { volumeHandle: string } };
    };

    await c.admin.must(
      'POST',
      '/api/v1/namespaces/apps/persistentvolumeclaims',
      claim('copy', { kind: 'PersistentVolumeClaim', name: 'src', namespace: 'golden' }),
    );
    const refusal = "accessing golden/src of PersistentVolumeClaim dataSource from apps/copy isn't allowed";
    await waitUntil(
      'ProvisioningFailed for the missing grant',
      async () => {
        const list = (await c.admin.must('GET', '/api/v1/namespaces/apps/events')) as EventList;
        return list.items.some((e) => e.involvedObject.name === 'copy' && e.message.endsWith(refusal));
      },
      30_000,
    );
    const pending = (await c.admin.must('GET', '/api/v1/namespaces/apps/persistentvolumeclaims/copy')) as Claim;
    expect(pending.status?.phase).toBe('Pending');
    expect((await c.admin.send('GET', `/api/v1/persistentvolumes/pvc-${pending.metadata.uid}`)).status).toBe(404);

    await c.admin.must('POST', '/apis/gateway.networking.k8s.io/v1beta1/namespaces/golden/referencegrants', {
      apiVersion: 'gateway.networking.k8s.io/v1beta1',
      kind: 'ReferenceGrant',
      metadata: { name: 'apps-may-clone' },
      spec: {
        from: [{ group: '', kind: 'PersistentVolumeClaim', namespace: 'apps' }],
        to: [{ group: '', kind: 'PersistentVolumeClaim', name: 'src' }],
      },
    });
    const copy = await boundClaim('apps', 'copy');
    expect(copy.spec.volumeName).toBe(`pvc-${pending.metadata.uid}`);
    // The driver was asked for a copy of the source volume.
    const creates = (c.driver?.log() ?? '')
      .split('\n')
      .filter((line) => line.includes('gRPCCall:') && line.includes('/csi.v1.Controller/CreateVolume'));
    expect(creates.some((line) => line.includes(`"volume_id":"${sourcePv.spec.csi.volumeHandle}"`))).toBe(true);
  });
});
