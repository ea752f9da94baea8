import { join } from 'node:path';
import type { TestCluster } from '../../e2e/fixture/cluster.js';
import type { Identity, RequestCounts } from '../shared/audit.js';
import { countRequests, writesOf } from '../shared/audit.js';
import { cpuDiff, cpuMeter, DRIVER, endpointOf, startCluster } from '../shared/cluster.js';
import type { Claim, EventType, Volume } from '../shared/kube.js';
import { inParallel, Watcher } from '../shared/kube.js';
import { hwmKiB, RssSampler } from '../shared/proc.js';
import { SidecarUnderTest } from '../shared/sidecar-process.js';
import type { Distribution } from '../shared/stats.js';
import { distributionS, round, sleep, waitForProgress } from '../shared/stats.js';
import type { FloorResult } from './floor.js';
import { measureFloor } from './floor.js';
import { upstreamFlags } from './provisioner-flags.js';
export const CLASS = 'bench-immediate';
const NAMESPACE = 'bench';
/** manifests/rbac/csi-provisioner.yaml: ServiceAccount default/csi-provisioner. */
export const PROVISIONER_USER = 'system:serviceaccount:default:csi-provisioner';

export interface CommonOptions {
  command: string[];
  outDir: string;
  concurrency: number;
  stallMs: number;
  timeout: string;
}

export interface ThroughputOptions extends CommonOptions {
  count: number;
  qps: number;
  burst: number;
  floorVolumes: number;
}

/** Per-PVC timestamps in ms: create-phase ones from the first create, delete-phase ones from the delete request. */
export interface ClaimTimes {
  created: number;
  annotated?: number;
  pvCreated?: number;
  bound?: number;
  /** KCM marked the PV Released (the provisioner deletes only Released PVs). */
  pvReleased?: number;
  /** The PV got a deletionTimestamp: DeleteVolume succeeded and the provisioner sent the PV DELETE. */
  pvDeleteRequested?: number;
  /** The PV is gone: the provisioner removed its finalizer (and KCM its pv-protection one). */
  pvDeleted?: number;
}

export interface ThroughputResult {
  name: string;
  count: number;
  qps: number;
  burst: number;
  error?: string;
  /** kube-apiserver gitVersion of this cluster. */
  apiserverVersion?: string;
  /** Provisioner spawn → canary PVC Bound (informers synced, whole path works). */
  readyS?: number;
  floor?: FloorResult;
  createRequestsS?: number;
  allPvsS?: number;
  allBoundS?: number;
  boundPerS?: number;
  latencyS?: {
    createToAnnotated: Distribution;
    createToPv: Distribution;
    createToBound: Distribution;
    deleteToPvReleased: Distribution;
    deleteToPvDeleteRequested: Distribution;
    deleteToPvGone: Distribution;
  };
  deleteAllS?: number;
  /** L2 budget floors: (N × writes − burst) / qps. */
  budgetFloorS: { oneWrite: number; upstreamThreeWrites: number; upstreamDeleteTwoWrites: number };
  requests?: Record<'create' | 'delete', Record<Identity, RequestCounts>>;
  provisionerWritesPerPvc?: { create: { events: number; other: number }; delete: { events: number; other: number } };
  cpuS?: Record<'create' | 'delete', Record<string, number>>;
  provisionerRssMiB?: { beforeBurst: number; peakSampled: number; hwm: number };
  claims?: Record<string, ClaimTimes>;
}

function budgetFloorS(n: number, writes: number, qps: number, burst: number): number {
  return round(Math.max(0, n * writes - burst) / qps, 1);
}

function claimBody(name: string): object {
  return {
    metadata: { name, namespace: NAMESPACE },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Mi' } }, storageClassName: CLASS },
  };
}

export async function createClass(cluster: TestCluster): Promise<void> {
  await cluster.admin.must('POST', '/apis/storage.k8s.io/v1/storageclasses', {
    metadata: { name: CLASS },
    provisioner: DRIVER,
    reclaimPolicy: 'Delete',
    volumeBindingMode: 'Immediate',
  });
}

/**
 * One burst scenario on a fresh cluster: N PVCs created at once → all PVs created and all PVCs Bound; then all
 * PVCs deleted → all PVs gone. Errors (a stall, a dead provisioner, a duplicate PV) end up in `error`.
 */
export async function runThroughput(opts: ThroughputOptions): Promise<ThroughputResult> {
  const name = `n${opts.count}-qps${opts.qps}`;
  const result: ThroughputResult = {
    name,
    count: opts.count,
    qps: opts.qps,
    burst: opts.burst,
    budgetFloorS: {
      oneWrite: budgetFloorS(opts.count, 1, opts.qps, opts.burst),
      upstreamThreeWrites: budgetFloorS(opts.count, 3, opts.qps, opts.burst),
      upstreamDeleteTwoWrites: budgetFloorS(opts.count, 2, opts.qps, opts.burst),
    },
  };
  const log = (msg: string): void => console.log(`[${name}] ${msg}`);
  const cluster = await startCluster({ controllerManager: true });
  let provisioner: SidecarUnderTest | undefined;
  const watchers: { start(): Promise<void>; stop(): Promise<void>; error: Error | undefined }[] = [];
  let failed = false;
  try {
    const admin = cluster.admin;
    result.apiserverVersion = ((await admin.must('GET', '/version')) as { gitVersion?: string }).gitVersion;
    await admin.must('POST', '/api/v1/namespaces', { metadata: { name: NAMESPACE } });
    await createClass(cluster);
    log(`floor: ${opts.floorVolumes} PV creates, ${opts.concurrency} in flight`);
    result.floor = await measureFloor(admin, opts.floorVolumes, opts.concurrency);

    // Observation: every claim's stage times, from watch events.
    let t0 = performance.now();
    let deleteT0 = Number.POSITIVE_INFINITY;
    const claims = new Map<string, ClaimTimes>();
    const canary = { pv: false, bound: false };
    const pvsPerClaim = new Map<string, Set<string>>();
    let pvCount = 0;
    let annotatedCount = 0;
    let boundCount = 0;
    let pvGoneCount = 0;
    // Delete-phase stages seen so far: the delete stall check counts every stage, since a throttled provisioner
    // may send all PV DELETEs before the first finalizer removal lets a PV disappear.
    let deleteStages = 0;
    const onClaim = (type: EventType, c: Claim, at: number): void => {
      if (c.metadata.name === 'canary') {
        if (c.status?.phase === 'Bound') canary.bound = true;
        return;
      }
      const times = claims.get(c.metadata.name);
      if (!times || type === 'DELETED') return;
      if (times.annotated === undefined && c.metadata.annotations?.['volume.kubernetes.io/storage-provisioner']) {
        times.annotated = at - t0;
        annotatedCount++;
      }
      if (times.bound === undefined && c.status?.phase === 'Bound') {
        times.bound = at - t0;
        boundCount++;
      }
    };
    const onVolume = (type: EventType, v: Volume, at: number): void => {
      const ref = v.spec?.claimRef;
      if (ref?.namespace !== NAMESPACE || !ref.name) return;
      if (ref.name === 'canary') {
        canary.pv = type !== 'DELETED';
        return;
      }
      const times = claims.get(ref.name);
      if (!times) return;
      const pvs = pvsPerClaim.get(ref.name) ?? new Set<string>();
      pvsPerClaim.set(ref.name, pvs);
      if (at >= deleteT0) {
        if (times.pvReleased === undefined && (v.status?.phase === 'Released' || type === 'DELETED')) {
          times.pvReleased = at - deleteT0;
          deleteStages++;
        }
        if (times.pvDeleteRequested === undefined && (v.metadata.deletionTimestamp || type === 'DELETED')) {
          times.pvDeleteRequested = at - deleteT0;
          deleteStages++;
        }
        if (times.pvDeleted === undefined && type === 'DELETED') {
          times.pvDeleted = at - deleteT0;
          pvGoneCount++;
          deleteStages++;
        }
      }
      if (type === 'DELETED') return;
      pvs.add(v.metadata.name);
      if (times.pvCreated === undefined) {
        times.pvCreated = at - t0;
        pvCount++;
      }
    };
    const endpoint = endpointOf(cluster);
    watchers.push(
      new Watcher<Claim>(admin, endpoint, `/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims`, onClaim),
      new Watcher<Volume>(admin, endpoint, '/api/v1/persistentvolumes', onVolume),
    );
    for (const w of watchers) await w.start();
    const watchersOk = (): void => {
      for (const w of watchers) if (w.error) throw w.error;
    };

    const kubeconfig = await cluster.serviceAccountKubeconfig('csi-provisioner.yaml');
    const flags = upstreamFlags({
      csiAddress: cluster.driverSocket,
      kubeconfig,
      qps: opts.qps,
      burst: opts.burst,
      timeout: opts.timeout,
    });
    const spawned = performance.now();
    const proc = new SidecarUnderTest(
      'provisioner',
      opts.command,
      flags,
      join(opts.outDir, 'logs', `${name}-provisioner.log`),
    );
    provisioner = proc;
    const check = (): void => {
      proc.assertRunning();
      watchersOk();
    };

    // Canary: the whole path works (and informers are synced) before the clock starts.
    await admin.must('POST', `/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims`, claimBody('canary'));
    await waitForProgress({
      what: 'canary PVC Bound',
      done: () => canary.bound,
      progress: () => Number(canary.pv),
      stallMs: Math.max(opts.stallMs, 60_000),
      maxMs: 180_000,
      check,
    });
    result.readyS = round((performance.now() - spawned) / 1000, 2);
    await admin.must('DELETE', `/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims/canary`);
    await waitForProgress({
      what: 'canary PV deleted',
      done: () => !canary.pv,
      progress: () => 0,
      stallMs: 60_000,
      maxMs: 60_000,
      check,
    });
    // The token bucket refills (burst / qps seconds) so every setting starts from a full bucket.
    await sleep((opts.burst / opts.qps) * 1000 + 1000);

    const names = Array.from({ length: opts.count }, (_, i) => `claim-${i}`);
    const pid = proc.pid;
    const sampler = new RssSampler(pid);
    const rssBefore = sampler.sample();
    const cpuNow = cpuMeter(cluster, 'provisioner', pid);
    const cpu0 = cpuNow();
    const wall0 = Date.now();
    t0 = performance.now();
    for (const n of names) claims.set(n, { created: Number.NaN });
    log(`burst: ${opts.count} PVCs, provisioner at qps ${opts.qps} / burst ${opts.burst}`);
    await inParallel(
      names,
      opts.concurrency,
      async (n) => {
        await admin.must('POST', `/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims`, claimBody(n));
      },
      (n, at) => ((claims.get(n) as ClaimTimes).created = at - t0),
    );
    result.createRequestsS = round((performance.now() - t0) / 1000, 3);
    const pending = (what: 'pvCreated' | 'bound'): string => {
      const left = names.filter((n) => claims.get(n)?.[what] === undefined);
      return `${left.length} left, e.g. ${left.slice(0, 5).join(', ')}`;
    };
    // The worst honest case is upstream's budget floor; twice that (plus startup slack) is a generous cap.
    const maxMs = 2 * result.budgetFloorS.upstreamThreeWrites * 1000 + 120_000;
    await waitForProgress({
      what: 'all PVs created',
      done: () => pvCount === opts.count,
      progress: () => annotatedCount + pvCount + boundCount,
      stallMs: opts.stallMs,
      maxMs,
      check,
      describe: () => pending('pvCreated'),
    });
    result.allPvsS = round((performance.now() - t0) / 1000, 3);
    log(`all ${opts.count} PVs after ${result.allPvsS} s`);
    await waitForProgress({
      what: 'all PVCs Bound',
      done: () => boundCount === opts.count,
      progress: () => annotatedCount + pvCount + boundCount,
      stallMs: opts.stallMs,
      maxMs,
      check,
      describe: () => pending('bound'),
    });
    const lastBound = Math.max(...names.map((n) => claims.get(n)?.bound ?? Number.NaN));
    result.allBoundS = round(lastBound / 1000, 3);
    result.allPvsS = round(Math.max(...names.map((n) => claims.get(n)?.pvCreated ?? Number.NaN)) / 1000, 3);
    result.boundPerS = round(opts.count / (lastBound / 1000), 2);
    log(`all ${opts.count} Bound after ${result.allBoundS} s`);
    const duplicates = [...pvsPerClaim].filter(([, pvs]) => pvs.size > 1).map(([c]) => c);
    if (duplicates.length > 0)
      throw new Error(`more than one PV for ${duplicates.length} PVCs: ${duplicates.slice(0, 5).join(', ')}`);
    // Trailing writes (a success event after the PV) belong to the create phase.
    await sleep(2_000);
    const cpu1 = cpuNow();
    const wall1 = Date.now();

    deleteT0 = performance.now();
    await admin.must('DELETE', `/api/v1/namespaces/${NAMESPACE}/persistentvolumeclaims`);
    await waitForProgress({
      what: 'all PVs deleted',
      done: () => pvGoneCount === opts.count,
      progress: () => deleteStages,
      stallMs: opts.stallMs,
      maxMs: 3 * result.budgetFloorS.upstreamDeleteTwoWrites * 1000 + 120_000,
      check,
      describe: () => `${opts.count - pvGoneCount} left, ${deleteStages} delete stages seen`,
    });
    result.deleteAllS = round(Math.max(...names.map((n) => claims.get(n)?.pvDeleted ?? Number.NaN)) / 1000, 3);
    log(`all PVs deleted after ${result.deleteAllS} s`);
    await sleep(2_000);
    const cpu2 = cpuNow();
    const wall2 = Date.now();
    sampler.stop();
    result.provisionerRssMiB = {
      beforeBurst: round(rssBefore / 1024, 1),
      peakSampled: round(sampler.maxKiB / 1024, 1),
      hwm: round(hwmKiB(pid) / 1024, 1),
    };
    result.cpuS = { create: cpuDiff(cpu0, cpu1), delete: cpuDiff(cpu1, cpu2) };

    const times = names.map((n) => claims.get(n) as ClaimTimes);
    result.latencyS = {
      createToAnnotated: distributionS(times.map((t) => (t.annotated ?? Number.NaN) - t.created)),
      createToPv: distributionS(times.map((t) => (t.pvCreated ?? Number.NaN) - t.created)),
      createToBound: distributionS(times.map((t) => (t.bound ?? Number.NaN) - t.created)),
      deleteToPvReleased: distributionS(times.map((t) => t.pvReleased ?? Number.NaN)),
      deleteToPvDeleteRequested: distributionS(times.map((t) => t.pvDeleteRequested ?? Number.NaN)),
      deleteToPvGone: distributionS(times.map((t) => t.pvDeleted ?? Number.NaN)),
    };
    // Rounded to 0.1 ms to keep results.json readable.
    const r1 = (v: number | undefined): number | undefined => (v === undefined ? undefined : round(v, 1));
    result.claims = Object.fromEntries(
      times.map((t, i) => [
        names[i],
        {
          created: round(t.created, 1),
          annotated: r1(t.annotated),
          pvCreated: r1(t.pvCreated),
          bound: r1(t.bound),
          pvReleased: r1(t.pvReleased),
          pvDeleteRequested: r1(t.pvDeleteRequested),
          pvDeleted: r1(t.pvDeleted),
        },
      ]),
    );

    await proc.stop();
    const auditPath = cluster.auditLogPath;
    if (!auditPath) throw new Error('cluster has no audit log');
    const requests = countRequests(
      auditPath,
      { label: 'provisioner', user: PROVISIONER_USER },
      {
        create: { fromMs: wall0, toMs: wall1 },
        delete: { fromMs: wall1, toMs: wall2 },
      },
    );
    result.requests = { create: requests.create, delete: requests.delete };
    const perPvc = (c: RequestCounts): { events: number; other: number } => {
      const w = writesOf(c);
      return { events: round(w.events / opts.count, 3), other: round(w.other / opts.count, 3) };
    };
    result.provisionerWritesPerPvc = {
      create: perPvc(requests.create.provisioner),
      delete: perPvc(requests.delete.provisioner),
    };
  } catch (err) {
    failed = true;
    result.error = err instanceof Error ? err.message : String(err);
    log(`FAILED: ${result.error}`);
  } finally {
    for (const w of watchers) await w.stop();
    await provisioner?.stop();
    await cluster.stop(failed ? { keepLogsIn: join(opts.outDir, 'logs', `${name}-cluster`) } : {});
  }
  return result;
}
