import type { V1VolumeAttachment } from '@kubernetes/client-node';
import type { QueueController } from '../shared/controller/controller.js';
import type { SyncResult } from '../shared/controller/reconcile.js';
import type { WorkQueue } from '../shared/controller/work-queue.js';
import type { CacheReader } from '../shared/kube/cache.js';
import { objectReference } from '../shared/events/event-recorder.js';
import type { EventRecorder } from '../shared/events/event-recorder.js';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import type { AttachHandler } from './csi-attach-handler.js';

export interface VolumeAttachmentControllerOptions {
  driverName: string;
  attachments: CacheReader<V1VolumeAttachment>;
  handler: AttachHandler;
  /** VolumeAttachments to attach (upstream's only queue, `csi-attacher-va`). */
  attachQueue: WorkQueue<string>;
  /** VolumeAttachments being deleted, to detach: a queue and workers of their own (upstream #761). */
  detachQueue: WorkQueue<string>;
  /** With --volumeattachment-events: a Warning event on the VolumeAttachment for each failed attach or detach. */
  recorder?: EventRecorder;
  logger: Logger;
}

type Direction = 'attach' | 'detach';

/**
 * The VolumeAttachments of this driver, handed to the attach handler. Upstream keeps attach and detach work in one
 * queue, so a burst of detaches (a node drained, a StatefulSet scaled down) delays every new attach behind it
 * (upstream #761). Here each has its own queue and workers; a VolumeAttachment is still synced by one worker at a
 * time, and one whose direction changed while it waited moves to the other queue.
 */
export class VolumeAttachmentController {
  readonly attaching: QueueController<string>;
  readonly detaching: QueueController<string>;
  private readonly options: VolumeAttachmentControllerOptions;
  private readonly logger: Logger;
  /** Names being synced, and whether another sync was asked for meanwhile. */
  private readonly running = new Map<string, { again: boolean }>();

  constructor(options: VolumeAttachmentControllerOptions) {
    this.options = options;
    this.logger = options.logger.withName('volumeattachments');
    this.attaching = { queue: options.attachQueue, sync: (name) => this.sync(name, 'attach') };
    this.detaching = { queue: options.detachQueue, sync: (name) => this.sync(name, 'detach') };
  }

  attachmentAdded(va: V1VolumeAttachment): void {
    const name = va.metadata?.name;
    if (name) this.queueFor(va).add(name);
  }

  attachmentUpdated(old: V1VolumeAttachment, va: V1VolumeAttachment): void {
    if (shouldEnqueueAttachmentChange(old, va)) {
      this.attachmentAdded(va);
    } else {
      this.logger.v(3).info('Ignoring VolumeAttachment change', { volumeAttachment: va.metadata?.name });
    }
  }

  attachmentDeleted(va: V1VolumeAttachment): void {
    const name = va.metadata?.name;
    if (name) this.options.handler.forget?.(name);
  }

  /** Queues a VolumeAttachment by name (the reconciler), in the queue its cached state calls for. */
  enqueue(name: string): void {
    const va = this.options.attachments.get(name);
    if (va) this.queueFor(va).add(name);
  }

  private queueFor(va: V1VolumeAttachment): WorkQueue<string> {
    return directionOf(va) === 'detach' ? this.options.detachQueue : this.options.attachQueue;
  }

  private recordFailure(va: V1VolumeAttachment, direction: Direction, err: unknown): void {
    const ref = objectReference(va, 'storage.k8s.io/v1', 'VolumeAttachment');
    if (!this.options.recorder || !ref) return;
    const reason = direction === 'attach' ? FAILED_ATTACH_REASON : FAILED_DETACH_REASON;
    this.options.recorder.event(ref, 'Warning', reason, errorText(err));
  }

  private async sync(name: string, direction: Direction): Promise<SyncResult | void> {
    const va = this.options.attachments.get(name);
    if (!va) {
      this.logger.v(3).info('VolumeAttachment was deleted, ignoring', { volumeAttachment: name });
      return;
    }
    if (va.spec.attacher !== this.options.driverName) return;
    if (directionOf(va) !== direction) {
      // Deleted while it waited to be attached (or the other way round): the other workers take it.
      this.queueFor(va).add(name);
      return;
    }
    const running = this.running.get(name);
    if (running) {
      running.again = true;
      return;
    }
    const state = { again: false };
    this.running.set(name, state);
    try {
      return await this.options.handler.syncAttachment(va);
    } catch (err) {
      this.recordFailure(va, direction, err);
      throw err;
    } finally {
      this.running.delete(name);
      if (state.again) this.enqueue(name);
    }
  }
}

/** Event reasons of --volumeattachment-events (upstream #363). */
export const FAILED_ATTACH_REASON = 'FailedAttach';
export const FAILED_DETACH_REASON = 'FailedDetach';

function directionOf(va: V1VolumeAttachment): Direction {
  return va.metadata?.deletionTimestamp ? 'detach' : 'attach';
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
    v !== null && typeof v === 'object' && !Array.isArray(v)
      ? Object.fromEntries(Object.entries(v).sort(([x], [y]) => x.localeCompare(y)))
      : v,
  );
}
