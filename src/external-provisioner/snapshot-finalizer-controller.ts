import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { Clock } from '../shared/clock/clock.js';
import { sleep } from '../shared/clock/clock.js';
import { runController } from '../shared/controller/controller.js';
import type { WorkQueue } from '../shared/controller/work-queue.js';
import type { CacheReader } from '../shared/kube/cache.js';
import { objectKey, splitKey } from '../shared/kube/cache.js';
import { isForbidden, isNotFound } from '../shared/kube/errors.js';
import type { Logger } from '../shared/log/logger.js';
import { errorMessage } from '../shared/log/logger.js';
import { FINALIZER_SNAPSHOT_SOURCE_PROTECTION } from './keys.js';
import { hasFinalizer, withoutFinalizer } from './protection-finalizers.js';
import { SNAPSHOT_GROUP } from './protection-ports.js';
import type { ProtectionKube, VolumeSnapshot } from './protection-ports.js';

export interface SnapshotFinalizerControllerOptions {
  /** Cluster-wide VolumeSnapshot cache. */
  snapshots: CacheReader<VolumeSnapshot>;
  /** Cluster-wide claim cache. */
  claims: CacheReader<V1PersistentVolumeClaim>;
  kube: ProtectionKube;
  /** Snapshot keys to check; its rate limiter gives the retry backoff. */
  queue: WorkQueue<string>;
  /** `--snapshot-orphan-sweep-interval` (config snapshotOrphanSweepIntervalMs); must be > 0. */
  sweepIntervalMs: number;
  clock: Clock;
  logger: Logger;
}

/**
 * Upstream's SnapshotFinalizerController. The provisioning path puts
 * FINALIZER_SNAPSHOT_SOURCE_PROTECTION on a VolumeSnapshot before a restore
 * CreateVolume and takes it off on success; a crash, a permanent failure or a
 * claim deleted mid-provision leaves it behind and blocks the snapshot's (and
 * its namespace's) deletion. The periodic sweep queues every snapshot carrying
 * the finalizer that no provisioning claim (phase Pending or empty) refers to;
 * sync re-checks and removes it.
 */
export class SnapshotFinalizerController {
  private readonly options: SnapshotFinalizerControllerOptions;
  private readonly logger: Logger;
  readonly queue: WorkQueue<string>;

  constructor(options: SnapshotFinalizerControllerOptions) {
    if (!(options.sweepIntervalMs > 0)) {
      throw new RangeError(`sweepIntervalMs must be positive, got ${options.sweepIntervalMs}`);
    }
    this.options = options;
    this.queue = options.queue;
    this.logger = options.logger.withName('snapshot-finalizer');
  }

  /**
   * Upstream's startup RBAC check: false (sweeper must not start) when listing
   * VolumeSnapshots is forbidden; other errors are thrown.
   */
  async hasAccess(): Promise<boolean> {
    try {
      await this.options.kube.probeVolumeSnapshotList();
      return true;
    } catch (err) {
      if (!isForbidden(err)) throw err;
      this.logger.info('Not allowed to list VolumeSnapshots, orphaned finalizers will not be removed', {
        err: errorMessage(err),
      });
      return false;
    }
  }

  /**
   * Optional informer handler for snapshot adds and updates, removing an
   * orphaned finalizer without waiting for the next sweep (not upstream).
   */
  enqueueSnapshot(snapshot: VolumeSnapshot): void {
    if (hasFinalizer(snapshot, FINALIZER_SNAPSHOT_SOURCE_PROTECTION)) this.options.queue.add(objectKey(snapshot));
  }

  /**
   * Optional informer handler for claim updates and deletes (not upstream): a
   * restore that finished, failed or was deleted may have freed its snapshot.
   */
  enqueueClaim(claim: V1PersistentVolumeClaim): void {
    const key = snapshotKeyOf(claim);
    if (key !== undefined) this.options.queue.add(key);
  }

  /** Queues every snapshot holding the finalizer that no provisioning claim refers to. */
  sweep(): void {
    const needed = pendingSnapshotKeys(this.options.claims.list());
    for (const snapshot of this.options.snapshots.list()) {
      if (!hasFinalizer(snapshot, FINALIZER_SNAPSHOT_SOURCE_PROTECTION)) continue;
      const key = objectKey(snapshot);
      if (!needed.has(key)) this.options.queue.add(key);
    }
  }

  /**
   * Sweeps at once and then every sweepIntervalMs (upstream's wait.Until),
   * with `workers` sync loops, until signal aborts. Caches must have synced.
   */
  async run(options: { workers: number; signal: AbortSignal }): Promise<void> {
    const workers = runController(this, { workers: options.workers, logger: this.logger, signal: options.signal });
    await Promise.all([workers, this.sweepLoop(options.signal)]);
  }

  /** Removes the finalizer from the snapshot behind key unless a provisioning claim still needs it. */
  async sync(key: string): Promise<void> {
    const snapshot = this.options.snapshots.get(key);
    if (!snapshot || !hasFinalizer(snapshot, FINALIZER_SNAPSHOT_SOURCE_PROTECTION)) return;
    if (pendingSnapshotKeys(this.options.claims.list()).has(key)) return;
    await this.removeFinalizer(snapshot);
  }

  private async sweepLoop(signal: AbortSignal): Promise<void> {
    while (!signal.aborted) {
      this.sweep();
      await sleep(this.options.clock, this.options.sweepIntervalMs, signal);
    }
  }

  private async removeFinalizer(snapshot: VolumeSnapshot): Promise<void> {
    // An update (the RBAC grants no patch) of a copy of the cached object,
    // conditional on its resourceVersion.
    const updated = withoutFinalizer(snapshot, FINALIZER_SNAPSHOT_SOURCE_PROTECTION);
    if (!updated) return;
    const { namespace, name } = splitKey(objectKey(snapshot));
    const logger = this.logger.withValues({ snapshot: `${namespace}/${name}` });
    try {
      await this.options.kube.updateVolumeSnapshot(updated);
    } catch (err) {
      if (isNotFound(err)) return;
      if (isForbidden(err)) {
        // RBAC for VolumeSnapshots is optional: retrying cannot help, the next sweep tries again.
        logger.v(3).info('Not allowed to remove the finalizer', { err: errorMessage(err) });
        return;
      }
      throw new Error(`failed to remove finalizer from VolumeSnapshot ${namespace}/${name}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
    logger.info('Removed orphaned snapshot source protection finalizer');
  }
}

/** Keys of the snapshots referenced by claims still provisioning (phase Pending or not yet set). */
export function pendingSnapshotKeys(claims: readonly V1PersistentVolumeClaim[]): Set<string> {
  const keys = new Set<string>();
  for (const claim of claims) {
    const phase = claim.status?.phase ?? '';
    if (phase !== 'Pending' && phase !== '') continue;
    const key = snapshotKeyOf(claim);
    if (key !== undefined) keys.add(key);
  }
  return keys;
}

/**
 * The "namespace/name" of the VolumeSnapshot a claim restores from:
 * spec.dataSource first (the claim's namespace), then spec.dataSourceRef,
 * which may name another namespace. A missing apiGroup counts as the
 * snapshot group, as upstream does.
 */
export function snapshotKeyOf(claim: V1PersistentVolumeClaim): string | undefined {
  const claimNamespace = claim.metadata?.namespace ?? '';
  const source = claim.spec?.dataSource;
  if (source && isSnapshotRef(source)) return `${claimNamespace}/${source.name}`;
  const ref = claim.spec?.dataSourceRef;
  if (ref && isSnapshotRef(ref)) return `${ref.namespace || claimNamespace}/${ref.name}`;
  return undefined;
}

function isSnapshotRef(ref: { kind: string; apiGroup?: string }): boolean {
  return ref.kind === 'VolumeSnapshot' && (ref.apiGroup === undefined || ref.apiGroup === SNAPSHOT_GROUP);
}
