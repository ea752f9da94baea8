import type { V1VolumeAttachment } from '@kubernetes/client-node';
import { createMergePatch } from '../shared/kube/patch.js';
import type { Logger } from '../shared/log/logger.js';
import type { AttacherKube } from './attacher-kube.js';
import type { AttachHandler } from './csi-attach-handler.js';

/**
 * For drivers without PUBLISH_UNPUBLISH_VOLUME (or without a controller service): there is nothing to attach, so a
 * VolumeAttachment is marked attached with no CSI call and no finalizer, and a deleted one goes at once.
 */
export class TrivialAttachHandler implements AttachHandler {
  private readonly kube: AttacherKube;
  private readonly logger: Logger;

  constructor(options: { kube: AttacherKube; logger: Logger }) {
    this.kube = options.kube;
    this.logger = options.logger.withName('trivial-handler');
  }

  async syncAttachment(va: V1VolumeAttachment): Promise<void> {
    if (va.status?.attached) return;
    const modified = structuredClone(va);
    modified.status = { ...modified.status, attached: true };
    await this.kube.patchAttachmentStatus(va.metadata?.name ?? '', createMergePatch(va, modified));
    this.logger.v(2).info('Marked VolumeAttachment as attached', { volumeAttachment: va.metadata?.name });
  }
}
