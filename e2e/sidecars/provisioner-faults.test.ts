import type { V1Lease } from '@kubernetes/client-node';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess } from '../../src/shared/testing/sidecar-process.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { FAST_LEADER_ELECTION_ARGS, hostnameArgs } from '../fixture/replicas.js';
import { createMockStorageClass, driverVolumeNames, loggedCreateVolumeRequests } from '../fixture/mock-storage.js';
import { waitUntil } from '../fixture/managed-process.js';

const namespace = 'faults-e2e';
const leasePath = '/apis/coordination.k8s.io/v1/namespaces/default/leases/io-kubernetes-storage-mock';
const cluster = useTestCluster('provisioner-faults', { controllerManager: true, mockDriver: true });
let bundle: string;
let kubeconfig: string;
const running: SidecarProcess[] = [];

interface Claim {
  metadata: { name: string; uid: string };
  spec: { volumeName?: string };
  status?: { phase?: string };
}

interface VolumeList {
  items: { metadata: { name: string }; spec: { claimRef?: { uid?: string } } }[];
}

beforeAll(async () => {
  const c = cluster();
  await c.admin.must('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  await createMockStorageClass(c, 'faults');
  kubeconfig = await c.serviceAccountKubeconfig('csi-provisioner.yaml');
  bundle = await bundleSidecar('csi-provisioner');
});
afterEach(async () => {
  cluster().driver?.resume();
  for (const p of running.splice(0)) await p.stop();
});

/**
 * A provisioner with JSON logs at -v=5, so every CreateVolume request it sends can be read back. `identity` stands
 * in for the pod name: replicas on one host would otherwise share the host name as leader-election identity.
 */
function startProvisioner(args: string[], identity?: string): SidecarProcess {
  const c = cluster();
  const proc = new SidecarProcess(
    bundle,
    [
      `--csi-address=${c.driverSocket}`,
      `--kubeconfig=${kubeconfig}`,
      '--retry-interval-start=500ms',
      '--logging-format=json',
      '-v=5',
      ...args,
    ],
    identity === undefined ? {} : { nodeArgs: hostnameArgs(identity) },
  );
  running.push(proc);
  return proc;
}

/** Volume names of the CreateVolume requests a provisioner sent, from its "GRPC call" trace lines. */
function createVolumeNames(proc: SidecarProcess): string[] {
  return loggedCreateVolumeRequests(proc.log).map((request) => request.name);
}

async function createClaim(name: string): Promise<Claim> {
  return (await cluster().admin.must('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, {
    metadata: { name },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'faults' },
  })) as Claim;
}

async function waitBound(name: string): Promise<Claim> {
  const path = `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${name}`;
  await waitUntil(
    `claim ${name} Bound`,
    async () => ((await cluster().admin.must('GET', path)) as Claim).status?.phase === 'Bound',
    60_000,
  );
  return (await cluster().admin.must('GET', path)) as Claim;
}

/** PVs whose claimRef points at this claim UID. */
async function volumesOfClaim(uid: string): Promise<string[]> {
  const list = (await cluster().admin.must('GET', '/api/v1/persistentvolumes')) as VolumeList;
  return list.items.filter((pv) => pv.spec.claimRef?.uid === uid).map((pv) => pv.metadata.name);
}

/** The names (volume_context "name", which the mock sets to the request name) of the volumes the driver holds. */
async function warningEvents(claimNames: string[]): Promise<{ reason: string; message: string }[]> {
  const list = (await cluster().admin.must('GET', `/api/v1/namespaces/${namespace}/events`)) as {
    items: { type: string; reason: string; message: string; involvedObject: { name: string } }[];
  };
  return list.items.filter((e) => e.type === 'Warning' && claimNames.includes(e.involvedObject.name));
}

async function leaseHolder(): Promise<string | undefined> {
  return (await cluster().admin.find<V1Lease>(leasePath))?.spec?.holderIdentity;
}

describe('csi-provisioner under driver and replica faults', () => {
  it('retries a CreateVolume that outlived --timeout under the same name and ends with one volume', async () => {
    const c = cluster();
    const provisioner = startProvisioner(['--timeout=2s']);
    await provisioner.waitForLog(/Caches synced, starting workers/, 60_000);
    // A hung backend: the calls reach the socket but nothing answers until the driver is resumed.
    c.driver?.pause();
    const created = await createClaim('slow');
    const volumeName = `pvc-${created.metadata.uid}`;
    await waitUntil(
      'ProvisioningFailed with DeadlineExceeded',
      async () => {
        const events = await warningEvents(['slow']);
        return events.some((e) => e.reason === 'ProvisioningFailed' && e.message.includes('DeadlineExceeded'));
      },
      30_000,
    );
    // Two attempts timed out and a third is on its way while the driver is still hung.
    await waitUntil('two retried CreateVolume calls', () => createVolumeNames(provisioner).length >= 3, 30_000);
    c.driver?.resume();

    const bound = await waitBound('slow');
    expect(bound.spec.volumeName).toBe(volumeName);
    expect(await volumesOfClaim(created.metadata.uid)).toEqual([volumeName]);
    // Every attempt, the timed-out ones included, asked for the same name, so the driver created it only once.
    const names = createVolumeNames(provisioner);
    expect(names.length).toBeGreaterThanOrEqual(3);
    expect(new Set(names)).toEqual(new Set([volumeName]));
    expect((await driverVolumeNames(cluster())).filter((n) => n === volumeName)).toHaveLength(1);
  });

  it('provisions with exactly one of two replicas and hands over when the leader is killed', async () => {
    const replicas = new Map([
      ['replica-a', startProvisioner(FAST_LEADER_ELECTION_ARGS, 'replica-a')],
      ['replica-b', startProvisioner(FAST_LEADER_ELECTION_ARGS, 'replica-b')],
    ]);
    await waitUntil('a Lease holder', async () => replicas.has((await leaseHolder()) ?? ''), 60_000);
    const firstLeader = (await leaseHolder()) ?? '';
    const [standbyName, standby] = [...replicas].find(([name]) => name !== firstLeader) ?? [];
    const leader = replicas.get(firstLeader);
    if (!leader || !standby || !standbyName) throw new Error('expected two replicas');
    await leader.waitForLog(/Caches synced, starting workers/, 60_000);

    const first = await createClaim('first');
    const firstName = `pvc-${first.metadata.uid}`;
    await waitBound('first');
    expect(createVolumeNames(leader)).toEqual([firstName]);
    expect(createVolumeNames(standby)).toEqual([]);
    expect(standby.log).not.toMatch(/became leader/);
    expect(await leaseHolder()).toBe(firstLeader);

    // kill -9: the Lease is not released and must expire before the standby may take it.
    await leader.stop();
    await waitUntil('the standby holds the Lease', async () => (await leaseHolder()) === standbyName, 30_000);
    await standby.waitForLog(/Caches synced, starting workers/, 60_000);

    const second = await createClaim('second');
    const secondName = `pvc-${second.metadata.uid}`;
    await waitBound('second');
    expect(createVolumeNames(standby)).toEqual([secondName]);
    expect(await volumesOfClaim(first.metadata.uid)).toEqual([firstName]);
    expect(await volumesOfClaim(second.metadata.uid)).toEqual([secondName]);
    const onDriver = await driverVolumeNames(cluster());
    expect(onDriver.filter((n) => n === firstName)).toHaveLength(1);
    expect(onDriver.filter((n) => n === secondName)).toHaveLength(1);
    expect(await warningEvents(['first', 'second'])).toEqual([]);
  });
});
