// `npm start`: the embedded control plane (etcd, kube-apiserver, kube-controller-manager, kube-scheduler), a hollow
// kubelet node, the upstream hostpath CSI driver and all four sidecars of this project, wired as in
// e2e/sidecars/full-stack.test.ts (e2e/fixture/full-stack.ts), then a demo StorageClass, claim and pod. Prints each step
// as it happens and stays up until SIGINT/SIGTERM, which tear everything down.
// Flags: --exit-when-ready tears down and exits 0 as soon as every step is printed (used by e2e/demo/start.test.ts).
// The npm script builds dist/ and the Go test binaries first; this entry only checks they are there.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { V1CSINode, V1PersistentVolumeClaim, V1VolumeAttachment } from '@kubernetes/client-node';
import { freePort } from '../../src/shared/testing/sidecar-process.js';
import { repoPath } from '../fixture/binaries.js';
import type { HollowKubelet } from '../fixture/cluster.js';
import { TestCluster } from '../fixture/cluster.js';
import {
  attacherArgs,
  createHostpathCsiDriver,
  createHostpathStorageClass,
  hostpathArgs,
  livenessprobeArgs,
  provisionerArgs,
  registrarArgs,
} from '../fixture/full-stack.js';
import { HOSTPATH_DRIVER, HostpathPlugin, unmountAllUnder } from '../fixture/hostpath.js';
import { ManagedProcess, waitUntil } from '../fixture/managed-process.js';

const exitWhenReady = process.argv.includes('--exit-when-ready');
const nodeName = 'demo-node';
const namespace = 'demo';
const storageClass = 'hostpath-wffc';
const claimName = 'demo-data';
const podName = 'demo-app';

const t0 = performance.now();
function step(message: string): void {
  const time = new Date().toISOString().slice(11, 23);
  const elapsed = ((performance.now() - t0) / 1000).toFixed(1).padStart(5);
  console.log(`[${time} +${elapsed}s] ${message}`);
}

type SidecarName = 'csi-provisioner' | 'csi-attacher' | 'livenessprobe' | 'csi-node-driver-registrar';
const sidecarNames: SidecarName[] = ['csi-provisioner', 'csi-attacher', 'livenessprobe', 'csi-node-driver-registrar'];
for (const name of sidecarNames) {
  if (!existsSync(repoPath('dist', `${name}.mjs`))) {
    console.error(`dist/${name}.mjs is missing: run "npm run build" (npm start does it first)`);
    process.exit(1);
  }
}

let cluster: TestCluster | undefined;
/** In flight while the control plane starts: a signal then waits for it, to stop what it started. */
let clusterStarting: Promise<TestCluster> | undefined;
let node: HollowKubelet | undefined;
let hostpath: HostpathPlugin | undefined;
const sidecars: { label: string; process: ManagedProcess; url?: string }[] = [];
let stopping: Promise<void> | undefined;

/** Stops everything this run started (sidecars, driver, then the cluster) and removes its temp dirs. */
function teardown(): Promise<void> {
  stopping ??= (async () => {
    if (!cluster && clusterStarting) cluster = await clusterStarting.catch(() => undefined);
    for (const s of [...sidecars].reverse()) await s.process.stop();
    await hostpath?.process.stop();
    // No kubelet here publishes (see e2e/fixture/full-stack.ts), but never recurse through a bind mount into a volume.
    if (node) unmountAllUnder(node.rootDir);
    if (hostpath) unmountAllUnder(hostpath.stateDir);
    await cluster?.stop();
  })();
  return stopping;
}

for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.on(sig, () => {
    if (stopping) return;
    step(`${sig}: stopping everything…`);
    void teardown().then(
      () => {
        step('stopped; temp dir removed');
        process.exit(0);
      },
      (err: unknown) => {
        console.error(err);
        process.exit(1);
      },
    );
  });
}

/** Gives up quietly when a signal started the teardown meanwhile (its handler exits the process). */
function checkNotStopping(): void {
  if (stopping) throw new Error('stopping');
}

function sidecar(label: string, bundle: SidecarName, args: string[], url?: string): ManagedProcess {
  const c = cluster as TestCluster;
  const file = label.replace(/[^a-z0-9-]+/g, '-').replace(/-+$/, '');
  const process_ = new ManagedProcess({
    name: label,
    command: process.execPath,
    args: [repoPath('dist', `${bundle}.mjs`), ...args],
    logFile: join(c.dir, 'logs', `${file}.log`),
    // An exported KUBECONFIG would win over --kubeconfig in csi-provisioner.
    env: { ...process.env, KUBECONFIG: undefined },
  });
  sidecars.push({ label, process: process_, url });
  process_.start();
  return process_;
}

async function waitForLog(p: ManagedProcess, pattern: RegExp, timeoutMs: number): Promise<void> {
  await waitUntil(
    `${p.name}: ${pattern}`,
    () => {
      if (!p.running) throw new Error(`${p.name} exited:\n${p.log().slice(-2000)}`);
      return pattern.test(p.log());
    },
    timeoutMs,
  );
  if (!pattern.test(p.log())) throw new Error(`${p.name} exited:\n${p.log().slice(-2000)}`);
}

async function httpStatus(url: string): Promise<number> {
  try {
    return (await fetch(url)).status;
  } catch {
    return 0;
  }
}

async function main(): Promise<void> {
  step('starting etcd, kube-apiserver, kube-controller-manager, kube-scheduler…');
  clusterStarting = TestCluster.start({ controllerManager: true, scheduler: true });
  const c = await clusterStarting;
  cluster = c;
  checkNotStopping();
  const ms = c.startedInMs;
  step(
    `control plane up at ${c.server} (etcd ${ms.etcd} ms, kube-apiserver ${ms['kube-apiserver']} ms, ` +
      `kube-controller-manager ${ms['kube-controller-manager']} ms, kube-scheduler ${ms['kube-scheduler']} ms)`,
  );
  await c.admin.must('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  await createHostpathCsiDriver(c.admin);
  step(`CSIDriver ${HOSTPATH_DRIVER} applied from manifests/examples/csidriver-hostpath.yaml`);
  const kubeconfigs = {
    provisioner: await c.serviceAccountKubeconfig('csi-provisioner.yaml'),
    attacher: await c.serviceAccountKubeconfig('csi-attacher.yaml'),
  };

  node = await c.startHollowKubelet(nodeName, { program: 'hollownode' });
  checkNotStopping();
  step(`hollow kubelet node ${nodeName} Ready`);

  const hp = new HostpathPlugin({
    dir: join(c.dir, 'hostpath'),
    logFile: join(c.dir, 'logs', 'hostpathplugin.log'),
    nodeId: nodeName,
    args: hostpathArgs({ attachLimit: 4 }),
  });
  hostpath = hp;
  await hp.start();
  checkNotStopping();
  step(`hostpath driver listening on ${hp.socket}`);

  const ports = {
    provisioner: await freePort(),
    attacher: await freePort(),
    controllerProbe: await freePort(),
    registrar: await freePort(),
    nodeProbe: await freePort(),
  };
  const url = (port: number): string => `http://127.0.0.1:${port}`;
  const socket = hp.socket;
  const provisioner = sidecar(
    'csi-provisioner',
    'csi-provisioner',
    provisionerArgs({ socket, kubeconfig: kubeconfigs.provisioner, httpPort: ports.provisioner }),
    `${url(ports.provisioner)}/metrics`,
  );
  const attacher = sidecar(
    'csi-attacher',
    'csi-attacher',
    attacherArgs({ socket, kubeconfig: kubeconfigs.attacher, httpPort: ports.attacher }),
    `${url(ports.attacher)}/metrics`,
  );
  sidecar(
    'livenessprobe (controller)',
    'livenessprobe',
    livenessprobeArgs({ socket, httpPort: ports.controllerProbe }),
    `${url(ports.controllerProbe)}/healthz ${url(ports.controllerProbe)}/metrics`,
  );
  sidecar(
    'csi-node-driver-registrar',
    'csi-node-driver-registrar',
    registrarArgs({ socket, pluginRegistrationDir: node.pluginRegistrationDir, httpPort: ports.registrar }),
    `${url(ports.registrar)}/healthz ${url(ports.registrar)}/readyz ${url(ports.registrar)}/metrics`,
  );
  sidecar(
    'livenessprobe (node)',
    'livenessprobe',
    livenessprobeArgs({ socket, httpPort: ports.nodeProbe }),
    `${url(ports.nodeProbe)}/healthz ${url(ports.nodeProbe)}/metrics`,
  );
  await Promise.all([provisioner, attacher].map((p) => waitForLog(p, /Caches synced, starting workers/, 60_000)));
  checkNotStopping();
  step(
    'sidecars started: csi-provisioner, csi-attacher, livenessprobe (controller side); ' +
      'csi-node-driver-registrar, livenessprobe (node side)',
  );

  await waitUntil(
    'hostpath in CSINode',
    async () => {
      const res = await c.admin.send('GET', `/apis/storage.k8s.io/v1/csinodes/${nodeName}`);
      return res.status === 200 && ((res.body as V1CSINode).spec.drivers ?? []).some((d) => d.name === HOSTPATH_DRIVER);
    },
    60_000,
  );
  const csiNode = (await c.admin.must('GET', `/apis/storage.k8s.io/v1/csinodes/${nodeName}`)) as V1CSINode;
  const entry = csiNode.spec.drivers.find((d) => d.name === HOSTPATH_DRIVER);
  step(
    `node registered: CSINode ${nodeName} lists ${HOSTPATH_DRIVER} (node ID ${entry?.nodeID}, ` +
      `topology ${(entry?.topologyKeys ?? []).join(',')}, attach limit ${entry?.allocatable?.count})`,
  );

  await createHostpathStorageClass(c.admin, storageClass, 'WaitForFirstConsumer');
  await c.admin.must('POST', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`, {
    metadata: { name: claimName },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
      storageClassName: storageClass,
    },
  });
  await c.admin.must('POST', `/api/v1/namespaces/${namespace}/pods`, {
    metadata: { name: podName },
    spec: {
      // The hollow kubelet's runtime is fake: the image is never pulled.
      containers: [
        { name: 'app', image: 'registry.k8s.io/pause:3.10', volumeMounts: [{ name: 'data', mountPath: '/data' }] },
      ],
      volumes: [{ name: 'data', persistentVolumeClaim: { claimName } }],
    },
  });
  step(
    `applied StorageClass ${storageClass} (WaitForFirstConsumer), claim ${namespace}/${claimName} (1Gi), ` +
      `pod ${namespace}/${podName}`,
  );

  const getClaim = async (): Promise<V1PersistentVolumeClaim> =>
    (await c.admin.must(
      'GET',
      `/api/v1/namespaces/${namespace}/persistentvolumeclaims/${claimName}`,
    )) as V1PersistentVolumeClaim;
  let pvName = '';
  await waitUntil(
    'claim provisioned',
    async () => {
      const list = (await c.admin.must('GET', '/api/v1/persistentvolumes')) as {
        items: { metadata: { name: string }; spec: { claimRef?: { name?: string; namespace?: string } } }[];
      };
      const pv = list.items.find((v) => v.spec.claimRef?.name === claimName && v.spec.claimRef.namespace === namespace);
      pvName = pv?.metadata.name ?? '';
      return pvName !== '';
    },
    120_000,
  );
  step(`claim provisioned: PV ${pvName} (volume ${hp.volumeNamed(pvName)?.VolID ?? '?'} on hostpath)`);
  await waitUntil('claim Bound', async () => (await getClaim()).status?.phase === 'Bound', 60_000);
  const selected = (await getClaim()).metadata?.annotations?.['volume.kubernetes.io/selected-node'];
  step(`claim ${namespace}/${claimName} Bound to ${pvName} (selected node ${selected})`);

  let va: V1VolumeAttachment | undefined;
  await waitUntil(
    'VolumeAttachment attached',
    async () => {
      const list = (await c.admin.must('GET', '/apis/storage.k8s.io/v1/volumeattachments')) as {
        items: V1VolumeAttachment[];
      };
      va = list.items.find((v) => v.spec.source.persistentVolumeName === pvName);
      return va?.status?.attached === true;
    },
    120_000,
  );
  step(`VolumeAttachment ${va?.metadata?.name} attached (${pvName} on ${va?.spec.nodeName})`);

  const probes: [string, string][] = [
    ['livenessprobe (controller)', `${url(ports.controllerProbe)}/healthz`],
    ['livenessprobe (node)', `${url(ports.nodeProbe)}/healthz`],
    ['csi-node-driver-registrar', `${url(ports.registrar)}/healthz`],
  ];
  await waitUntil(
    'probes healthy',
    async () => (await Promise.all(probes.map(([, u]) => httpStatus(u)))).every((s) => s === 200),
    60_000,
  );
  step(`probes healthy: ${probes.map(([name]) => `${name} 200`).join(', ')}`);

  const pids = [
    ...[c.etcd, c.apiserver, c.controllerManager, c.scheduler, node.process, hp.process].map((p) => p?.pid),
    ...sidecars.map((s) => s.process.pid),
  ];
  const lines = [
    '',
    'Everything is up.',
    `  admin kubeconfig: ${c.adminKubeconfigPath}`,
    `    export KUBECONFIG=${c.adminKubeconfigPath}`,
    `    kubectl get csinode,pv,volumeattachments; kubectl -n ${namespace} get pvc,pods`,
    `  temp dir: ${c.dir} (hollow kubelet root: ${node.rootDir})`,
    '  logs:',
    ...[
      c.etcd,
      c.apiserver,
      c.controllerManager,
      c.scheduler,
      node.process,
      hp.process,
      ...sidecars.map((s) => s.process),
    ]
      .filter((p) => p !== undefined)
      .map((p) => `    ${p.name.padEnd(28)} ${p.logFile}`),
    '  sidecar metrics/health:',
    ...sidecars.map((s) => `    ${s.label.padEnd(28)} ${s.url}`),
    `  pids: ${pids.join(' ')}`,
    '',
  ];
  console.log(lines.join('\n'));
  step(exitWhenReady ? 'ready (--exit-when-ready: stopping)' : 'ready; Ctrl-C (SIGINT) or SIGTERM stops everything');
}

try {
  await main();
} catch (err) {
  if (!stopping) {
    console.error(err instanceof Error ? err.message : err);
    await teardown();
    process.exit(1);
  }
}
if (!stopping) {
  if (exitWhenReady) {
    await teardown();
    step('stopped; temp dir removed');
    process.exit(0);
  }
  // Keep running until a signal arrives.
  setInterval(() => {}, 1 << 30);
}
