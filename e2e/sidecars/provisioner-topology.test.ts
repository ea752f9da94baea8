import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess } from '../../src/shared/testing/sidecar-process.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { MOCK_DRIVER, createMockStorageClass, loggedCreateVolumeRequests } from '../fixture/mock-storage.js';
import { waitUntil } from '../fixture/managed-process.js';

const namespace = 'topology-e2e';
const zoneKey = 'topology.mock.example/zone';
const selectedNodeAnnotation = 'volume.kubernetes.io/selected-node';
// The driver answers with the first topology it is asked for and has no room left in zone-full.
const cluster = useTestCluster('provisioner-topology', {
  controllerManager: true,
  mockDriver: { args: ['--enable-topology', '--topology-from-request', `--exhausted-topology=${zoneKey}=zone-full`] },
});
const nodes = { 'node-a': 'zone-a', 'node-b': 'zone-b', 'node-full': 'zone-full' } as const;
let provisioner: SidecarProcess;

interface Claim {
  metadata: { name: string; uid: string; annotations?: Record<string, string> };
  spec: { volumeName?: string };
  status?: { phase?: string };
}

interface Volume {
  metadata: { name: string };
  spec: {
    nodeAffinity?: {
      required?: { nodeSelectorTerms: { matchExpressions?: { key: string; operator: string; values: string[] }[] }[] };
    };
  };
}

interface CreateVolumeCall {
  name: string;
  requisite: Record<string, string>[];
  preferred: Record<string, string>[];
}

beforeAll(async () => {
  const c = cluster();
  await c.admin.must('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  // No kubelets run: the Node labels and CSINode keys a node plugin would register are written directly.
  for (const [name, zone] of Object.entries(nodes)) {
    await c.admin.must('POST', '/api/v1/nodes', { metadata: { name, labels: { [zoneKey]: zone } } });
    await c.admin.must('POST', '/apis/storage.k8s.io/v1/csinodes', {
      metadata: { name },
      spec: { drivers: [{ name: MOCK_DRIVER, nodeID: name, topologyKeys: [zoneKey] }] },
    });
  }
  await createMockStorageClass(c, 'zonal-immediate');
  await createMockStorageClass(c, 'zonal-wffc', { volumeBindingMode: 'WaitForFirstConsumer' });
  const kubeconfig = await c.serviceAccountKubeconfig('csi-provisioner.yaml');
  // JSON logs at -v=5 carry every CreateVolume request as the provisioner sent it.
  provisioner = new SidecarProcess(await bundleSidecar('csi-provisioner'), [
    `--csi-address=${c.driverSocket}`,
    `--kubeconfig=${kubeconfig}`,
    '--feature-gates=Topology=true',
    '--retry-interval-start=500ms',
    '--logging-format=json',
    '-v=5',
  ]);
  await provisioner.waitForLog(/Caches synced, starting workers/, 60_000);
});
afterAll(async () => {
  await provisioner?.stop();
});

async function createClaim(name: string, storageClassName: string, selectedNode?: string): Promise<Claim> {
  return (await cluster().admin.must('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, {
    metadata: { name, ...(selectedNode ? { annotations: { [selectedNodeAnnotation]: selectedNode } } : {}) },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName },
  })) as Claim;
}

async function getClaim(name: string): Promise<Claim> {
  return (await cluster().admin.must('GET', `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${name}`)) as Claim;
}

async function waitBound(name: string): Promise<Claim> {
  await waitUntil(`claim ${name} Bound`, async () => (await getClaim(name)).status?.phase === 'Bound', 60_000);
  return getClaim(name);
}

async function getVolume(name: string): Promise<Volume | undefined> {
  return cluster().admin.find<Volume>(`/api/v1/persistentvolumes/${name}`);
}

async function claimEvents(name: string): Promise<{ reason: string; type: string; message: string }[]> {
  const list = (await cluster().admin.must('GET', `/api/v1/namespaces/${namespace}/events`)) as {
    items: { reason: string; type: string; message: string; involvedObject: { name: string } }[];
  };
  return list.items.filter((e) => e.involvedObject.name === name);
}

/** The CreateVolume requests the provisioner sent for one volume name, from its "GRPC call" trace lines. */
function createVolumeCalls(volumeName: string): CreateVolumeCall[] {
  type Segments = { segments: Record<string, string> }[];
  return loggedCreateVolumeRequests<{
    name: string;
    accessibility_requirements?: { requisite?: Segments; preferred?: Segments };
  }>(provisioner.log)
    .filter((request) => request.name === volumeName)
    .map((request) => ({
      name: request.name,
      requisite: (request.accessibility_requirements?.requisite ?? []).map((t) => t.segments),
      preferred: (request.accessibility_requirements?.preferred ?? []).map((t) => t.segments),
    }));
}

/** The zone each nodeSelectorTerm of the PV requires. */
function affinityZones(pv: Volume | undefined): string[][] {
  return (pv?.spec.nodeAffinity?.required?.nodeSelectorTerms ?? []).map((term) =>
    (term.matchExpressions ?? []).filter((e) => e.key === zoneKey && e.operator === 'In').flatMap((e) => e.values),
  );
}

const allZones = [{ [zoneKey]: 'zone-a' }, { [zoneKey]: 'zone-b' }, { [zoneKey]: 'zone-full' }];

describe('csi-provisioner topology against a real control plane and a zonal CSI driver', () => {
  it('asks for the zones of all driver nodes for an Immediate claim and pins the PV to the zone the driver chose', async () => {
    // The preferred order is a hash rotation of the claim name; 'data' starts in zone-a, not zone-full.
    const created = await createClaim('data', 'zonal-immediate');
    const pvName = `pvc-${created.metadata.uid}`;
    const bound = await waitBound('data');
    expect(bound.spec.volumeName).toBe(pvName);

    const calls = createVolumeCalls(pvName);
    expect(calls).toHaveLength(1);
    // Aggregated from every Node that carries the keys the driver registered in its CSINodes, sorted.
    expect(calls[0].requisite).toEqual(allZones);
    expect([...calls[0].preferred].sort((x, y) => x[zoneKey].localeCompare(y[zoneKey]))).toEqual(allZones);
    const chosen = calls[0].preferred[0][zoneKey];
    expect(chosen).not.toBe('zone-full');
    // The driver placed the volume in preferred[0]; the PV may only be used from there.
    expect(affinityZones(await getVolume(pvName))).toEqual([[chosen]]);
  });

  it('prefers the selected node’s zone for a WaitForFirstConsumer claim', async () => {
    const created = await createClaim('late', 'zonal-wffc', 'node-b');
    const pvName = `pvc-${created.metadata.uid}`;
    await waitBound('late');

    const calls = createVolumeCalls(pvName);
    expect(calls).toHaveLength(1);
    expect(calls[0].requisite).toEqual(allZones);
    expect(calls[0].preferred[0]).toEqual({ [zoneKey]: 'zone-b' });
    expect(affinityZones(await getVolume(pvName))).toEqual([['zone-b']]);
  });

  it('gives a claim back to the scheduler when the selected zone is out of capacity, then provisions where it is re-placed', async () => {
    const c = cluster();
    const created = await createClaim('resched', 'zonal-wffc', 'node-full');
    const pvName = `pvc-${created.metadata.uid}`;

    // ResourceExhausted with a selected node: the provisioner drops the annotation so the scheduler picks again.
    await waitUntil(
      'selected-node annotation removed',
      async () => (await getClaim('resched')).metadata.annotations?.[selectedNodeAnnotation] === undefined,
      60_000,
    );
    // Events are written asynchronously and may land after the claim update.
    await waitUntil(
      'ProvisioningFailed event',
      async () => (await claimEvents('resched')).some((e) => e.reason === 'ProvisioningFailed'),
      30_000,
    );
    const failed = (await claimEvents('resched')).filter((e) => e.reason === 'ProvisioningFailed');
    expect(failed[0].type).toBe('Warning');
    expect(failed[0].message).toContain('ResourceExhausted');
    // A sync racing the annotation removal may try zone-full once more; every attempt so far asked for it.
    const attempts = createVolumeCalls(pvName);
    expect(attempts.length).toBeGreaterThan(0);
    for (const attempt of attempts) expect(attempt.preferred[0]).toEqual({ [zoneKey]: 'zone-full' });
    expect(await getVolume(pvName)).toBeUndefined();
    expect((await getClaim('resched')).status?.phase).toBe('Pending');

    // The test plays the scheduler and picks a node in zone-a.
    await c.admin.must(
      'PATCH',
      `/api/v1/namespaces/${namespace}/persistentvolumeclaims/resched`,
      { metadata: { annotations: { [selectedNodeAnnotation]: 'node-a' } } },
      'application/merge-patch+json',
    );
    const bound = await waitBound('resched');
    expect(bound.spec.volumeName).toBe(pvName);
    const calls = createVolumeCalls(pvName).slice(attempts.length);
    expect(calls).toHaveLength(1);
    expect(calls[0].preferred[0]).toEqual({ [zoneKey]: 'zone-a' });
    expect(affinityZones(await getVolume(pvName))).toEqual([['zone-a']]);
    expect((await claimEvents('resched')).some((e) => e.reason === 'ProvisioningSucceeded')).toBe(true);
  });
});
