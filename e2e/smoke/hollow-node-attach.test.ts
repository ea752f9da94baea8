import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type {
  V1CSINode,
  V1Node,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1Pod,
  V1VolumeAttachment,
} from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess } from '../../src/shared/testing/sidecar-process.js';
import type { HollowKubelet } from '../fixture/cluster.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { HOSTPATH_DRIVER, HostpathPlugin, mountsUnder, unmountAllUnder } from '../fixture/hostpath.js';
import type { HostpathVolume } from '../fixture/hostpath.js';
import { attacherArgs, createHostpathCsiDriver, provisionerArgs, registrarArgs } from '../fixture/full-stack.js';
import { waitUntil } from '../fixture/managed-process.js';

// The node half of a CSI volume's life, which kubemark's hollow kubelet cannot do: our hollownode program
// (e2e/infra/k8s/cmd/hollownode, the same hollow kubelet with controller-managed attach/detach on) as the node, the
// upstream hostpath driver with real ControllerPublish, and this project's registrar, provisioner and attacher.
// A WaitForFirstConsumer claim and a pod on the node: provisioned, attached by csi-attacher through
// kube-controller-manager's VolumeAttachment, staged and published by the kubelet (hostpath bind-mounts the volume
// into the pod's dir), the pod Running; then the way back: unpublished, unstaged, detached, deleted.
// The steps depend on each other and run in order.

const namespace = 'hollow-attach';
// hostpath's node ID is the node name, as in upstream's DaemonSet.
const nodeName = 'hollow-attach';
const controllerManagedAnnotation = 'volumes.kubernetes.io/controller-managed-attach-detach';
const cluster = useTestCluster('hollow-node-attach', { controllerManager: true, scheduler: true });

let node: HollowKubelet;
let hostpath: HostpathPlugin;
const started: { name: string; sidecar: SidecarProcess }[] = [];
let provisioner: SidecarProcess;
let attacher: SidecarProcess;
let registrar: SidecarProcess;
let pvName = '';
/** Where the kubelet staged and published the volume (read from hostpath's state once it has). */
const paths = { staged: '', published: '' };

function run(name: string, bundle: string, args: string[]): SidecarProcess {
  const sidecar = new SidecarProcess(bundle, args);
  started.push({ name, sidecar });
  return sidecar;
}

beforeAll(async () => {
  const c = cluster();
  await c.admin.must('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  await createHostpathCsiDriver(c.admin);
  const [provisionerBundle, attacherBundle, registrarBundle] = await Promise.all([
    bundleSidecar('csi-provisioner'),
    bundleSidecar('csi-attacher'),
    bundleSidecar('csi-node-driver-registrar'),
  ]);
  const provisionerKubeconfig = await c.serviceAccountKubeconfig('csi-provisioner.yaml');
  const attacherKubeconfig = await c.serviceAccountKubeconfig('csi-attacher.yaml');
  node = await c.startHollowKubelet(nodeName, { program: 'hollownode' });

  hostpath = new HostpathPlugin({
    dir: join(c.dir, 'hostpath'),
    logFile: join(c.dir, 'logs', 'hostpathplugin.log'),
    nodeId: nodeName,
    // Real ControllerPublish/Unpublish: hostpath then refuses NodeStageVolume for a volume csi-attacher did not attach.
    args: ['--enable-attach', '--enable-topology'],
  });
  await hostpath.start();

  provisioner = run(
    'csi-provisioner',
    provisionerBundle,
    provisionerArgs({ socket: hostpath.socket, kubeconfig: provisionerKubeconfig }),
  );
  attacher = run(
    'csi-attacher',
    attacherBundle,
    attacherArgs({ socket: hostpath.socket, kubeconfig: attacherKubeconfig }),
  );
  registrar = run(
    'csi-node-driver-registrar',
    registrarBundle,
    registrarArgs({ socket: hostpath.socket, pluginRegistrationDir: node.pluginRegistrationDir }),
  );
  await Promise.all([provisioner, attacher].map((p) => p.waitForLog(/Caches synced, starting workers/, 60_000)));
}, 300_000);

afterAll(async () => {
  for (const { sidecar } of started) await sidecar.stop();
  // Neither may mount again while we clean up: the kubelet would re-publish a volume of a pod still there.
  await node?.process.stop();
  await hostpath?.process.stop();
  // hostpath's NodePublishVolume bind-mounts the volume into the kubelet's pod dir. When a step failed before the
  // unpublish, the cluster's clean-up would recurse through that mount into the volume: unmount first.
  if (node) unmountAllUnder(node.rootDir);
  if (hostpath) unmountAllUnder(hostpath.stateDir);
  // The suite keeps the cluster's logs dir when a test failed (its afterAll runs after this one): add ours.
  for (const { name, sidecar } of started) writeFileSync(join(cluster().dir, 'logs', `${name}.log`), sidecar.log);
});

// --- helpers ---

async function getClaim(name: string): Promise<V1PersistentVolumeClaim | undefined> {
  return cluster().admin.find<V1PersistentVolumeClaim>(
    `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${name}`,
  );
}

async function getVolume(name: string): Promise<V1PersistentVolume | undefined> {
  return cluster().admin.find<V1PersistentVolume>(`/api/v1/persistentvolumes/${name}`);
}

async function getPod(name: string): Promise<V1Pod | undefined> {
  return cluster().admin.find<V1Pod>(`/api/v1/namespaces/${namespace}/pods/${name}`);
}

async function getNode(): Promise<V1Node> {
  return (await cluster().admin.must('GET', `/api/v1/nodes/${nodeName}`)) as V1Node;
}

async function attachments(): Promise<V1VolumeAttachment[]> {
  const list = (await cluster().admin.must('GET', '/apis/storage.k8s.io/v1/volumeattachments')) as {
    items: V1VolumeAttachment[];
  };
  return list.items.filter((va) => va.spec.source.persistentVolumeName === pvName);
}

function hostpathVolume(): HostpathVolume {
  const volume = hostpath.volumeNamed(pvName);
  if (!volume) throw new Error(`hostpath has no volume named ${pvName}`);
  return volume;
}

/** The CSI methods hostpath was called with, in order ("NodeStageVolume", …), from its -v=5 log. */
function hostpathCalls(): string[] {
  return [...hostpath.process.log().matchAll(/GRPC call: \/csi\.v1\.\w+\/(\w+)/g)].map((m) => m[1]);
}

/** The node-side calls only, without the frequent capability and info queries. */
function nodeVolumeCalls(): string[] {
  return hostpathCalls().filter((m) => /^Node(Stage|Publish|Unstage|Unpublish)Volume$/.test(m));
}

/**
 * Waits until hostpath's log shows `count` node-side calls and returns them. The log reaches its file through this
 * process's pipe, so it may lag behind state.json, which hostpath writes itself.
 */
async function nodeVolumeCallsWhen(count: number): Promise<string[]> {
  await waitUntil(`${count} node volume calls in the hostpath log`, () => nodeVolumeCalls().length >= count, 10_000);
  return nodeVolumeCalls();
}

describe('hollownode: a hollow kubelet with controller-managed attach/detach stages and publishes CSI volumes', () => {
  it('the kubelet registers its Node for controller-managed attach/detach and registers hostpath', async () => {
    expect((await getNode()).metadata?.annotations?.[controllerManagedAnnotation]).toBe('true');
    expect(node.process.log()).toMatch(/"Starting hollow node".*controllerAttachDetach=true/);
    await waitUntil(
      'hostpath in CSINode',
      async () => {
        const csiNode = (await cluster().admin.must(
          'GET',
          `/apis/storage.k8s.io/v1/csinodes/${nodeName}`,
        )) as V1CSINode;
        return (csiNode.spec.drivers ?? []).some((d) => d.name === HOSTPATH_DRIVER && d.nodeID === nodeName);
      },
      60_000,
    );
    await registrar.waitForLog(/plugin_registered:true/, 30_000);
  });

  it('a WaitForFirstConsumer claim and a pod: scheduled to the node, provisioned, Bound', async () => {
    const c = cluster();
    await c.admin.must('POST', '/apis/storage.k8s.io/v1/storageclasses', {
      metadata: { name: 'hostpath-wffc' },
      provisioner: HOSTPATH_DRIVER,
      reclaimPolicy: 'Delete',
      volumeBindingMode: 'WaitForFirstConsumer',
    });
    await c.admin.must('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, {
      metadata: { name: 'data' },
      spec: {
        accessModes: ['ReadWriteOnce'],
        resources: { requests: { storage: '1Gi' } },
        storageClassName: 'hostpath-wffc',
      },
    });
    await c.admin.must('POST', `/api/v1/namespaces/${namespace}/pods`, {
      metadata: { name: 'app' },
      spec: {
        // The hollow kubelet's runtime is fake: the image is never pulled.
        containers: [
          { name: 'app', image: 'registry.k8s.io/pause:3.10', volumeMounts: [{ name: 'data', mountPath: '/data' }] },
        ],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
        terminationGracePeriodSeconds: 1,
      },
    });
    await waitUntil('claim Bound', async () => (await getClaim('data'))?.status?.phase === 'Bound', 60_000);
    pvName = (await getClaim('data'))?.spec?.volumeName ?? '';
    expect(pvName).toMatch(/^pvc-/);
    // The scheduler binds the claim first, then the pod.
    await waitUntil('pod bound to the node', async () => (await getPod('app'))?.spec?.nodeName === nodeName, 30_000);
    expect(provisioner.log).toMatch(/GRPC call.*CreateVolume/);
    // (Attached may already be true: kube-controller-manager creates the VolumeAttachment as soon as the pod is bound.)
    expect((await getVolume(pvName))?.spec?.csi?.volumeHandle).toBe(hostpathVolume().VolID);
  });

  it("kube-controller-manager's VolumeAttachment is attached by csi-attacher (ControllerPublishVolume on hostpath)", async () => {
    await waitUntil(
      'VolumeAttachment attached',
      async () => (await attachments())[0]?.status?.attached === true,
      60_000,
    );
    const [va] = await attachments();
    expect(va.spec).toMatchObject({ attacher: HOSTPATH_DRIVER, nodeName });
    const specOwner = va.metadata?.managedFields?.find((f) => 'f:spec' in ((f.fieldsV1 ?? {}) as object));
    expect(specOwner?.manager).toBe('kube-controller-manager');
    await waitUntil(
      'ControllerPublishVolume in the hostpath log',
      () => hostpathCalls().includes('ControllerPublishVolume'),
      10_000,
    );
    expect(hostpathVolume().Attached).toBe(true);
  });

  it('the kubelet stages and publishes the volume on hostpath (a real bind mount) and the pod runs', async () => {
    await waitUntil('pod Running', async () => (await getPod('app'))?.status?.phase === 'Running', 120_000);
    const volume = hostpathVolume();
    // hostpath advertises STAGE_UNSTAGE_VOLUME: one stage (a global path under the kubelet's plugin dir), then the
    // publish into the pod's volume dir, both under the kubelet's root dir.
    expect(await nodeVolumeCallsWhen(2)).toEqual(['NodeStageVolume', 'NodePublishVolume']);
    expect(volume.Staged).toHaveLength(1);
    expect(volume.Published).toHaveLength(1);
    paths.staged = volume.Staged?.[0] ?? '';
    paths.published = volume.Published?.[0] ?? '';
    expect(paths.staged.startsWith(`${node.rootDir}/plugins/kubernetes.io/csi/${HOSTPATH_DRIVER}/`)).toBe(true);
    const pod = await getPod('app');
    expect(paths.published).toBe(
      `${node.rootDir}/pods/${pod?.metadata?.uid}/volumes/kubernetes.io~csi/${pvName}/mount`,
    );
    expect(mountsUnder(node.rootDir)).toEqual([paths.published]);
    // The bind mount is the volume: what is written through it lands in hostpath's volume directory.
    writeFileSync(join(paths.published, 'hello.txt'), 'written through the pod mount\n');
    expect(readFileSync(join(volume.VolPath, 'hello.txt'), 'utf8')).toBe('written through the pod mount\n');
    // The kubelet reports the volume in use, which keeps the attach/detach controller from detaching it.
    const status = (await getNode()).status;
    const uniqueName = `kubernetes.io/csi/${HOSTPATH_DRIVER}^${volume.VolID}`;
    expect(status?.volumesInUse).toContain(uniqueName);
    expect((status?.volumesAttached ?? []).map((v) => v.name)).toContain(uniqueName);
  });

  it('the pod is deleted: unpublished, unstaged, then detached by csi-attacher', async () => {
    const c = cluster();
    await c.admin.must('DELETE', `/api/v1/namespaces/${namespace}/pods/app`);
    await waitUntil('pod gone', async () => (await getPod('app')) === undefined, 120_000);
    await waitUntil(
      'volume unstaged on hostpath',
      () => {
        const v = hostpathVolume();
        return (v.Staged ?? []).length === 0 && (v.Published ?? []).length === 0;
      },
      120_000,
    );
    expect(await nodeVolumeCallsWhen(4)).toEqual([
      'NodeStageVolume',
      'NodePublishVolume',
      'NodeUnpublishVolume',
      'NodeUnstageVolume',
    ]);
    expect(mountsUnder(node.rootDir)).toEqual([]);
    // Detach comes after the kubelet dropped the volume from volumesInUse.
    await waitUntil('VolumeAttachment gone', async () => (await attachments()).length === 0, 120_000);
    await waitUntil(
      'ControllerUnpublishVolume in the hostpath log',
      () => hostpathCalls().includes('ControllerUnpublishVolume'),
      10_000,
    );
    expect(attacher.log).toMatch(/GRPC call.*ControllerUnpublishVolume/);
    expect(hostpathVolume().Attached).toBe(false);
  });

  it('the claim is deleted: the volume is gone from hostpath and nothing is left mounted', async () => {
    const c = cluster();
    const volume = hostpathVolume();
    await c.admin.must('DELETE', `/api/v1/namespaces/${namespace}/persistentvolumeclaims/data`);
    await waitUntil('PV gone', async () => (await getVolume(pvName)) === undefined, 60_000);
    await waitUntil('DeleteVolume in the hostpath log', () => hostpathCalls().includes('DeleteVolume'), 10_000);
    expect(hostpath.volumes()).toEqual([]);
    expect(await hostpath.listVolumeIds()).not.toContain(volume.VolID);
    expect(mountsUnder(node.rootDir)).toEqual([]);
    expect(mountsUnder(hostpath.stateDir)).toEqual([]);
  });
});
