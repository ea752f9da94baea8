import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import { claimKey } from './in-flight.js';
import type { InFlightOperation } from './in-flight.js';
import { createVolume, deleteVolume } from './provision-claim.js';
import type { ProvisionContext } from './provision-claim.js';
import { ProvisioningError, ProvisioningState } from './provisioning-errors.js';

/**
 * A claim deleted (or re-created) while its CreateVolume may still run: ask again with the same request until
 * the driver gives a final answer, then delete what it created, calling `forget` once done. Throws to be retried.
 */
export async function finishOrphan(
  context: ProvisionContext,
  logger: Logger,
  uid: string,
  operation: InFlightOperation,
  forget: (uid: string) => void,
): Promise<void> {
  const log = logger.withValues({ pvc: claimKey(operation.claim), uid });
  if (operation.createdVolumeId === undefined) {
    try {
      const created = await createVolume(context, {
        request: operation.request,
        requestedBytes: 0n,
        selectedNode: '',
      });
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
    await deleteVolume(context, { volumeId: operation.createdVolumeId, request: operation.request });
  } catch (err) {
    throw new Error(`failed to delete volume ${operation.createdVolumeId} of deleted claim: ${errorText(err)}`, {
      cause: err,
    });
  }
  log.info('Deleted the volume of a claim deleted during provisioning', { volume: operation.createdVolumeId });
  forget(uid);
}
