import { join } from 'node:path';
import type { TestCluster } from '../../e2e/fixture/cluster.js';
import { REALISTIC_DRIVER, realisticPair } from '../../src/external-provisioner/testing/realistic-objects.js';
import { DRIVER, endpointOf, startCluster } from '../shared/cluster.js';
import type { Volume } from '../shared/kube.js';
import { inParallel, Watcher } from '../shared/kube.js';
import { hwmKiB, rssKiB } from '../shared/proc.js';
import { SidecarUnderTest } from '../shared/sidecar-process.js';
import { round, sleep, waitForProgress } from '../shared/stats.js';
import { upstreamFlags } from './provisioner-flags.js';
import type { CommonOptions } from './scenario.js';
import { CLASS, createClass } from './scenario.js';

export interface MemoryOptions extends CommonOptions {
  volumes: number;
  settleMs: number;
}

interface RssSample {
  /** Spawn → canary PV created: the informers' initial LIST of every cached object is done by then. */
  readyS: number;
  rssMiB: number;
  hwmMiB: number;
}

export interface MemoryResult {
  volumes: number;
  error?: string;
  empty?: RssSample;
  loaded?: RssSample;
  createObjectsS?: number;
  objectsPerS?: number;
  kibPerVolume?: number;
}

type Json = Record<string, unknown>;

/**
 * Bound-looking PV/PVC pairs shaped like a real cluster's (bench-realistic objects of the cache-transform tests:
 * labels, annotations, finalizers, CSI attributes, node affinity), created directly so the provisioner only caches
 * them. The apiserver writes its own managedFields and uid, and status stays as created: no KCM runs here, since
 * binding 10,000 pairs would take it minutes (kubernetes/kubernetes#133352) and none of it is the provisioner's work.
 * A PVC with spec.volumeName set is never provisioned, and a PV that is not Released is never deleted.
 */
function pairBodies(i: number): { claim: Json; volume: Json } {
  const pair = JSON.parse(JSON.stringify(realisticPair(i)).replaceAll(REALISTIC_DRIVER, DRIVER)) as {
    claim: Json & { metadata: Json; spec: Json };
    volume: Json & { metadata: Json; spec: Json & { claimRef: Json } };
  };
  for (const obj of [pair.claim, pair.volume]) {
    for (const key of ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields']) delete obj.metadata[key];
    delete obj.status;
  }
  pair.claim.spec.storageClassName = CLASS;
  pair.volume.spec.storageClassName = CLASS;
  delete pair.volume.spec.claimRef.resourceVersion;
  return { claim: pair.claim, volume: pair.volume };
}

/** Starts the provisioner, waits until it provisioned a canary (so it is synced), lets it settle, samples RSS. */
async function measureOnce(
  cluster: TestCluster,
  opts: MemoryOptions,
  kubeconfig: string,
  label: string,
  canaryName: string,
): Promise<RssSample> {
  let pvSeen = false;
  const watcher = new Watcher<Volume>(cluster.admin, endpointOf(cluster), '/api/v1/persistentvolumes', (type, v) => {
    if (v.spec?.claimRef?.name === canaryName && type !== 'DELETED') pvSeen = true;
  });
  await watcher.start();
  const flags = upstreamFlags({
    csiAddress: cluster.driverSocket,
    kubeconfig,
    qps: 5,
    burst: 10,
    timeout: opts.timeout,
  });
  const started = performance.now();
  const proc = new SidecarUnderTest(
    'provisioner',
    opts.command,
    flags,
    join(opts.outDir, 'logs', `memory-${label}-provisioner.log`),
  );
  try {
    // Without KCM nobody annotates the PVC, so the canary carries the annotation KCM would add.
    await cluster.admin.must('POST', '/api/v1/namespaces/bench/persistentvolumeclaims', {
      metadata: {
        name: canaryName,
        namespace: 'bench',
        annotations: { 'volume.kubernetes.io/storage-provisioner': DRIVER },
      },
      spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } }, storageClassName: CLASS },
    });
    await waitForProgress({
      what: `memory (${label}): canary PV created`,
      done: () => pvSeen,
      progress: () => 0,
      stallMs: 300_000,
      maxMs: 300_000,
      check: () => {
        proc.assertRunning();
        if (watcher.error) throw watcher.error;
      },
    });
    const readyS = round((performance.now() - started) / 1000, 2);
    await sleep(opts.settleMs);
    proc.assertRunning();
    return { readyS, rssMiB: round(rssKiB(proc.pid) / 1024, 1), hwmMiB: round(hwmKiB(proc.pid) / 1024, 1) };
  } finally {
    await watcher.stop();
    await proc.stop();
  }
}

/** RSS of the provisioner on an empty cluster and with `volumes` PV+PVC pairs cached, in one cluster. */
export async function runMemory(opts: MemoryOptions): Promise<MemoryResult> {
  const result: MemoryResult = { volumes: opts.volumes };
  const log = (msg: string): void => console.log(`[memory-${opts.volumes}] ${msg}`);
  const cluster = await startCluster({ controllerManager: false });
  let failed = false;
  try {
    const admin = cluster.admin;
    await createClass(cluster);
    const namespaces = new Set<string>(['bench']);
    for (let i = 0; i < Math.min(opts.volumes, 50); i++)
      namespaces.add(realisticPair(i).claim.metadata?.namespace ?? '');
    for (const ns of namespaces) await admin.must('POST', '/api/v1/namespaces', { metadata: { name: ns } });
    const kubeconfig = await cluster.serviceAccountKubeconfig('csi-provisioner.yaml');

    log('provisioner on an empty cluster');
    result.empty = await measureOnce(cluster, opts, kubeconfig, 'empty', 'canary-empty');
    log(`empty: ${JSON.stringify(result.empty)}`);

    log(`creating ${opts.volumes} PV + ${opts.volumes} PVC`);
    const started = performance.now();
    const indexes = Array.from({ length: opts.volumes }, (_, i) => i);
    await inParallel(indexes, opts.concurrency, async (i) => {
      const { claim, volume } = pairBodies(i);
      const ns = (claim.metadata as { namespace: string }).namespace;
      await admin.must('POST', `/api/v1/namespaces/${ns}/persistentvolumeclaims`, claim);
      await admin.must('POST', '/api/v1/persistentvolumes', volume);
    });
    const createMs = performance.now() - started;
    result.createObjectsS = round(createMs / 1000, 1);
    result.objectsPerS = round((2 * opts.volumes) / (createMs / 1000), 0);

    log('provisioner with the objects present');
    result.loaded = await measureOnce(cluster, opts, kubeconfig, 'loaded', 'canary-loaded');
    log(`loaded: ${JSON.stringify(result.loaded)}`);
    result.kibPerVolume = round(((result.loaded.rssMiB - result.empty.rssMiB) * 1024) / opts.volumes, 2);
  } catch (err) {
    failed = true;
    result.error = err instanceof Error ? err.message : String(err);
    log(`FAILED: ${result.error}`);
  } finally {
    await cluster.stop(failed ? { keepLogsIn: join(opts.outDir, 'logs', `memory-${opts.volumes}-cluster`) } : {});
  }
  return result;
}
