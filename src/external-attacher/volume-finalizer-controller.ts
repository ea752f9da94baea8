import type { V1PersistentVolume, V1VolumeAttachment } from '@kubernetes/client-node';
import type { QueueController } from '../shared/controller/controller.js';
import type { WorkQueue } from '../shared/controller/work-queue.js';
import type { CacheReader } from '../shared/kube/cache.js';
import type { Logger } from '../shared/log/logger.js';
import type { AttacherKube } from './attacher-kube.js';
import { removeFinalizerPatch } from './finalizer-patches.js';
import { attacherFinalizer } from './keys.js';

export interface VolumeFinalizerControllerOptions {
  driverName: string;
  volumes: CacheReader<V1PersistentVolume>;
  attachments: CacheReader<V1VolumeAttachment>;
  kube: AttacherKube;
  queue: WorkQueue<string>;
  /** False for the trivial handler, which never puts a finalizer on a PV: the queue then stays idle. */
  removesFinalizers: boolean;
  logger: Logger;
}

/**
 * Removes `external-attacher/<driver>` from a PersistentVolume being deleted once no VolumeAttachment names it any
 * more: the finalizer only keeps the PV readable until every detach is done.
 */
export class VolumeFinalizerController implements QueueController<string> {
  readonly queue: WorkQueue<string>;
  private readonly options: VolumeFinalizerControllerOptions;
  private readonly finalizer: string;
  private readonly logger: Logger;

  constructor(options: VolumeFinalizerControllerOptions) {
    this.options = options;
    this.queue = options.queue;
    this.finalizer = attacherFinalizer(options.driverName);
    this.logger = options.logger.withName('persistentvolumes');
  }

  /** PV add and update: only a PV being deleted that still has our finalizer needs work. */
  volumeChanged(pv: V1PersistentVolume): void {
    const name = pv.metadata?.name;
    if (name && pv.metadata?.deletionTimestamp && this.hasFinalizer(pv)) this.queue.add(name);
  }

  /** A deleted VolumeAttachment may have been the last one that kept its PV's finalizer. */
  attachmentDeleted(va: V1VolumeAttachment): void {
    const pvName = va.spec?.source?.persistentVolumeName;
    if (pvName) this.queue.add(pvName);
  }

  async sync(name: string): Promise<void> {
    if (!this.options.removesFinalizers) return;
    const pv = this.options.volumes.get(name);
    if (!pv?.metadata?.deletionTimestamp || !this.hasFinalizer(pv)) return;
    const user = this.options.attachments.list().find((va) => va.spec.source.persistentVolumeName === name);
    if (user) {
      this.logger.v(4).info('PersistentVolume still attached', { pv: name, volumeAttachment: user.metadata?.name });
      return;
    }
    await this.options.kube.jsonPatchVolume(name, removeFinalizerPatch(pv.metadata.finalizers, this.finalizer));
    this.logger.v(2).info('Removed finalizer from PersistentVolume', { pv: name });
  }

  private hasFinalizer(pv: V1PersistentVolume): boolean {
    return (pv.metadata?.finalizers ?? []).includes(this.finalizer);
  }
}
