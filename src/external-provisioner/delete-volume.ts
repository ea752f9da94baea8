import type { V1PersistentVolume, V1StorageClass, V1VolumeAttachment } from '@kubernetes/client-node';
import type { CsiCaller } from '../shared/csi/connection.js';
import type { CacheReader } from '../shared/kube/cache.js';
import type { Logger } from '../shared/log/logger.js';
import { errorMessage } from '../shared/log/logger.js';
import { deletionSecretReference } from './deletion-secrets.js';
import { provisioningCapabilityProblem } from './driver-capabilities.js';
import type { ProvisioningCapabilities } from './driver-capabilities.js';
import type { ProvisionerKube } from './kube-ports.js';

export interface DeleteBackingVolumeOptions {
  pv: V1PersistentVolume;
  classes: CacheReader<V1StorageClass>;
  /** Any VolumeAttachment naming the PV blocks its deletion. */
  volumeAttachments: CacheReader<V1VolumeAttachment>;
  kube: Pick<ProvisionerKube, 'getSecretData'>;
  csi: CsiCaller;
  /** A driver without them gets no DeleteVolume, as upstream (its start-up does not refuse such a driver). */
  capabilities: ProvisioningCapabilities;
  timeoutMs: number;
  logger: Logger;
}

/**
 * upstream's csiProvisioner.Delete: checks the PV and the driver's capabilities, refuses while any
 * VolumeAttachment still names it, reads the deletion secret and calls
 * DeleteVolume under the operation timeout. Every failure is thrown with a
 * message fit for the VolumeFailedDelete event (never a secret's value).
 *
 * The attach guard runs before the secret is read (upstream reads first), so
 * a volume waiting for detach costs no Secret GET per retry.
 */
export async function deleteBackingVolume(options: DeleteBackingVolumeOptions): Promise<void> {
  const { pv, logger } = options;
  const name = pv.metadata?.name ?? '';
  const volumeHandle = pv.spec?.csi?.volumeHandle;
  if (!volumeHandle) {
    throw new Error(`invalid CSI PV: persistentvolume ${name} has no spec.csi.volumeHandle`);
  }
  const capabilityProblem = provisioningCapabilityProblem(options.capabilities);
  if (capabilityProblem) throw new Error(capabilityProblem);
  const attachment = options.volumeAttachments.list().find((va) => va.spec?.source?.persistentVolumeName === name);
  if (attachment) {
    throw new Error(`persistentvolume ${name} is still attached to node ${attachment.spec?.nodeName ?? ''}`);
  }

  const secretRef = deletionSecretReference({
    pv,
    classes: options.classes,
    warn: (message) => logger.warn(message, { pv: name }),
  });
  let secrets: Record<string, string> = {};
  let secretProblem: string | undefined;
  if (secretRef) {
    try {
      secrets = await options.kube.getSecretData(secretRef.namespace, secretRef.name);
    } catch (err) {
      // As upstream: the secret may be gone with its namespace; the driver may not need it.
      secretProblem = `deletion secret "${secretRef.namespace}/${secretRef.name}" could not be read: ${(err as Error).message}`;
      logger.error(err, 'Failed to get credentials, deleting the volume without secrets', {
        pv: name,
        secret: `${secretRef.namespace}/${secretRef.name}`,
      });
    }
  }

  try {
    await options.csi.call('DeleteVolume', { volumeId: volumeHandle, secrets }, { timeoutMs: options.timeoutMs });
  } catch (err) {
    // Upstream returns the driver's error as is; naming the unreadable secret makes a credentials failure actionable.
    if (secretProblem === undefined) throw err;
    throw new Error(`${errorMessage(err)} (${secretProblem})`, { cause: err });
  }
}
