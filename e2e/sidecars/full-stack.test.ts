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
import { SidecarProcess, freePort } from '../../src/shared/testing/sidecar-process.js';
import type { HollowKubelet } from '../fixture/cluster.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import {
  attacherArgs,
  createHostpathCsiDriver,
  createHostpathStorageClass,
  hostpathArgs,
  livenessprobeArgs,
  provisionerArgs,
  registrarArgs,
} from '../fixture/full-stack.js';
import {
  HOSTPATH_DRIVER,
  HOSTPATH_TOPOLOGY_KEY,
  HostpathPlugin,
  mountsUnder,
  unmountAllUnder,
} from '../fixture/hostpath.js';
import type { HostpathVolume } from '../fixture/hostpath.js';
import { waitUntil } from '../fixture/managed-process.js';
import { loggedCreateVolumeRequests } from '../fixture/mock-storage.js';

// The whole volume story with nothing mocked on the storage side: the upstream hostpath driver, all four sidecars of
// this project wired to it as a deployment would wire them, kube-scheduler and kube-controller-manager, and a hollow
// kubelet (the real kubelet with a fake container runtime) as the node. hostpath is a single-node driver, so one
// process is both its controller and its node plugin. The steps depend on each other and run in order.
// The node is hollownode (e2e/infra/k8s/cmd/hollownode: kubemark's hollow kubelet with controller attach/detach
// on), so kube-controller-manager makes the VolumeAttachments and the kubelet stages and publishes the volume on
// hostpath, which bind-mounts it for real (the tests run as root), and the pod runs.

const namespace = 'full-stack';
// hostpath's node ID is the node name, as in upstream's DaemonSet (--nodeid=$(KUBE_NODE_NAME)).
const nodeName = 'hollow-full';
const attachLimit = 4;
const selectedNodeAnnotation = 'volume.kubernetes.io/selected-node';
const attacherFinalizer = 'external-attacher/hostpath-csi-k8s-io';
const cloningFinalizer = 'provisioner.storage.kubernetes.io/cloning-protection';
const cluster = useTestCluster('full-stack', { controllerManager: true, scheduler: true });

let node: HollowKubelet;
let hostpath: HostpathPlugin;
type SidecarName = 'csi-provisioner' | 'csi-attacher' | 'livenessprobe' | 'csi-node-driver-registrar';
const bundles: Partial<Record<SidecarName, string>> = {};
const kubeconfigs: Record<string, string> = {};
const ports = { controllerProbe: 0, nodeProbe: 0, registrar: 0 };
let provisioner: SidecarProcess;
let attacher: SidecarProcess;
let controllerProbe: SidecarProcess;
let registrar: SidecarProcess;
let nodeProbe: SidecarProcess;
/** Every sidecar process started, replaced ones too: their output goes to the kept logs. */
const started: { name: string; sidecar: SidecarProcess }[] = [];

/** The PV names of the claims, filled in as they are provisioned. */
const pvOf: Record<string, string> = {};

function run(name: SidecarName, args: string[]): SidecarProcess {
  const bundle = bundles[name];
  if (!bundle) throw new Error(`${name} is not bundled`);
  const sidecar = new SidecarProcess(bundle, args);
  started.push({ name, sidecar });
  return sidecar;
}

// The sidecars' flags come from e2e/fixture/full-stack.ts, shared with `npm start`.
function startProvisioner(): SidecarProcess {
  return run('csi-provisioner', provisionerArgs({ socket: hostpath.socket, kubeconfig: kubeconfigs.provisioner }));
}

function startAttacher(): SidecarProcess {
  return run('csi-attacher', attacherArgs({ socket: hostpath.socket, kubeconfig: kubeconfigs.attacher }));
}

async function waitForWorkers(...processes: SidecarProcess[]): Promise<void> {
  await Promise.all(processes.map((p) => p.waitForLog(/Caches synced, starting workers/, 60_000)));
}

beforeAll(async () => {
  const c = cluster();
  await c.admin.must('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  // The CSIDriver object as shipped in manifests/examples/.
  await createHostpathCsiDriver(c.admin);
  const [provisionerBundle, attacherBundle, probeBundle, registrarBundle] = await Promise.all([
    bundleSidecar('csi-provisioner'),
    bundleSidecar('csi-attacher'),
    bundleSidecar('livenessprobe'),
    bundleSidecar('csi-node-driver-registrar'),
  ]);
  Object.assign(bundles, {
    'csi-provisioner': provisionerBundle,
    'csi-attacher': attacherBundle,
    livenessprobe: probeBundle,
    'csi-node-driver-registrar': registrarBundle,
  });
  kubeconfigs.provisioner = await c.serviceAccountKubeconfig('csi-provisioner.yaml');
  kubeconfigs.attacher = await c.serviceAccountKubeconfig('csi-attacher.yaml');
  node = await c.startHollowKubelet(nodeName, { program: 'hollownode' });

  hostpath = new HostpathPlugin({
    dir: join(c.dir, 'hostpath'),
    logFile: join(c.dir, 'logs', 'hostpathplugin.log'),
    nodeId: nodeName,
    args: hostpathArgs({ attachLimit }),
  });
  await hostpath.start();

  for (const key of Object.keys(ports) as (keyof typeof ports)[]) ports[key] = await freePort();
  provisioner = startProvisioner();
  attacher = startAttacher();
  controllerProbe = run(
    'livenessprobe',
    livenessprobeArgs({ socket: hostpath.socket, httpPort: ports.controllerProbe }),
  );
  // Node side, upstream's two-container layout: the registrar and a livenessprobe of their own.
  registrar = run(
    'csi-node-driver-registrar',
    registrarArgs({
      socket: hostpath.socket,
      pluginRegistrationDir: node.pluginRegistrationDir,
      httpPort: ports.registrar,
    }),
  );
  nodeProbe = run('livenessprobe', livenessprobeArgs({ socket: hostpath.socket, httpPort: ports.nodeProbe }));
  await waitForWorkers(provisioner, attacher);
  await Promise.all([controllerProbe, nodeProbe].map((p) => p.waitForLog(/ServeMux listening/, 30_000)));
}, 300_000);

afterAll(async () => {
  for (const { sidecar } of started) await sidecar.stop();
  await hostpath?.process.stop();
  // hostpath's NodePublishVolume is a real bind mount into the kubelet's pod dir, and the cluster's clean-up would
  // recurse through one into the volume. No kubelet here publishes, but should one ever do and a test fail before
  // the pod is gone, unmount (the driver is stopped, so nothing mounts again).
  if (node) unmountAllUnder(node.rootDir);
  if (hostpath) unmountAllUnder(hostpath.stateDir);
  // The suite keeps the cluster's logs dir when a test failed (its afterAll runs after this one): add ours.
  const counts: Record<string, number> = {};
  for (const { name, sidecar } of started) {
    counts[name] = (counts[name] ?? 0) + 1;
    writeFileSync(join(cluster().dir, 'logs', `${name}-${counts[name]}.log`), sidecar.log);
  }
});

// --- helpers ---

async function getClaim(name: string): Promise<V1PersistentVolumeClaim> {
  return (await cluster().admin.must(
    'GET',
    `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${name}`,
  )) as V1PersistentVolumeClaim;
}

async function waitBound(name: string): Promise<V1PersistentVolumeClaim> {
  await waitUntil(`claim ${name} Bound`, async () => (await getClaim(name)).status?.phase === 'Bound', 60_000);
  const claim = await getClaim(name);
  pvOf[name] = claim.spec?.volumeName ?? '';
  return claim;
}

async function createClaim(name: string, storageClassName: string, dataSource?: string): Promise<void> {
  await cluster().admin.must('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, {
    metadata: { name },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
      storageClassName,
      ...(dataSource ? { dataSource: { kind: 'PersistentVolumeClaim', name: dataSource } } : {}),
    },
  });
}

async function getVolume(name: string): Promise<V1PersistentVolume | undefined> {
  return cluster().admin.find<V1PersistentVolume>(`/api/v1/persistentvolumes/${name}`);
}

async function getPod(name: string): Promise<V1Pod | undefined> {
  return cluster().admin.find<V1Pod>(`/api/v1/namespaces/${namespace}/pods/${name}`);
}

async function attachmentsOf(pvName: string): Promise<V1VolumeAttachment[]> {
  const list = (await cluster().admin.must('GET', '/apis/storage.k8s.io/v1/volumeattachments')) as {
    items: V1VolumeAttachment[];
  };
  return list.items.filter((va) => va.spec.source.persistentVolumeName === pvName);
}

async function hostpathEntry(): Promise<V1CSINode['spec']['drivers'][number] | undefined> {
  const csiNode = (await cluster().admin.must('GET', `/apis/storage.k8s.io/v1/csinodes/${nodeName}`)) as V1CSINode;
  return (csiNode.spec.drivers ?? []).find((d) => d.name === HOSTPATH_DRIVER);
}

/** The node names each nodeSelectorTerm of the PV allows through hostpath's topology key. */
function affinityNodes(pv: V1PersistentVolume | undefined): string[][] {
  return (pv?.spec?.nodeAffinity?.required?.nodeSelectorTerms ?? []).map((term) =>
    (term.matchExpressions ?? [])
      .filter((e) => e.key === HOSTPATH_TOPOLOGY_KEY && e.operator === 'In')
      .flatMap((e) => e.values ?? []),
  );
}

async function claimEvents(name: string): Promise<{ reason: string; message: string }[]> {
  const list = (await cluster().admin.must('GET', `/api/v1/namespaces/${namespace}/events`)) as {
    items: { reason: string; message: string; involvedObject: { kind: string; name: string } }[];
  };
  return list.items.filter((e) => e.involvedObject.kind === 'PersistentVolumeClaim' && e.involvedObject.name === name);
}

/** HTTP status of a sidecar endpoint; 0 while nothing listens. */
async function httpStatus(port: number, path: string): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${port}${path}`)).status;
  } catch {
    return 0;
  }
}

interface CreateVolumeCall {
  name: string;
  parameters?: Record<string, string>;
  accessibility_requirements?: { requisite?: { segments: Record<string, string> }[] };
  volume_content_source?: { volume?: { volume_id: string } };
}

/** The CreateVolume requests the current provisioner sent for one volume name. */
function createVolumeCalls(pvName: string): CreateVolumeCall[] {
  return loggedCreateVolumeRequests<CreateVolumeCall>(provisioner.log).filter((r) => r.name === pvName);
}

function hostpathVolume(pvName: string): HostpathVolume {
  const volume = hostpath.volumeNamed(pvName);
  if (!volume) throw new Error(`hostpath has no volume named ${pvName}`);
  return volume;
}

async function createStorageClass(name: string, volumeBindingMode: 'Immediate' | 'WaitForFirstConsumer') {
  await createHostpathStorageClass(cluster().admin, name, volumeBindingMode);
}

describe('full stack: hostpath driver, all four sidecars, scheduler, controller-manager and a hollow kubelet', () => {
  it('registration: kubelet lists hostpath in CSINode with its node ID, topology key and attach limit', async () => {
    await waitUntil('hostpath in CSINode', async () => (await hostpathEntry()) !== undefined, 60_000);
    expect(await hostpathEntry()).toMatchObject({
      nodeID: nodeName,
      topologyKeys: [HOSTPATH_TOPOLOGY_KEY],
      allocatable: { count: attachLimit },
    });
    const k8sNode = (await cluster().admin.must('GET', `/api/v1/nodes/${nodeName}`)) as V1Node;
    expect(k8sNode.metadata?.labels?.[HOSTPATH_TOPOLOGY_KEY]).toBe(nodeName);
    await registrar.waitForLog(/plugin_registered:true/, 30_000);
    expect(await httpStatus(ports.registrar, '/readyz')).toBe(200);
    expect(await httpStatus(ports.registrar, '/healthz')).toBe(200);
  });

  it('liveness: both livenessprobes answer 200 from the driver', async () => {
    for (const port of [ports.controllerProbe, ports.nodeProbe]) {
      const res = await fetch(`http://127.0.0.1:${port}/healthz`);
      expect({ status: res.status, body: await res.text() }).toEqual({ status: 200, body: 'ok' });
    }
    expect(controllerProbe.log).toMatch(/"CSI driver name" driver="hostpath.csi.k8s.io"/);
  });

  it('WaitForFirstConsumer: the claim waits for a pod', async () => {
    await createStorageClass('hostpath-wffc', 'WaitForFirstConsumer');
    await createClaim('data', 'hostpath-wffc');
    await waitUntil(
      'WaitForFirstConsumer event',
      async () => (await claimEvents('data')).some((e) => e.reason === 'WaitForFirstConsumer'),
      60_000,
    );
    const claim = await getClaim('data');
    expect(claim.status?.phase).toBe('Pending');
    expect(claim.metadata?.annotations?.[selectedNodeAnnotation]).toBeUndefined();
  });

  it('a pod using it: the scheduler picks the hollow node, csi-provisioner creates the volume there, the claim is Bound', async () => {
    const c = cluster();
    await c.admin.must('POST', `/api/v1/namespaces/${namespace}/pods`, {
      metadata: { name: 'app' },
      spec: {
        containers: [
          {
            name: 'app',
            // The hollow kubelet's runtime is fake: the image is never pulled.
            image: 'registry.k8s.io/pause:3.10',
            volumeMounts: [{ name: 'data', mountPath: '/data' }],
          },
        ],
        volumes: [{ name: 'data', persistentVolumeClaim: { claimName: 'data' } }],
      },
    });
    const claim = await waitBound('data');
    expect(claim.metadata?.annotations?.[selectedNodeAnnotation]).toBe(nodeName);
    const pvName = pvOf.data;
    expect(pvName).toBe(`pvc-${claim.metadata?.uid}`);

    const calls = createVolumeCalls(pvName);
    expect(calls).toHaveLength(1);
    expect(calls[0].accessibility_requirements?.requisite).toEqual([
      { segments: { [HOSTPATH_TOPOLOGY_KEY]: nodeName } },
    ]);
    expect(calls[0].parameters).toEqual({
      kind: 'fast',
      'csi.storage.k8s.io/pvc/name': 'data',
      'csi.storage.k8s.io/pvc/namespace': namespace,
      'csi.storage.k8s.io/pv/name': pvName,
    });

    const pv = await getVolume(pvName);
    expect(pv?.metadata?.annotations?.['pv.kubernetes.io/provisioned-by']).toBe(HOSTPATH_DRIVER);
    expect(pv?.spec?.csi?.driver).toBe(HOSTPATH_DRIVER);
    // hostpath places every volume on its own node and says so; the PV may only be used from there.
    expect(affinityNodes(pv)).toEqual([[nodeName]]);
    const volume = hostpathVolume(pvName);
    expect(pv?.spec?.csi?.volumeHandle).toBe(volume.VolID);
    expect(volume).toMatchObject({ Kind: 'fast', VolSize: 1024 ** 3, Attached: false });
  });

  it("kube-controller-manager's VolumeAttachment for the pod's node is attached by csi-attacher", async () => {
    const c = cluster();
    const pvName = pvOf.data;
    await waitUntil(
      'VolumeAttachment attached',
      async () => (await attachmentsOf(pvName))[0]?.status?.attached === true,
      60_000,
    );
    const [va] = await attachmentsOf(pvName);
    expect(va.spec).toMatchObject({ attacher: HOSTPATH_DRIVER, nodeName });
    // Who wrote the spec: the attach/detach controller (csi-attacher only adds metadata and status).
    const specOwner = va.metadata?.managedFields?.find((f) => 'f:spec' in ((f.fieldsV1 ?? {}) as object));
    expect(specOwner?.manager).toBe('kube-controller-manager');
    expect(va.metadata?.finalizers).toEqual([attacherFinalizer]);
    // The node ID csi-attacher read from the CSINode that registration wrote.
    expect(va.metadata?.annotations?.['csi.alpha.kubernetes.io/node-id']).toBe(nodeName);
    const publish = attacher.log.split('\n').find((l) => /GRPC call.*ControllerPublishVolume/.test(l)) ?? '';
    expect(publish).toContain(`\\"node_id\\":\\"${nodeName}\\"`);
    const volume = hostpathVolume(pvName);
    expect(volume.Attached).toBe(true);
    // The attach/detach controller saw the attach succeed and reports it in the Node's status.
    await waitUntil(
      'volume in the Node status volumesAttached',
      async () => {
        const k8sNode = (await c.admin.must('GET', `/api/v1/nodes/${nodeName}`)) as V1Node;
        return (k8sNode.status?.volumesAttached ?? []).some(
          (v) => v.name === `kubernetes.io/csi/${HOSTPATH_DRIVER}^${volume.VolID}`,
        );
      },
      60_000,
    );
    expect((await getPod('app'))?.spec?.nodeName).toBe(nodeName);
  });

  it('the kubelet stages and publishes the volume on hostpath, and the pod runs with it mounted', async () => {
    const pvName = pvOf.data;
    await waitUntil('pod Running', async () => (await getPod('app'))?.status?.phase === 'Running', 60_000);
    const volume = hostpathVolume(pvName);
    expect(volume.Staged ?? []).toHaveLength(1);
    expect(volume.Published ?? []).toHaveLength(1);
    // The publish target is in the pod's volume dir under the kubelet root, and hostpath bind-mounted it there.
    const [target] = volume.Published ?? [];
    expect(target.startsWith(node.rootDir)).toBe(true);
    expect(target).toContain(`/volumes/kubernetes.io~csi/${pvName}/mount`);
    expect(mountsUnder(node.rootDir)).toContain(target);
  });

  it('a driver restart: csi-provisioner and csi-attacher exit 1 and are restarted, the node side stays, state survives', async () => {
    const pvName = pvOf.data;
    await hostpath.process.kill();
    // Upstream-style: a lost driver connection ends the controller sidecars, so a restart re-reads capabilities.
    for (const p of [provisioner, attacher]) {
      expect(await p.waitForExit(30_000)).toBe(1);
      expect(p.log).toContain('Lost connection to CSI driver, exiting');
    }
    // The probes report the driver down without exiting; the registrar has nothing to do with the driver now.
    expect(await httpStatus(ports.controllerProbe, '/healthz')).toBe(500);
    expect(await httpStatus(ports.nodeProbe, '/healthz')).toBe(500);
    expect([controllerProbe.running, nodeProbe.running, registrar.running]).toEqual([true, true, true]);

    // Same state dir: the restarted driver knows its volumes and that this one is attached.
    await hostpath.start();
    // As a supervisor (kubelet restarting the containers) would.
    provisioner = startProvisioner();
    attacher = startAttacher();
    await waitForWorkers(provisioner, attacher);
    await waitUntil(
      'both livenessprobes 200 again',
      async () =>
        (await httpStatus(ports.controllerProbe, '/healthz')) === 200 &&
        (await httpStatus(ports.nodeProbe, '/healthz')) === 200,
      30_000,
    );
    const volume = hostpathVolume(pvName);
    expect(await hostpath.listVolumeIds()).toEqual([volume.VolID]);
    expect(volume).toMatchObject({ Attached: true });
    expect((await attachmentsOf(pvName))[0]?.status?.attached).toBe(true);
    expect(await hostpathEntry()).toMatchObject({ nodeID: nodeName });
    expect(await httpStatus(ports.registrar, '/healthz')).toBe(200);
  });

  it('an Immediate claim is provisioned without a pod, in the topology of the one node running the driver', async () => {
    await createStorageClass('hostpath-immediate', 'Immediate');
    await createClaim('direct', 'hostpath-immediate');
    const claim = await waitBound('direct');
    expect(claim.metadata?.annotations?.[selectedNodeAnnotation]).toBeUndefined();
    const pvName = pvOf.direct;
    const [call] = createVolumeCalls(pvName);
    // Aggregated from the nodes whose CSINode lists the driver: only the hollow node.
    expect(call.accessibility_requirements?.requisite).toEqual([{ segments: { [HOSTPATH_TOPOLOGY_KEY]: nodeName } }]);
    expect(affinityNodes(await getVolume(pvName))).toEqual([[nodeName]]);
    expect(hostpathVolume(pvName)).toMatchObject({ Kind: 'fast', Attached: false });
    // Nothing uses it: no VolumeAttachment.
    expect(await attachmentsOf(pvName)).toEqual([]);
  });

  it('a clone of it: CreateVolume names the source volume and hostpath copies its content', async () => {
    const source = hostpathVolume(pvOf.direct);
    // Written straight into the source volume's directory, as a pod using it would have.
    writeFileSync(join(source.VolPath, 'hello.txt'), 'written before the clone\n');
    await createClaim('direct-clone', 'hostpath-immediate', 'direct');
    await waitBound('direct-clone');
    const pvName = pvOf['direct-clone'];
    const [call] = createVolumeCalls(pvName);
    expect(call.volume_content_source).toEqual({ volume: { volume_id: source.VolID } });
    const clone = hostpathVolume(pvName);
    expect(clone.VolID).not.toBe(source.VolID);
    expect(readFileSync(join(clone.VolPath, 'hello.txt'), 'utf8')).toBe('written before the clone\n');
    expect(affinityNodes(await getVolume(pvName))).toEqual([[nodeName]]);
    // As upstream, the source claim keeps the cloning-protection finalizer until it is deleted itself (see the
    // last step, where it goes).
    expect((await getClaim('direct')).metadata?.finalizers).toContain(cloningFinalizer);
  });

  it('the pod is deleted: the kubelet unpublishes and unstages, csi-attacher detaches, the VolumeAttachment is gone', async () => {
    const c = cluster();
    const pvName = pvOf.data;
    await c.admin.must('DELETE', `/api/v1/namespaces/${namespace}/pods/app`);
    await waitUntil('pod gone', async () => (await getPod('app')) === undefined, 60_000);
    await waitUntil('VolumeAttachment gone', async () => (await attachmentsOf(pvName)).length === 0, 60_000);
    expect(attacher.log).toMatch(/GRPC call.*ControllerUnpublishVolume/);
    // The kubelet unpublished and unstaged it before the detach.
    expect(hostpathVolume(pvName)).toMatchObject({ Attached: false });
    expect(hostpathVolume(pvName).Published ?? []).toEqual([]);
    expect(hostpathVolume(pvName).Staged ?? []).toEqual([]);
    expect(mountsUnder(node.rootDir)).toEqual([]);
  });

  it('the claim is deleted: csi-provisioner deletes the volume on hostpath and the PV', async () => {
    const c = cluster();
    const pvName = pvOf.data;
    const volume = hostpathVolume(pvName);
    await c.admin.must('DELETE', `/api/v1/namespaces/${namespace}/persistentvolumeclaims/data`);
    // Gone also means csi-attacher released the PV: it keeps its finalizer there until the PV is deleted.
    await waitUntil('PV gone', async () => (await getVolume(pvName)) === undefined, 60_000);
    expect(provisioner.log).toMatch(/GRPC call.*DeleteVolume/);
    expect(hostpath.volumeNamed(pvName)).toBeUndefined();
    expect(await hostpath.listVolumeIds()).not.toContain(volume.VolID);
  });

  it('the clone and its source are deleted: hostpath holds no volume and nothing is left mounted', async () => {
    const c = cluster();
    for (const name of ['direct-clone', 'direct']) {
      await c.admin.must('DELETE', `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${name}`);
    }
    for (const name of ['direct-clone', 'direct']) {
      // The source claim goes too: csi-provisioner lifts its cloning protection once no pending clone needs it.
      await waitUntil(
        `claim ${name} gone`,
        async () =>
          (await cluster().admin.send('GET', `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${name}`))
            .status === 404,
        60_000,
      );
      await waitUntil(`PV of ${name} gone`, async () => (await getVolume(pvOf[name])) === undefined, 60_000);
    }
    expect(hostpath.volumes()).toEqual([]);
    expect(await hostpath.listVolumeIds()).toEqual([]);
    expect(mountsUnder(node.rootDir)).toEqual([]);
    expect(mountsUnder(hostpath.stateDir)).toEqual([]);
  });
});
