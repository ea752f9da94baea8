import type {
  V1CSINode,
  V1CSIPersistentVolumeSource,
  V1PersistentVolume,
  V1PersistentVolumeSpec,
  V1VolumeAttachment,
  V1VolumeError,
} from '@kubernetes/client-node';
import type { Clock } from '../shared/clock/clock.js';
import type { SyncResult } from '../shared/controller/reconcile.js';
import type { CsiCaller } from '../shared/csi/connection.js';
import { CsiRpcError } from '../shared/csi/status.js';
import type { CacheReader } from '../shared/kube/cache.js';
import { isNotFound, statusMessage } from '../shared/kube/errors.js';
import { createMergePatch } from '../shared/kube/patch.js';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import type { AttacherKube } from './attacher-kube.js';
import { addFinalizerPatch } from './finalizer-patches.js';
import { VA_NODE_ID_ANNOTATION, attacherFinalizer } from './keys.js';
import { csiSourceOf, publishVolumeCapability } from './publish-request.js';

/** What the attacher does with the VolumeAttachments of its driver. */
export interface AttachHandler {
  /** Attaches or detaches one VolumeAttachment; throws to be retried with backoff. */
  syncAttachment(va: V1VolumeAttachment): Promise<SyncResult | void>;
  /** Drops what the handler remembers of a deleted VolumeAttachment. */
  forget?(name: string): void;
}

export interface CsiAttachHandlerOptions {
  driverName: string;
  volumes: CacheReader<V1PersistentVolume>;
  csiNodes: CacheReader<V1CSINode>;
  kube: AttacherKube;
  /**
   * The writes and reads of detaches (VolumeAttachments being deleted); default `kube`. csi-attacher gives them a
   * lane of their own on the same request budget, so a burst of detaches does not hold attaches back (upstream #761).
   */
  detachKube?: AttacherKube;
  csi: CsiCaller;
  /** PUBLISH_READONLY: without it `readonly` is always false, as the CSI spec demands. */
  supportsPublishReadOnly: boolean;
  supportsSingleNodeMultiWriter: boolean;
  defaultFsType: string;
  /** `--timeout` of each ControllerPublish/Unpublish. */
  timeoutMs: number;
  /** Whether errorCode is written into attachError (the MutableCSINodeAllocatableCount gate, GA). */
  attachErrorCodes: boolean;
  clock: Clock;
  logger: Logger;
}

/** How soon a sync skipped for a replaced cached copy looks again; the watch is usually there within milliseconds. */
const REPLACED_COPY_RECHECK_MS = 100;

/** A failed attach or detach, with the VolumeAttachment as it is now (our own patch may have changed it). */
class AttachmentStepError extends Error {
  readonly va: V1VolumeAttachment;

  constructor(va: V1VolumeAttachment, cause: unknown) {
    super(describeError(cause), { cause });
    this.name = 'AttachmentStepError';
    this.va = va;
  }
}

/**
 * The attacher for drivers with PUBLISH_UNPUBLISH_VOLUME (upstream's csiHandler): ControllerPublishVolume for a
 * VolumeAttachment without deletionTimestamp, ControllerUnpublishVolume for one being deleted, with the finalizer
 * `external-attacher/<driver>` on the VolumeAttachment and on its PersistentVolume while the volume may be attached.
 */
export class CsiAttachHandler implements AttachHandler {
  private readonly options: CsiAttachHandlerOptions;
  private readonly finalizer: string;
  private readonly logger: Logger;
  /** VolumeAttachments the reconciler found out of step: the next sync acts whatever their status says. */
  private readonly forceSync = new Set<string>();
  /**
   * Per VolumeAttachment, the resourceVersions our own writes have replaced. Our metadata patch queues the object
   * again at once (a changed object), and that sync often starts from the cached copy before the watch has brought
   * our status write: it would publish and write a second time. A copy we know is replaced is skipped; the watch
   * event of our last write queues the object again.
   */
  private readonly replaced = new Map<string, Set<string>>();

  constructor(options: CsiAttachHandlerOptions) {
    this.options = options;
    this.finalizer = attacherFinalizer(options.driverName);
    this.logger = options.logger.withName('csi-handler');
  }

  /** Makes the next sync of this VolumeAttachment call the driver again (the ListVolumes reconciler). */
  forceNextSync(name: string): void {
    this.forceSync.add(name);
  }

  async syncAttachment(va: V1VolumeAttachment): Promise<SyncResult | void> {
    const name = va.metadata?.name ?? '';
    const version = va.metadata?.resourceVersion ?? '';
    if (this.replaced.get(name)?.has(version) && !this.forceSync.has(name)) {
      this.logger.v(4).info('Cached VolumeAttachment is older than our last write, waiting for the watch', {
        volumeAttachment: name,
        resourceVersion: version,
      });
      // The watch event of an error-only write does not queue the object again (shouldEnqueueAttachmentChange).
      return { requeueAfterMs: REPLACED_COPY_RECHECK_MS };
    }
    this.replaced.delete(name);
    if (va.metadata?.deletionTimestamp) return this.syncDetach(va);
    return this.syncAttach(va);
  }

  forget(name: string): void {
    this.replaced.delete(name);
    this.forceSync.delete(name);
  }

  /** Remembers that a write replaced this version of the object. */
  private wrote(before: V1VolumeAttachment, after: V1VolumeAttachment): V1VolumeAttachment {
    const name = before.metadata?.name ?? '';
    const version = before.metadata?.resourceVersion;
    if (version !== undefined && version !== after.metadata?.resourceVersion) {
      const versions = this.replaced.get(name) ?? new Set<string>();
      versions.add(version);
      this.replaced.set(name, versions);
    }
    return after;
  }

  private async syncAttach(va: V1VolumeAttachment): Promise<void> {
    const name = va.metadata?.name ?? '';
    const forced = this.forceSync.delete(name);
    if (!forced && va.status?.attached) {
      this.logger.v(4).info('VolumeAttachment is already attached', { volumeAttachment: name });
      return;
    }
    this.logger.v(2).info('Attaching', { volumeAttachment: name });
    let attached: { va: V1VolumeAttachment; publishContext: Record<string, string> | undefined };
    try {
      attached = await this.attach(va);
    } catch (err) {
      const current = err instanceof AttachmentStepError ? err.va : va;
      const cause = err instanceof AttachmentStepError ? err.cause : err;
      await this.saveError(current, 'attachError', cause);
      throw new Error(`failed to attach: ${describeError(cause)}`, { cause });
    }
    this.logger.v(2).info('Attached', { volumeAttachment: name });
    try {
      // attachError is cleared even when the cached copy shows none: the sync may have started from a copy older
      // than the error our previous attempt wrote.
      await this.writeStatus(
        attached.va,
        { attached: true, attachmentMetadata: attached.publishContext, attachError: undefined },
        'attachError',
      );
    } catch (err) {
      // The next sync publishes again; ControllerPublishVolume is idempotent.
      throw new Error(`failed to mark as attached: ${describeError(err)}`, { cause: err });
    }
  }

  private async syncDetach(va: V1VolumeAttachment): Promise<void> {
    const name = va.metadata?.name ?? '';
    const forced = this.forceSync.delete(name);
    if (!forced && !this.hasFinalizer(va)) {
      this.logger.v(4).info('VolumeAttachment is already detached', { volumeAttachment: name });
      return;
    }
    this.logger.v(2).info('Detaching', { volumeAttachment: name });
    try {
      await this.detach(va);
    } catch (err) {
      const current = err instanceof AttachmentStepError ? err.va : va;
      const cause = err instanceof AttachmentStepError ? err.cause : err;
      await this.saveError(current, 'detachError', cause);
      throw new Error(`failed to detach: ${describeError(cause)}`, { cause });
    }
  }

  /** Everything that can fail is checked before the VolumeAttachment gets its finalizer, so it stays deletable. */
  private async attach(
    original: V1VolumeAttachment,
  ): Promise<{ va: V1VolumeAttachment; publishContext: Record<string, string> | undefined }> {
    const spec = await this.attachVolumeSpec(original);
    const source = csiSourceOf(spec);
    const readonly = this.options.supportsPublishReadOnly && source.readOnly === true;
    const capability = publishVolumeCapability(spec, this.options);
    const secrets = await this.publishSecrets(original, source);
    const nodeId = this.nodeIdFromCsiNode(original.spec.nodeName);
    const va = await this.markAttaching(original, nodeId);
    try {
      const response = await this.options.csi.call(
        'ControllerPublishVolume',
        {
          volumeId: source.volumeHandle,
          nodeId,
          volumeCapability: capability,
          readonly,
          secrets: secrets ?? {},
          volumeContext: { ...source.volumeAttributes },
        },
        { timeoutMs: this.options.timeoutMs },
      );
      // An empty publish_context is no attachmentMetadata, as Go's nil map: upstream never writes `{}` there.
      const publishContext = response.publishContext;
      return { va, publishContext: Object.keys(publishContext).length > 0 ? { ...publishContext } : undefined };
    } catch (err) {
      throw new AttachmentStepError(va, err);
    }
  }

  private async detach(va: V1VolumeAttachment): Promise<void> {
    const source = csiSourceOf(this.volumeSpec(va));
    const secrets = await this.publishSecrets(va, source);
    const nodeId = this.nodeIdForDetach(va);
    await this.options.csi.call(
      'ControllerUnpublishVolume',
      { volumeId: source.volumeHandle, nodeId, secrets: secrets ?? {} },
      { timeoutMs: this.options.timeoutMs },
    );
    this.logger.v(2).info('Detached', { volumeAttachment: va.metadata?.name });
    try {
      await this.markDetached(va);
    } catch (err) {
      // The retry calls ControllerUnpublishVolume again (idempotent), as upstream.
      throw new AttachmentStepError(va, new Error(`could not mark as detached: ${describeError(err)}`));
    }
  }

  /** The volume of an attach: a PV being deleted is refused, and the PV gets the finalizer first. */
  private async attachVolumeSpec(va: V1VolumeAttachment): Promise<V1PersistentVolumeSpec> {
    const pvName = va.spec.source.persistentVolumeName;
    if (pvName === undefined) return this.volumeSpec(va);
    if (va.spec.source.inlineVolumeSpec) {
      throw new Error('both InlineCSIVolumeSource and PersistentVolumeName specified in VA source');
    }
    const pv = this.volume(pvName);
    if (pv.metadata?.deletionTimestamp) throw new Error(`PersistentVolume "${pvName}" is marked for deletion`);
    if (!(pv.metadata?.finalizers ?? []).includes(this.finalizer)) {
      try {
        await this.options.kube.jsonPatchVolume(pvName, addFinalizerPatch(pv.metadata?.finalizers, this.finalizer));
      } catch (err) {
        throw new Error(`could not add PersistentVolume finalizer: ${describeError(err)}`, { cause: err });
      }
    }
    return pv.spec ?? {};
  }

  /** The PV's spec or the inline spec a VolumeAttachment names, with upstream's texts for what is wrong. */
  volumeSpec(va: V1VolumeAttachment): V1PersistentVolumeSpec {
    const { persistentVolumeName, inlineVolumeSpec } = va.spec.source;
    if (persistentVolumeName !== undefined) {
      if (inlineVolumeSpec)
        throw new Error('both InlineCSIVolumeSource and PersistentVolumeName specified in VA source');
      return this.volume(persistentVolumeName).spec ?? {};
    }
    if (inlineVolumeSpec) {
      if (!inlineVolumeSpec.csi) throw new Error('inline volume spec contains nil CSI source');
      return inlineVolumeSpec;
    }
    throw new Error('neither InlineCSIVolumeSource nor PersistentVolumeName specified in VA source');
  }

  private volume(name: string): V1PersistentVolume {
    const pv = this.options.volumes.get(name);
    // The lister's NotFound text.
    if (!pv) throw new Error(`persistentvolume "${name}" not found`);
    return pv;
  }

  /** The controller-publish secret, read live on every call; undefined without a reference. */
  private async publishSecrets(
    va: V1VolumeAttachment,
    source: V1CSIPersistentVolumeSource,
  ): Promise<Record<string, string> | undefined> {
    const ref = source.controllerPublishSecretRef;
    if (!ref) return undefined;
    try {
      return await this.kubeFor(va).getSecretData(ref.namespace ?? '', ref.name ?? '');
    } catch (err) {
      throw new Error(`failed to load secret "${ref.namespace ?? ''}/${ref.name ?? ''}": ${describeError(err)}`, {
        cause: err,
      });
    }
  }

  /** The node ID from the node's CSINode (attach reads nothing else). */
  private nodeIdFromCsiNode(nodeName: string): string {
    const csiNode = this.options.csiNodes.get(nodeName);
    if (!csiNode) throw new Error(`csinode.storage.k8s.io "${nodeName}" not found`);
    const driver = csiNode.spec.drivers.find((d) => d.name === this.options.driverName);
    if (!driver) throw new Error(`CSINode ${nodeName} does not contain driver ${this.options.driverName}`);
    return driver.nodeID;
  }

  /**
   * Detach falls back to the node ID the attach recorded on the VolumeAttachment when the CSINode is gone or has lost
   * the driver (a node shut down, upstream #299): the volume can still be unpublished.
   */
  nodeIdForDetach(va: V1VolumeAttachment): string {
    try {
      return this.nodeIdFromCsiNode(va.spec.nodeName);
    } catch (err) {
      const recorded = va.metadata?.annotations?.[VA_NODE_ID_ANNOTATION];
      if (recorded !== undefined) return recorded;
      throw err;
    }
  }

  private hasFinalizer(va: V1VolumeAttachment): boolean {
    return (va.metadata?.finalizers ?? []).includes(this.finalizer);
  }

  /** The finalizer and the node-ID annotation, in one merge patch, before the driver is called. */
  private async markAttaching(va: V1VolumeAttachment, nodeId: string): Promise<V1VolumeAttachment> {
    const finalizers = va.metadata?.finalizers ?? [];
    const annotations = va.metadata?.annotations ?? {};
    if (finalizers.includes(this.finalizer) && annotations[VA_NODE_ID_ANNOTATION] === nodeId) return va;
    const modified = structuredClone(va);
    modified.metadata = {
      ...modified.metadata,
      finalizers: finalizers.includes(this.finalizer) ? finalizers : [...finalizers, this.finalizer],
      annotations: { ...annotations, [VA_NODE_ID_ANNOTATION]: nodeId },
    };
    try {
      return this.wrote(
        va,
        await this.options.kube.patchAttachment(va.metadata?.name ?? '', createMergePatch(va, modified)),
      );
    } catch (err) {
      throw new Error(`could not save VolumeAttachment: ${describeError(err)}`, { cause: err });
    }
  }

  /**
   * Finalizer first, then `attached: false`: a VolumeAttachment that lost its finalizer is never unpublished twice
   * (upstream #587). A status patch that finds the object gone counts as done. When ours was the last finalizer of a
   * VolumeAttachment being deleted, the apiserver removes it with that patch, so no status patch follows (upstream
   * sends one, which fails with 404: one of its two writes per detach).
   */
  private async markDetached(va: V1VolumeAttachment): Promise<void> {
    const finalizers = va.metadata?.finalizers ?? [];
    const found = finalizers.includes(this.finalizer);
    if (!found && !va.status?.attached) return;
    let current = va;
    if (found) {
      const remaining = finalizers.filter((f) => f !== this.finalizer);
      const lastFinalizerOfDeleted = remaining.length === 0 && va.metadata?.deletionTimestamp !== undefined;
      const modified = structuredClone(va);
      modified.metadata = { ...modified.metadata, finalizers: remaining.length > 0 ? remaining : undefined };
      current = this.wrote(
        va,
        await this.kubeFor(va).patchAttachment(va.metadata?.name ?? '', createMergePatch(va, modified)),
      );
      if (lastFinalizerOfDeleted) return;
    }
    try {
      await this.writeStatus(
        current,
        { attached: false, detachError: undefined, attachmentMetadata: undefined },
        'detachError',
      );
    } catch (err) {
      if (!isNotFound(err)) throw err;
    }
  }

  /** Records an attach or detach failure in the status; a failure to record it is only logged. */
  private async saveError(va: V1VolumeAttachment, field: 'attachError' | 'detachError', cause: unknown): Promise<void> {
    const error: V1VolumeError = { message: describeError(cause), time: this.now() };
    if (field === 'attachError' && this.options.attachErrorCodes && cause instanceof CsiRpcError) {
      error.errorCode = cause.code;
    }
    const previous = va.status?.[field];
    // The same failure again (only the time would change) is not written: a retry costs no API write.
    if (previous && previous.message === error.message && previous.errorCode === error.errorCode) return;
    try {
      await this.writeStatus(va, { [field]: error });
    } catch (err) {
      this.logger.v(2).info(`Failed to save ${field === 'attachError' ? 'attach' : 'detach'} error`, {
        volumeAttachment: va.metadata?.name,
        err: describeError(err),
      });
    }
  }

  /**
   * A merge patch of the status subresource with what changes; nothing is sent when nothing would. `clearError` is
   * set to null in any patch that is sent, whatever the cached copy says.
   */
  private async writeStatus(
    va: V1VolumeAttachment,
    changes: Partial<NonNullable<V1VolumeAttachment['status']>>,
    clearError?: 'attachError' | 'detachError',
  ): Promise<V1VolumeAttachment> {
    const modified = structuredClone(va);
    modified.status = { attached: false, ...modified.status, ...changes };
    const patch = createMergePatch(va, modified);
    if (Object.keys(patch).length === 0) return va;
    if (clearError) patch['status'] = { ...(patch['status'] as object), [clearError]: null };
    return this.wrote(va, await this.kubeFor(va).patchAttachmentStatus(va.metadata?.name ?? '', patch));
  }

  private kubeFor(va: V1VolumeAttachment): AttacherKube {
    return va.metadata?.deletionTimestamp ? (this.options.detachKube ?? this.options.kube) : this.options.kube;
  }

  /** metav1.Time: RFC 3339 in whole seconds. */
  private now(): Date {
    return new Date(Math.floor(this.options.clock.now() / 1000) * 1000);
  }
}

/** The text upstream puts into a VolumeAttachment's error: client-go's message for API errors, else the error's. */
export function describeError(err: unknown): string {
  return statusMessage(err) ?? errorText(err);
}
