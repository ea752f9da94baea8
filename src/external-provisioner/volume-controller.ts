import type { V1PersistentVolume, V1StorageClass, V1VolumeAttachment } from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Clock } from '../shared/clock/clock.js';
import type { WorkQueue } from '../shared/controller/work-queue.js';
import type { CsiCaller } from '../shared/csi/connection.js';
import { objectReference } from '../shared/events/event-recorder.js';
import type { EventObject, EventRecorder } from '../shared/events/event-recorder.js';
import type { CacheReader } from '../shared/kube/cache.js';
import { isNotFound } from '../shared/kube/errors.js';
import type { JsonPatchOperation } from '../shared/kube/patch.js';
import type { Logger } from '../shared/log/logger.js';
import { errorMessage } from '../shared/log/logger.js';
import { deleteBackingVolume } from './delete-volume.js';
import type { ProvisioningCapabilities } from './driver-capabilities.js';
import { DeletionTracker } from './deletion-tracker.js';
import type { ProvisionerConfig } from './flags.js';
import { EventReason, FINALIZER_PV } from './keys.js';
import type { ProvisionerKube } from './kube-ports.js';
import { finalizerUpkeepPatch } from './volume-finalizer.js';
import { VolumeDeleteMetrics } from './volume-metrics.js';
import { hasVolumeFinalizer, isBeingDeleted, isOwnedVolume, shouldDeleteVolume } from './volume-ownership.js';

export interface VolumeControllerOptions {
  volumes: CacheReader<V1PersistentVolume>;
  classes: CacheReader<V1StorageClass>;
  /** Any VolumeAttachment naming a PV blocks its deletion (attached or not, whether or not the driver publishes). */
  volumeAttachments: CacheReader<V1VolumeAttachment>;
  kube: ProvisionerKube;
  csi: CsiCaller;
  capabilities: ProvisioningCapabilities;
  recorder: EventRecorder;
  config: Pick<ProvisionerConfig, 'operationTimeoutMs'>;
  driverName: string;
  /** The `volumes` queue; its rate limiter gives the retry backoff. */
  queue: WorkQueue<string>;
  clock: Clock;
  logger: Logger;
  /** Receives the controller_persistentvolume_delete_* metrics; none are recorded without it. */
  registry?: Registry;
}

/**
 * The lib's volume half of ProvisionController for CSI volumes: keeps the
 * PV finalizer on owned PVs and, once a PV is Released with reclaim policy
 * Delete, calls DeleteVolume, deletes the PV object and removes the finalizer.
 * Failures are thrown from sync so the queue retries with backoff.
 */
export class VolumeController {
  private readonly options: VolumeControllerOptions;
  private readonly logger: Logger;
  private readonly metrics: VolumeDeleteMetrics | undefined;
  private readonly deletions = new DeletionTracker();
  readonly queue: WorkQueue<string>;

  constructor(options: VolumeControllerOptions) {
    this.options = options;
    this.queue = options.queue;
    this.logger = options.logger.withName('volume-controller');
    this.metrics = options.registry ? new VolumeDeleteMetrics({ registry: options.registry }) : undefined;
  }

  /** Informer handler for PV adds, updates, deletes and resyncs. */
  enqueueVolume(pv: V1PersistentVolume): void {
    const name = pv.metadata?.name;
    if (name) this.options.queue.add(name);
  }

  async sync(name: string): Promise<void> {
    const pv = this.options.volumes.get(name);
    if (!pv) {
      this.deletions.forget(name);
      return;
    }
    if (!isOwnedVolume(pv, this.options.driverName)) return;
    const upkeep = finalizerUpkeepPatch(pv);
    if (upkeep) {
      // Only Bound or Retain/Recycle PVs get this patch, and neither is deleted below;
      // the patch's own watch event brings the PV back to this queue.
      await this.patchFinalizers(pv, upkeep);
      return;
    }
    if (!shouldDeleteVolume(pv)) return;
    await this.deleteVolume(pv);
  }

  private async deleteVolume(pv: V1PersistentVolume): Promise<void> {
    const className = pv.spec?.storageClassName ?? '';
    const started = this.options.clock.monotonic();
    let deleted: boolean;
    try {
      deleted = await this.deleteSteps(pv);
    } catch (err) {
      this.metrics?.failed(className);
      throw err;
    }
    // A sync that finds the deletion already finished (stale cache) did nothing to count.
    if (deleted) this.metrics?.succeeded(className, (this.options.clock.monotonic() - started) / 1000);
  }

  /**
   * DeleteVolume (at most once per PV UID), then the PV object, then our finalizer. False when an earlier
   * sync already finished all of it.
   */
  private async deleteSteps(pv: V1PersistentVolume): Promise<boolean> {
    const name = pv.metadata?.name ?? '';
    const uid = pv.metadata?.uid ?? '';
    const logger = this.logger.withValues({ pv: name });
    const stage = this.deletions.stage(name, uid);
    if (stage === 'finished') {
      logger.v(4).info('Deletion already finished, waiting for the cache to catch up');
      return false;
    }
    if (stage === undefined) {
      logger.v(4).info('Started');
      await this.deleteBacking(pv, logger);
      this.deletions.record(name, uid, 'backing-volume-deleted');
      logger.v(4).info('Volume deleted');
    } else {
      logger.v(4).info('Volume already deleted by the driver, finishing the PersistentVolume cleanup');
    }
    // A PV that is already being deleted (deleted before its claim) needs no second DELETE.
    if (!isBeingDeleted(pv)) await this.deletePersistentVolume(name, uid, logger);
    await this.removeFinalizerAfterDelete(name, uid);
    this.deletions.record(name, uid, 'finished');
    logger.v(4).info('PersistentVolume deleted succeeded');
    return true;
  }

  private async deleteBacking(pv: V1PersistentVolume, logger: Logger): Promise<void> {
    try {
      await deleteBackingVolume({
        pv,
        classes: this.options.classes,
        volumeAttachments: this.options.volumeAttachments,
        kube: this.options.kube,
        csi: this.options.csi,
        capabilities: this.options.capabilities,
        timeoutMs: this.options.config.operationTimeoutMs,
        logger,
      });
    } catch (err) {
      logger.error(err, 'Volume deletion failed');
      this.options.recorder.event(pvReference(pv), 'Warning', EventReason.VolumeFailedDelete, errorMessage(err));
      throw err;
    }
  }

  private async deletePersistentVolume(name: string, uid: string, logger: Logger): Promise<void> {
    try {
      await this.options.kube.deletePersistentVolume(name, uid);
    } catch (err) {
      if (isNotFound(err)) return;
      // The driver volume is gone (remembered above): the retry only repeats the API writes.
      logger.info('Failed to delete persistentvolume', { err: errorMessage(err) });
      throw err;
    }
  }

  /**
   * The cache may not show our DELETE yet, and KCM drops its pv-protection finalizer at about the same time, so
   * the removal must not depend on the list as cached: one index-free patch, tied to the UID.
   */
  private async removeFinalizerAfterDelete(name: string, uid: string): Promise<void> {
    const current = this.options.volumes.get(name);
    if (!current || current.metadata?.uid !== uid || !hasVolumeFinalizer(current)) return;
    try {
      await this.options.kube.removeVolumeFinalizer(name, uid, FINALIZER_PV);
    } catch (err) {
      if (isNotFound(err)) return;
      throw new Error(`failed to remove finalizer from persistentvolume ${name}: ${errorMessage(err)}`, {
        cause: err,
      });
    }
  }

  private async patchFinalizers(pv: V1PersistentVolume, ops: JsonPatchOperation[]): Promise<void> {
    const name = pv.metadata?.name ?? '';
    try {
      await this.options.kube.jsonPatchVolume(name, ops);
    } catch (err) {
      if (isNotFound(err)) return;
      throw new Error(`failed to modify finalizers on volume ${name}: ${errorMessage(err)}`, { cause: err });
    }
  }
}

/** Cached objects carry no kind or apiVersion; events need both. */
function pvReference(pv: V1PersistentVolume): EventObject {
  return objectReference(pv, 'v1', 'PersistentVolume') ?? pv;
}
