import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess } from '../../src/shared/testing/sidecar-process.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { createMockStorageClass } from '../fixture/mock-storage.js';
import { waitUntil } from '../fixture/managed-process.js';

const namespace = 'durable-e2e';
const inFlightFinalizer = 'external-provisioner.volume.kubernetes.io/provisioning-in-flight';
const cluster = useTestCluster('provisioner-durable', { controllerManager: true, mockDriver: true });
let bundle: string;
let kubeconfig: string;
const running: SidecarProcess[] = [];

interface Claim {
  metadata: { name: string; uid: string; finalizers?: string[]; deletionTimestamp?: string };
}

beforeAll(async () => {
  const c = cluster();
  await c.admin.must('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  await createMockStorageClass(c, 'durable');
  kubeconfig = await c.serviceAccountKubeconfig('csi-provisioner.yaml');
  bundle = await bundleSidecar('csi-provisioner');
});
afterEach(async () => {
  cluster().driver?.resume();
  for (const p of running.splice(0)) await p.stop();
});

function startProvisioner(): SidecarProcess {
  const c = cluster();
  const proc = new SidecarProcess(bundle, [
    `--csi-address=${c.driverSocket}`,
    `--kubeconfig=${kubeconfig}`,
    '--durable-in-flight',
    '--timeout=2s',
    '-v=4',
  ]);
  running.push(proc);
  return proc;
}

async function claim(name: string): Promise<Claim | undefined> {
  return cluster().admin.find<Claim>(`/api/v1/namespaces/${namespace}/persistentvolumeclaims/${name}`);
}

describe('csi-provisioner --durable-in-flight', () => {
  it('deletes the volume of a claim deleted while the provisioner was down mid-CreateVolume', async () => {
    const c = cluster();
    const first = startProvisioner();
    await first.waitForLog(/Caches synced, starting workers/, 60_000);
    // A hung backend: CreateVolume is sent but never answered.
    c.driver?.pause();
    await c.admin.must('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, {
      metadata: { name: 'orphan' },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '1Gi' } },
        storageClassName: 'durable',
      },
    });
    await waitUntil(
      'in-flight marker on the claim',
      async () => (await claim('orphan'))?.metadata.finalizers?.includes(inFlightFinalizer) === true,
      60_000,
    );
    const uid = (await claim('orphan'))?.metadata.uid ?? '';
    // The provisioner dies while CreateVolume may be running; the user deletes the claim meanwhile.
    await first.stop();
    await c.admin.must('DELETE', `/api/v1/namespaces/${namespace}/persistentvolumeclaims/orphan`);
    expect((await claim('orphan'))?.metadata.deletionTimestamp).toBeTruthy();
    c.driver?.resume();

    startProvisioner();
    await waitUntil('claim gone', async () => (await claim('orphan')) === undefined, 90_000);
    const driverLog = c.driver?.log() ?? '';
    expect(driverLog).toContain(`pvc-${uid}`);
    expect(driverLog).toContain('DeleteVolume');
    const pv = await c.admin.send('GET', `/api/v1/persistentvolumes/pvc-${uid}`);
    expect(pv.status).toBe(404);
  });
});
