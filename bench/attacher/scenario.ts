import { join } from 'node:path';
import type { AdminApi } from '../../e2e/fixture/admin-api.js';
import type { Identity, RequestCounts } from '../shared/audit.js';
import { countRequests, writesOf } from '../shared/audit.js';
import { cpuDiff, cpuMeter, endpointOf, startCluster } from '../shared/cluster.js';
import type { Attachment, EventType, Volume } from '../shared/kube.js';
import { inParallel, Watcher } from '../shared/kube.js';
import { hwmKiB, RssSampler } from '../shared/proc.js';
import { SidecarUnderTest } from '../shared/sidecar-process.js';
import type { Distribution } from '../shared/stats.js';
import { distributionS, round, sleep, waitForProgress } from '../shared/stats.js';
import type { Implementation } from './implementations.js';
import {
  ATTACHER_USER,
  attachmentBody,
  attachmentName,
  createNode,
  FINALIZER,
  MockVolumes,
  SET_LABEL,
  upstreamFlags,
  VA_PATH,
  volumeBody,
} from './setup.js';

export interface CommonOptions {
  outDir: string;
  concurrency: number;
  stallMs: number;
  timeout: string;
  workers: number;
}

export interface CellOptions extends CommonOptions {
  count: number;
  qps: number;
  burst: number;
  /** M: VolumeAttachments created while N are being detached (0 skips the detach-burst phase). */
  newDuringDetach: number;
  /** Delay of the M creates after the delete of the N (0: at the same moment). */
  newAfterMs: number;
}

/**
 * Per-VolumeAttachment timestamps in ms. Attach stages count from the phase's first create, delete stages from the
 * delete request.
 */
export interface AttachmentTimes {
  created: number;
  /** Its PV got the attacher's finalizer (first attach of a PV only). */
  pvFinalizer?: number;
  /** The VolumeAttachment got the attacher's finalizer (and the node-ID annotation, same patch). */
  vaFinalizer?: number;
  attached?: number;
  /** The VolumeAttachment is gone: ControllerUnpublishVolume done and the finalizer removed. */
  gone?: number;
}

export interface DetachBurstResult {
  /** N re-attached VolumeAttachments (their PVs already carry the finalizer) → all attached, from the first create. */
  reattachS: number;
  /** Delete of the N → the last one is gone. */
  oldGoneS: number;
  /** Delete of the N → the last of the M new ones is attached. */
  newAllAttachedS: number;
  /** Create → attached of each new one. */
  newLatencyS: Distribution;
  /** New ones attached before the last old one was gone. */
  newAttachedBeforeOldGone: number;
  newVas: Record<string, AttachmentTimes>;
}

export interface CellResult {
  name: string;
  implementation: string;
  count: number;
  qps: number;
  burst: number;
  workers: number;
  newDuringDetach: number;
  newAfterMs?: number;
  error?: string;
  apiserverVersion?: string;
  /** Attacher spawn → canary VolumeAttachment attached. */
  readyS?: number;
  createRequestsS?: number;
  allAttachedS?: number;
  attachedPerS?: number;
  latencyS?: {
    createToPvFinalizer: Distribution;
    createToVaFinalizer: Distribution;
    createToAttached: Distribution;
    deleteToGone: Distribution;
  };
  detachAllS?: number;
  /** L2 budget floors: (N × writes − burst) / qps, with upstream's writes per attach (3) and per detach (2). */
  budgetFloorS: { attachThreeWrites: number; detachTwoWrites: number };
  requests?: Partial<Record<Phase, Record<Identity<'attacher'>, RequestCounts>>>;
  writesPerVa?: { attach: { events: number; other: number }; detach: { events: number; other: number } };
  cpuS?: Partial<Record<Phase, Record<string, number>>>;
  rssMiB?: { beforeBurst: number; peakSampled: number; hwm: number };
  detachBurst?: DetachBurstResult;
  vas?: Record<string, AttachmentTimes>;
}

export type Phase = 'attach' | 'detach' | 'reattach' | 'detachBurst';

function budgetFloorS(n: number, writes: number, qps: number, burst: number): number {
  return round(Math.max(0, n * writes - burst) / qps, 1);
}

/** One set of VolumeAttachments under observation. */
class AttachmentSet {
  readonly times = new Map<string, AttachmentTimes>();
  /** VolumeAttachment name → its PV. */
  readonly pvs = new Map<string, string>();
  origin = 0;
  deleteOrigin = Number.POSITIVE_INFINITY;
  attached = 0;
  gone = 0;
  /** Every stage seen, for the stall check. */
  stages = 0;
  /** Latest attach or detach error seen per VolumeAttachment (shown when a wait fails). */
  readonly errors = new Map<string, string>();

  readonly name: string;

  constructor(name: string, pvNames: readonly string[], salt: string) {
    this.name = name;
    for (const pv of pvNames) this.pvs.set(attachmentName(pv, salt), pv);
  }

  get names(): string[] {
    return [...this.pvs.keys()];
  }

  pending(stage: 'attached' | 'gone'): string {
    const left = this.names.filter((n) => this.times.get(n)?.[stage] === undefined);
    const errors = [...this.errors.values()].slice(0, 2).join('; ');
    return `${left.length} left, e.g. PVs ${left
      .slice(0, 5)
      .map((n) => this.pvs.get(n))
      .join(', ')}${errors ? `; errors seen: ${errors}` : ''}`;
  }

  onAttachment(type: EventType, va: Attachment, at: number): void {
    const t = this.times.get(va.metadata.name);
    if (!t) return;
    if (type === 'DELETED') {
      if (t.gone === undefined) {
        t.gone = at - this.deleteOrigin;
        this.gone++;
        this.stages++;
      }
      return;
    }
    if (t.vaFinalizer === undefined && va.metadata.finalizers?.includes(FINALIZER)) {
      t.vaFinalizer = at - this.origin;
      this.stages++;
    }
    if (t.attached === undefined && va.status?.attached === true) {
      t.attached = at - this.origin;
      this.attached++;
      this.stages++;
    }
    const error = va.status?.attachError?.message ?? va.status?.detachError?.message;
    if (error) this.errors.set(va.metadata.name, error);
  }

  onVolume(vaName: string, v: Volume, at: number): void {
    const t = this.times.get(vaName);
    if (t && t.pvFinalizer === undefined && v.metadata.finalizers?.includes(FINALIZER)) {
      t.pvFinalizer = at - this.origin;
      this.stages++;
    }
  }

  /** Creates the set's VolumeAttachments, `concurrency` in flight; `created` is each create's response time. */
  async create(admin: AdminApi, concurrency: number): Promise<void> {
    this.origin = performance.now();
    for (const n of this.names) this.times.set(n, { created: Number.NaN });
    await inParallel(
      this.names,
      concurrency,
      async (n) => {
        await admin.must('POST', VA_PATH, attachmentBody(n, this.pvs.get(n) as string, this.name));
      },
      (n, at) => ((this.times.get(n) as AttachmentTimes).created = at - this.origin),
    );
  }

  /** One deletecollection of the set (the apiserver sets deletionTimestamp; the attacher detaches). */
  async deleteAll(admin: AdminApi): Promise<void> {
    this.deleteOrigin = performance.now();
    await admin.must('DELETE', `${VA_PATH}?labelSelector=${encodeURIComponent(`${SET_LABEL}=${this.name}`)}`);
  }

  lastS(stage: 'attached' | 'gone'): number {
    return round(Math.max(...this.names.map((n) => this.times.get(n)?.[stage] ?? Number.NaN)) / 1000, 3);
  }

  latencies(stage: 'pvFinalizer' | 'vaFinalizer' | 'attached'): number[] {
    return [...this.times.values()].map((t) => (t[stage] ?? Number.NaN) - t.created);
  }

  /** Rounded to 0.1 ms to keep results.json readable. */
  rounded(): Record<string, AttachmentTimes> {
    const r1 = (v: number | undefined): number | undefined => (v === undefined ? undefined : round(v, 1));
    return Object.fromEntries(
      [...this.times].map(([n, t]) => [
        this.pvs.get(n) as string,
        {
          created: round(t.created, 1),
          pvFinalizer: r1(t.pvFinalizer),
          vaFinalizer: r1(t.vaFinalizer),
          attached: r1(t.attached),
          gone: r1(t.gone),
        },
      ]),
    );
  }
}

/**
 * One cell on a fresh cluster: a burst of N VolumeAttachments → all attached; delete all → all gone; then (unless
 * M = 0) N attached again and, at the moment they are deleted, M new ones created: the new ones' attach latency under
 * a detach burst. Errors (a stall, a dead attacher) end up in `error`.
 */
export async function runCell(opts: CellOptions, impl: Implementation): Promise<CellResult> {
  const name = `n${opts.count}-qps${opts.qps}-${impl.id}`;
  const result: CellResult = {
    name,
    implementation: impl.id,
    count: opts.count,
    qps: opts.qps,
    burst: opts.burst,
    workers: opts.workers,
    newDuringDetach: opts.newDuringDetach,
    newAfterMs: opts.newAfterMs,
    budgetFloorS: {
      attachThreeWrites: budgetFloorS(opts.count, 3, opts.qps, opts.burst),
      detachTwoWrites: budgetFloorS(opts.count, 2, opts.qps, opts.burst),
    },
  };
  const log = (msg: string): void => console.log(`[${name}] ${msg}`);
  const cluster = await startCluster({ controllerManager: true });
  let attacher: SidecarUnderTest | undefined;
  let mock: MockVolumes | undefined;
  const watchers: { start(): Promise<void>; stop(): Promise<void>; error: Error | undefined }[] = [];
  let failed = false;
  try {
    const admin = cluster.admin;
    result.apiserverVersion = ((await admin.must('GET', '/version')) as { gitVersion?: string }).gitVersion;
    await createNode(cluster);
    const burstPvs = Array.from({ length: opts.count }, (_, i) => `pv-burst-${i}`);
    const newPvs = Array.from({ length: opts.newDuringDetach }, (_, i) => `pv-new-${i}`);
    const allPvs = ['pv-canary', ...burstPvs, ...newPvs];
    log(`${allPvs.length} volumes on the mock driver and their PVs`);
    mock = await MockVolumes.connect(cluster);
    const ids = await mock.create(allPvs, opts.concurrency);
    await inParallel(allPvs, opts.concurrency, async (pv) => {
      await admin.must('POST', '/api/v1/persistentvolumes', volumeBody(pv, ids.get(pv) as string));
    });

    // Observation: every VolumeAttachment's stages, from watch events.
    const canary = new AttachmentSet('canary', ['pv-canary'], '');
    const attach = new AttachmentSet('burst', burstPvs, '');
    const reattach = new AttachmentSet('reattach', burstPvs, 'again');
    const fresh = new AttachmentSet('new', newPvs, '');
    const sets = [canary, attach, reattach, fresh];
    const byVa = new Map<string, AttachmentSet>();
    for (const set of sets) for (const n of set.names) byVa.set(n, set);
    /** PV → the set whose attach of it is the current one (a PV is attached by `burst`, then by `reattach`). */
    const current = new Map<string, { set: AttachmentSet; va: string }>();
    const follow = (set: AttachmentSet): void => {
      for (const [va, pv] of set.pvs) current.set(pv, { set, va });
    };
    const endpoint = endpointOf(cluster);
    watchers.push(
      new Watcher<Attachment>(
        admin,
        endpoint,
        VA_PATH,
        (type, va, at) => byVa.get(va.metadata.name)?.onAttachment(type, va, at),
        'attacher-bench/watch',
      ),
      new Watcher<Volume>(
        admin,
        endpoint,
        '/api/v1/persistentvolumes',
        (type, pv, at) => {
          const c = current.get(pv.metadata.name);
          if (c && type !== 'DELETED') c.set.onVolume(c.va, pv, at);
        },
        'attacher-bench/watch',
      ),
    );
    for (const w of watchers) await w.start();

    const kubeconfig = await cluster.serviceAccountKubeconfig('csi-attacher.yaml');
    const flags = upstreamFlags({
      csiAddress: cluster.driverSocket,
      kubeconfig,
      qps: opts.qps,
      burst: opts.burst,
      timeout: opts.timeout,
      workers: opts.workers,
    });
    const spawned = performance.now();
    const proc = new SidecarUnderTest(
      'attacher',
      impl.command,
      flags,
      join(opts.outDir, 'logs', `${name}-attacher.log`),
    );
    attacher = proc;
    const check = (): void => {
      proc.assertRunning();
      for (const w of watchers) if (w.error) throw w.error;
    };
    const waitFor = async (
      what: string,
      set: AttachmentSet,
      stage: 'attached' | 'gone',
      maxMs: number,
      others: AttachmentSet[] = [],
    ): Promise<void> =>
      waitForProgress({
        what,
        done: () => set[stage] === set.names.length,
        progress: () => [set, ...others].reduce((sum, s) => sum + s.stages, 0),
        stallMs: opts.stallMs,
        maxMs,
        check,
        describe: () => set.pending(stage),
      });
    /** The token bucket refills (burst / qps seconds), so every phase starts from a full bucket. */
    const refill = (): Promise<void> => sleep((opts.burst / opts.qps) * 1000 + 1000);

    // Canary: the whole path works (and the informers are synced) before the clock starts.
    follow(canary);
    await canary.create(admin, 1);
    await waitForProgress({
      what: 'canary VolumeAttachment attached',
      done: () => canary.attached === 1,
      progress: () => canary.stages,
      stallMs: Math.max(opts.stallMs, 60_000),
      maxMs: 180_000,
      check,
      describe: () => canary.pending('attached'),
    });
    result.readyS = round((performance.now() - spawned) / 1000, 2);
    await canary.deleteAll(admin);
    await waitFor('canary VolumeAttachment gone', canary, 'gone', 60_000);
    await refill();

    const pid = proc.pid;
    const sampler = new RssSampler(pid);
    const rssBefore = sampler.sample();
    const cpuNow = cpuMeter(cluster, 'attacher', pid);
    const cpu0 = cpuNow();
    const wall0 = Date.now();
    log(`burst: ${opts.count} VolumeAttachments, attacher at qps ${opts.qps} / burst ${opts.burst}`);
    follow(attach);
    await attach.create(admin, opts.concurrency);
    result.createRequestsS = round((performance.now() - attach.origin) / 1000, 3);
    // The worst honest case is upstream's budget floor; twice that (plus start-up slack) is a generous cap.
    await waitFor('all attached', attach, 'attached', 2 * result.budgetFloorS.attachThreeWrites * 1000 + 120_000);
    result.allAttachedS = attach.lastS('attached');
    result.attachedPerS = round(opts.count / result.allAttachedS, 2);
    log(`all ${opts.count} attached after ${result.allAttachedS} s`);
    // Trailing writes belong to the attach phase.
    await sleep(2_000);
    const cpu1 = cpuNow();
    const wall1 = Date.now();

    await attach.deleteAll(admin);
    await waitFor(
      'all VolumeAttachments gone',
      attach,
      'gone',
      3 * result.budgetFloorS.detachTwoWrites * 1000 + 120_000,
    );
    result.detachAllS = attach.lastS('gone');
    log(`all VolumeAttachments gone after ${result.detachAllS} s`);
    await sleep(2_000);
    const cpu2 = cpuNow();
    const wall2 = Date.now();
    result.rssMiB = {
      beforeBurst: round(rssBefore / 1024, 1),
      peakSampled: round(sampler.maxKiB / 1024, 1),
      hwm: round(hwmKiB(pid) / 1024, 1),
    };
    result.cpuS = { attach: cpuDiff(cpu0, cpu1), detach: cpuDiff(cpu1, cpu2) };
    result.latencyS = {
      createToPvFinalizer: distributionS(attach.latencies('pvFinalizer')),
      createToVaFinalizer: distributionS(attach.latencies('vaFinalizer')),
      createToAttached: distributionS(attach.latencies('attached')),
      deleteToGone: distributionS([...attach.times.values()].map((t) => t.gone ?? Number.NaN)),
    };
    result.vas = attach.rounded();
    const windows: Partial<Record<Phase, { fromMs: number; toMs: number }>> = {
      attach: { fromMs: wall0, toMs: wall1 },
      detach: { fromMs: wall1, toMs: wall2 },
    };

    if (opts.newDuringDetach > 0) {
      await refill();
      const cpu2b = cpuNow();
      const wall3 = Date.now();
      log(`detach burst: ${opts.count} attached again`);
      follow(reattach);
      await reattach.create(admin, opts.concurrency);
      await waitFor(
        'all attached again',
        reattach,
        'attached',
        2 * result.budgetFloorS.attachThreeWrites * 1000 + 120_000,
      );
      await sleep(2_000);
      const cpu3 = cpuNow();
      const wall4 = Date.now();
      await refill();
      const cpu4 = cpuNow();
      const wall5 = Date.now();
      const when = opts.newAfterMs > 0 ? `${opts.newAfterMs} ms later` : 'at the same moment';
      log(`detach burst: delete ${opts.count}, create ${opts.newDuringDetach} new ${when}`);
      follow(fresh);
      const createNew = async (): Promise<void> => {
        if (opts.newAfterMs > 0) await sleep(opts.newAfterMs);
        await fresh.create(admin, opts.concurrency);
      };
      await Promise.all([reattach.deleteAll(admin), createNew()]);
      const maxMs = 3 * (result.budgetFloorS.detachTwoWrites + result.budgetFloorS.attachThreeWrites) * 1000 + 120_000;
      await waitFor('old VolumeAttachments gone during the detach burst', reattach, 'gone', maxMs, [fresh]);
      await waitFor('new VolumeAttachments attached during the detach burst', fresh, 'attached', maxMs, [reattach]);
      await sleep(2_000);
      const cpu5 = cpuNow();
      const wall6 = Date.now();
      const oldGoneMs = reattach.lastS('gone') * 1000;
      // Both sets' times on the delete's clock: `fresh.origin` is `--new-after-ms` after `reattach.deleteOrigin`.
      const shift = fresh.origin - reattach.deleteOrigin;
      result.detachBurst = {
        reattachS: reattach.lastS('attached'),
        oldGoneS: round(oldGoneMs / 1000, 3),
        newAllAttachedS: round((fresh.lastS('attached') * 1000 + shift) / 1000, 3),
        newLatencyS: distributionS(fresh.latencies('attached')),
        newAttachedBeforeOldGone: [...fresh.times.values()].filter((t) => (t.attached ?? Infinity) + shift < oldGoneMs)
          .length,
        newVas: fresh.rounded(),
      };
      log(
        `detach burst: old gone after ${result.detachBurst.oldGoneS} s, new p50 ${result.detachBurst.newLatencyS.p50} s`,
      );
      result.cpuS.reattach = cpuDiff(cpu2b, cpu3);
      result.cpuS.detachBurst = cpuDiff(cpu4, cpu5);
      windows.reattach = { fromMs: wall3, toMs: wall4 };
      windows.detachBurst = { fromMs: wall5, toMs: wall6 };
    }
    sampler.stop();

    await proc.stop();
    const auditPath = cluster.auditLogPath;
    if (!auditPath) throw new Error('cluster has no audit log');
    result.requests = countRequests(
      auditPath,
      { label: 'attacher', user: ATTACHER_USER },
      windows as Record<string, { fromMs: number; toMs: number }>,
    );
    const perVa = (c: RequestCounts | undefined): { events: number; other: number } => {
      const w = c ? writesOf(c) : { events: Number.NaN, other: Number.NaN };
      return { events: round(w.events / opts.count, 3), other: round(w.other / opts.count, 3) };
    };
    result.writesPerVa = {
      attach: perVa(result.requests.attach?.attacher),
      detach: perVa(result.requests.detach?.attacher),
    };
  } catch (err) {
    failed = true;
    result.error = err instanceof Error ? err.message : String(err);
    log(`FAILED: ${result.error}`);
  } finally {
    for (const w of watchers) await w.stop();
    await attacher?.stop();
    mock?.close();
    await cluster.stop(failed ? { keepLogsIn: join(opts.outDir, 'logs', `${name}-cluster`) } : {});
  }
  return result;
}
