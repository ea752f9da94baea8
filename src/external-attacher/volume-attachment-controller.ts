import type { V1VolumeAttachment } from '@kubernetes/client-node';
import type { QueueController } from '../shared/controller/controller.js';
import type { WorkQueue } from '../shared/controller/work-queue.js';
import type { CacheReader } from '../shared/kube/cache.js';
import type { Logger } from '../shared/log/logger.js';
import type { AttachHandler } from './csi-attach-handler.js';

export interface VolumeAttachmentControllerOptions {
  driverName: string;
  attachments: CacheReader<V1VolumeAttachment>;
  handler: AttachHandler;
  queue: WorkQueue<string>;
  logger: Logger;
}

/** The VolumeAttachments of this driver, one at a time per name, handed to the attach handler. */
export class VolumeAttachmentController implements QueueController<string> {
  readonly queue: WorkQueue<string>;
  private readonly options: VolumeAttachmentControllerOptions;
  private readonly logger: Logger;

  constructor(options: VolumeAttachmentControllerOptions) {
    this.options = options;
    this.queue = options.queue;
    this.logger = options.logger.withName('volumeattachments');
  }

  attachmentAdded(va: V1VolumeAttachment): void {
    const name = va.metadata?.name;
    if (name) this.queue.add(name);
  }

  attachmentUpdated(old: V1VolumeAttachment, va: V1VolumeAttachment): void {
    if (shouldEnqueueAttachmentChange(old, va)) {
      this.attachmentAdded(va);
    } else {
      this.logger.v(3).info('Ignoring VolumeAttachment change', { volumeAttachment: va.metadata?.name });
    }
  }

  async sync(name: string): Promise<void> {
    const va = this.options.attachments.get(name);
    if (!va) {
      this.logger.v(3).info('VolumeAttachment was deleted, ignoring', { volumeAttachment: name });
      return;
    }
    if (va.spec.attacher !== this.options.driverName) return;
    await this.options.handler.syncAttachment(va);
  }
}

/**
 * Upstream's shouldEnqueueVAChange: a change that only writes an attach or detach error (ours, after a failure) must
 * not queue the VolumeAttachment again, or the error write would reset the backoff. A resync (same resourceVersion)
 * and any other change do.
 */
export function shouldEnqueueAttachmentChange(old: V1VolumeAttachment, va: V1VolumeAttachment): boolean {
  if (old.metadata?.resourceVersion === va.metadata?.resourceVersion) return true;
  const errors = (x: V1VolumeAttachment) => x.status?.attachError ?? x.status?.detachError;
  if (errors(old) === undefined && errors(va) === undefined) return true;
  const sanitized = structuredClone(va);
  sanitized.metadata = {
    ...sanitized.metadata,
    resourceVersion: old.metadata?.resourceVersion,
    managedFields: old.metadata?.managedFields,
  };
  sanitized.status = { ...sanitized.status, attached: va.status?.attached ?? false };
  sanitized.status.attachError = old.status?.attachError;
  sanitized.status.detachError = old.status?.detachError;
  return canonical(withStatus(old)) !== canonical(withStatus(sanitized));
}

/** Go's zero-valued status struct: a missing status equals `attached: false`. */
function withStatus(va: V1VolumeAttachment): V1VolumeAttachment {
  return { ...va, status: { ...va.status, attached: va.status?.attached ?? false } };
}

/** JSON with sorted keys and without undefined members, so equal objects compare equal. */
function canonical(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) =>
    v !== null && typeof v === 'object' && !Array.isArray(v) && !(v instanceof Date)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x.localeCompare(y)))
      : v,
  );
}
