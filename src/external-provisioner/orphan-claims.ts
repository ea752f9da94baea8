import type { V1PersistentVolume } from '@kubernetes/client-node';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import { claimKey } from './in-flight.js';
import type { InFlightOperation } from './in-flight.js';
import { buildVolume, createVolume, deleteVolume } from './provision-claim.js';
import type { ProvisionContext } from './provision-claim.js';
import { ProvisioningError, ProvisioningState } from './provisioning-errors.js';

/**
 * A claim deleted (or re-created) while its CreateVolume may still run: ask again with the same request until
 * the driver gives a final answer, then delete what it created, calling `forget` once done. Throws to be retried.
 * Under a Retain class the volume is kept, as upstream keeps it: its PV is saved with the deleted claim in
 * claimRef, so kube-controller-manager marks it Released and an administrator decides.
 */
export async function finishOrphan(options: {
  context: ProvisionContext;
  logger: Logger;
  uid: string;
  operation: InFlightOperation;
  forget: (uid: string) => void;
  save: (pv: V1PersistentVolume) => Promise<void>;
}): Promise<void> {
  const { context, uid, operation, forget } = options;
  const request = operation.prepared.request;
  const log = options.logger.withValues({ pvc: claimKey(operation.claim), uid });
  if (operation.createdVolumeId === undefined) {
    try {
      const created = await createVolume(context, { request, requestedBytes: 0n, selectedNode: '' });
      if (operation.storageClass.reclaimPolicy === 'Retain') {
        const { claim, storageClass, prepared } = operation;
        await options.save(buildVolume(context, { claim, storageClass, prepared, created }));
        log.info('Kept the volume of a claim deleted during provisioning (reclaim policy Retain)', {
          volume: created.volume.volumeId,
        });
        forget(uid);
        return;
      }
      operation.createdVolumeId = created.volume.volumeId;
    } catch (err) {
      if (err instanceof ProvisioningError && err.state !== ProvisioningState.InBackground) {
        log.v(2).info('CreateVolume of a deleted claim ended without a volume', { error: err.message });
        forget(uid);
        return;
      }
      throw new Error(`CreateVolume for deleted claim still in progress: ${errorText(err)}`, { cause: err });
    }
  }
  try {
    await deleteVolume(context, { volumeId: operation.createdVolumeId, request });
  } catch (err) {
    throw new Error(`failed to delete volume ${operation.createdVolumeId} of deleted claim: ${errorText(err)}`, {
      cause: err,
    });
  }
  log.info('Deleted the volume of a claim deleted during provisioning', { volume: operation.createdVolumeId });
  forget(uid);
}
