import { join } from 'node:path';
import type { TestCluster } from '../../e2e/fixture/cluster.js';
import { REALISTIC_DRIVER, realisticPair } from '../../src/external-provisioner/testing/realistic-objects.js';
import { countRequests, writesOf } from '../shared/audit.js';
import { DRIVER, endpointOf, startCluster } from '../shared/cluster.js';
import type { Attachment } from '../shared/kube.js';
import { inParallel, Watcher } from '../shared/kube.js';
import { hwmKiB, rssKiB } from '../shared/proc.js';
import { SidecarUnderTest } from '../shared/sidecar-process.js';
import { round, sleep, waitForProgress } from '../shared/stats.js';
import type { Implementation } from './implementations.js';
import type { CommonOptions } from './scenario.js';
import {
  ATTACHER_USER,
  attachmentBody,
  attachmentName,
  createNode,
  FINALIZER,
  MockVolumes,
  NODE,
  NODE_ID_ANNOTATION,
  upstreamFlags,
  VA_PATH,
  volumeBody,
} from './setup.js';

export interface MemoryOptions extends CommonOptions {
  volumes: number;
  settleMs: number;
}

export interface RssSample {
  /** Spawn → canary VolumeAttachment attached: the informers' initial LIST of every cached object is done by then. */
  readyS: number;
  rssMiB: number;
  hwmMiB: number;
  /** The attacher's API writes from spawn to the sample (the canary's attach: 3). More means it reworked objects. */
  writes?: number;
}

export interface MemoryResult {
  volumes: number;
  error?: string;
  createObjectsS?: number;
  objectsPerS?: number;
  /** By implementation id. */
  results: Record<string, { empty?: RssSample; loaded?: RssSample; kibPerVolume?: number }>;
}

type Json = Record<string, unknown>;

/**
 * An attached volume as a cluster holds it: a PV shaped like a real cluster's (the bench-realistic objects of the
 * cache-transform tests: labels, annotations, finalizers, CSI attributes, node affinity, managedFields written by
 * the apiserver) with the attacher's finalizer, of a volume that exists and is published on the mock driver.
 */
function volumeOf(i: number, volumeId: string): Json & { metadata: Json & { name: string } } {
  const pv = JSON.parse(JSON.stringify(realisticPair(i).volume).replaceAll(REALISTIC_DRIVER, DRIVER)) as Json & {
    metadata: Json & { name: string; finalizers: string[] };
    spec: Json & { claimRef: Json; csi: Json };
  };
  for (const key of ['uid', 'resourceVersion', 'creationTimestamp', 'managedFields']) delete pv.metadata[key];
  delete pv.status;
  delete pv.spec.claimRef.resourceVersion;
  pv.metadata.finalizers = [...pv.metadata.finalizers, FINALIZER];
  pv.spec.csi.volumeHandle = volumeId;
  return pv;
}

/** Its VolumeAttachment as KCM creates it and the attacher leaves it: finalizer, node-ID annotation, attached. */
function attachedBody(pvName: string): Json {
  return {
    metadata: {
      name: attachmentName(pvName),
      finalizers: [FINALIZER],
      annotations: { [NODE_ID_ANNOTATION]: DRIVER },
    },
    spec: { attacher: DRIVER, nodeName: NODE, source: { persistentVolumeName: pvName } },
  };
}

/** Starts the attacher, waits until it attached a canary (so it is synced), lets it settle, samples RSS. */
async function measureOnce(
  cluster: TestCluster,
  opts: MemoryOptions,
  impl: Implementation,
  kubeconfig: string,
  label: string,
  canaryPv: string,
): Promise<RssSample> {
  const canaryVa = attachmentName(canaryPv);
  let attached = false;
  const watcher = new Watcher<Attachment>(
    cluster.admin,
    endpointOf(cluster),
    VA_PATH,
    (type, va) => {
      if (va.metadata.name === canaryVa && type !== 'DELETED' && va.status?.attached === true) attached = true;
    },
    'attacher-bench/watch',
  );
  await watcher.start();
  const flags = upstreamFlags({
    csiAddress: cluster.driverSocket,
    kubeconfig,
    qps: 5,
    burst: 10,
    timeout: opts.timeout,
    workers: opts.workers,
  });
  const wall0 = Date.now();
  const started = performance.now();
  const proc = new SidecarUnderTest(
    'attacher',
    impl.command,
    flags,
    join(opts.outDir, 'logs', `memory-${label}-${impl.id}-attacher.log`),
  );
  try {
    await cluster.admin.must('POST', VA_PATH, attachmentBody(canaryVa, canaryPv, 'canary'));
    await waitForProgress({
      what: `memory (${label}, ${impl.id}): canary VolumeAttachment attached`,
      done: () => attached,
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
    const sample: RssSample = {
      readyS,
      rssMiB: round(rssKiB(proc.pid) / 1024, 1),
      hwmMiB: round(hwmKiB(proc.pid) / 1024, 1),
    };
    // The audit log is written asynchronously; a second later it holds everything up to the sample.
    await sleep(1_000);
    const auditPath = cluster.auditLogPath;
    if (auditPath) {
      const counts = countRequests(
        auditPath,
        { label: 'attacher', user: ATTACHER_USER },
        {
          start: { fromMs: wall0, toMs: Date.now() },
        },
      );
      sample.writes = writesOf(counts.start.attacher).other + writesOf(counts.start.attacher).events;
    }
    return sample;
  } finally {
    await watcher.stop();
    await proc.stop();
  }
}

/**
 * RSS of each attacher on a cluster without VolumeAttachments and with `volumes` attached ones (and their PVs)
 * cached, all in one cluster: every implementation sees exactly the same objects. No KCM: nothing here needs it.
 */
export async function runMemory(opts: MemoryOptions, impls: Implementation[]): Promise<MemoryResult> {
  const result: MemoryResult = { volumes: opts.volumes, results: {} };
  const log = (msg: string): void => console.log(`[memory-${opts.volumes}] ${msg}`);
  const cluster = await startCluster({ controllerManager: false });
  let mock: MockVolumes | undefined;
  let failed = false;
  try {
    const admin = cluster.admin;
    await createNode(cluster);
    const kubeconfig = await cluster.serviceAccountKubeconfig('csi-attacher.yaml');
    mock = await MockVolumes.connect(cluster);
    const canaries = impls.flatMap((impl) => [`canary-empty-${impl.id}`, `canary-loaded-${impl.id}`]);
    const canaryIds = await mock.create(canaries, opts.concurrency);
    for (const pv of canaries)
      await admin.must('POST', '/api/v1/persistentvolumes', volumeBody(pv, canaryIds.get(pv) as string));

    for (const impl of impls) {
      log(`${impl.id}: attacher on a cluster without VolumeAttachments`);
      const empty = await measureOnce(cluster, opts, impl, kubeconfig, 'empty', `canary-empty-${impl.id}`);
      result.results[impl.id] = { empty };
      log(`${impl.id} empty: ${JSON.stringify(empty)}`);
    }

    log(`${opts.volumes} volumes created and published on the mock driver`);
    const indexes = Array.from({ length: opts.volumes }, (_, i) => i);
    const names = indexes.map((i) => realisticPair(i).volume.metadata?.name as string);
    const ids = await mock.create(names, opts.concurrency);
    const publishContext = await mock.publish([...ids.values()], opts.concurrency);
    log(`creating ${opts.volumes} PVs + ${opts.volumes} attached VolumeAttachments`);
    const started = performance.now();
    await inParallel(indexes, opts.concurrency, async (i) => {
      const pv = volumeOf(i, ids.get(names[i]) as string);
      await admin.must('POST', '/api/v1/persistentvolumes', pv);
      const va = attachedBody(pv.metadata.name);
      const vaName = (va.metadata as { name: string }).name;
      await admin.must('POST', VA_PATH, va);
      await admin.must(
        'PATCH',
        `${VA_PATH}/${vaName}/status`,
        { status: { attached: true, attachmentMetadata: publishContext } },
        'application/merge-patch+json',
      );
    });
    const createMs = performance.now() - started;
    result.createObjectsS = round(createMs / 1000, 1);
    result.objectsPerS = round((2 * opts.volumes) / (createMs / 1000), 0);

    for (const impl of impls) {
      log(`${impl.id}: attacher with the objects present`);
      const loaded = await measureOnce(cluster, opts, impl, kubeconfig, 'loaded', `canary-loaded-${impl.id}`);
      const r = result.results[impl.id];
      r.loaded = loaded;
      if (r.empty) r.kibPerVolume = round(((loaded.rssMiB - r.empty.rssMiB) * 1024) / opts.volumes, 2);
      log(`${impl.id} loaded: ${JSON.stringify(loaded)}`);
    }
  } catch (err) {
    failed = true;
    result.error = err instanceof Error ? err.message : String(err);
    log(`FAILED: ${result.error}`);
  } finally {
    mock?.close();
    await cluster.stop(failed ? { keepLogsIn: join(opts.outDir, 'logs', `memory-${opts.volumes}-cluster`) } : {});
  }
  return result;
}
