import type { V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import type { VolumeContentSource } from '../gen/csi.js';
import { statusMessage } from '../shared/kube/errors.js';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import { parseQuantity, requestedStorageBytes } from './create-volume-request.js';
import type { DataSourceObject } from './data-source.js';
import { ANN_ALLOW_VOLUME_MODE_CHANGE, FINALIZER_SNAPSHOT_SOURCE_PROTECTION } from './keys.js';
import type { ProvisionerKube } from './kube-ports.js';
import type { VolumeSnapshot, VolumeSnapshotContent } from './snapshot-types.js';

export interface SnapshotSourceInput {
  kube: Pick<ProvisionerKube, 'getVolumeSnapshot' | 'getVolumeSnapshotContent'>;
  claim: V1PersistentVolumeClaim;
  storageClass: V1StorageClass;
  source: DataSourceObject;
  /** `--prevent-volume-mode-conversion`. */
  preventVolumeModeConversion: boolean;
  logger: Logger;
}

/**
 * Upstream `getSnapshotSource`: the VolumeSnapshot and its content must be a ready snapshot of this driver that
 * fits the claim. Also returns the VolumeSnapshot read, which the source-protection finalizer is added to. Throws an
 * Error with upstream's text; the caller wraps it.
 */
export async function snapshotSource(
  input: SnapshotSourceInput,
): Promise<{ contentSource: VolumeContentSource; snapshot: VolumeSnapshot }> {
  const snapshot = await readSnapshot(input);
  const content = await readBoundContent(input, snapshot);
  const name = input.source.name;
  if (snapshot.status?.readyToUse !== true) throw new Error(`snapshot ${name} is not Ready`);
  const snapshotId = content.status?.snapshotHandle;
  if (snapshotId === undefined) throw new Error(`snapshot handle ${name} is not available`);
  checkRestoreSize(input, snapshot);
  if (input.preventVolumeModeConversion) checkVolumeModeChange(input.claim, content);
  return { contentSource: { type: { $case: 'snapshot', value: { snapshotId } } }, snapshot };
}

async function readSnapshot(input: SnapshotSourceInput): Promise<VolumeSnapshot> {
  const { name, namespace } = input.source;
  let snapshot: VolumeSnapshot;
  try {
    snapshot = await input.kube.getVolumeSnapshot(namespace, name);
  } catch (err) {
    throw new Error(`error getting snapshot ${name} from api server: ${statusMessage(err) ?? errorText(err)}`, {
      cause: err,
    });
  }
  // A deleted snapshot may still finish a restore that started (and protected it) before the deletion.
  const protectedByUs = snapshot.metadata?.finalizers?.includes(FINALIZER_SNAPSHOT_SOURCE_PROTECTION) ?? false;
  if (snapshot.metadata?.deletionTimestamp && !protectedByUs) throw new Error(`snapshot ${name} is being deleted`);
  return snapshot;
}

async function readBoundContent(input: SnapshotSourceInput, snapshot: VolumeSnapshot): Promise<VolumeSnapshotContent> {
  const name = input.source.name;
  const notBound = `snapshot ${name} not bound`;
  const contentName = snapshot.status?.boundVolumeSnapshotContentName;
  if (contentName === undefined) throw new Error(notBound);
  const log = input.logger.withValues({ snapshot: `${input.source.namespace}/${name}`, content: contentName });
  let content: VolumeSnapshotContent;
  try {
    content = await input.kube.getVolumeSnapshotContent(contentName);
  } catch (err) {
    log.warn('Failed to get the VolumeSnapshotContent of a restore source', { error: errorText(err) });
    throw new Error(notBound, { cause: err });
  }
  const ref = content.spec?.volumeSnapshotRef;
  const meta = snapshot.metadata;
  if (ref?.uid !== meta?.uid || ref?.namespace !== meta?.namespace || ref?.name !== meta?.name) {
    log.warn('VolumeSnapshotContent is bound to a different snapshot');
    throw new Error(notBound);
  }
  if (content.spec?.driver !== input.storageClass.provisioner) {
    log.warn('VolumeSnapshotContent is handled by a different CSI driver than the StorageClass provisioner', {
      storageClass: input.storageClass.metadata?.name,
    });
    throw new Error(notBound);
  }
  return content;
}

/** A volume smaller than its snapshot cannot hold it; a larger one is the driver's to expand. */
function checkRestoreSize(input: SnapshotSourceInput, snapshot: VolumeSnapshot): void {
  const restoreSizeText = snapshot.status?.restoreSize;
  if (restoreSizeText === undefined) return;
  const snapshotName = snapshot.metadata?.name ?? '';
  if (input.claim.spec?.resources?.requests?.['storage'] === undefined) {
    throw new Error(
      `error getting capacity for PVC ${input.claim.metadata?.name ?? ''} when creating snapshot ${snapshotName}`,
    );
  }
  const requested = requestedStorageBytes(input.claim);
  let restoreSize: bigint;
  try {
    restoreSize = parseQuantity(restoreSizeText);
  } catch (err) {
    throw new Error(`invalid restoreSize "${restoreSizeText}" of snapshot ${snapshotName}: ${errorText(err)}`, {
      cause: err,
    });
  }
  if (requested < restoreSize) {
    throw new Error(
      `requested volume size ${requested} is less than the size ${restoreSize} for the source snapshot ${snapshotName}`,
    );
  }
  if (requested > restoreSize) {
    input.logger.warn(
      `requested volume size ${requested} is greater than the size ${restoreSize} for the source snapshot ${snapshotName}. Volume plugin needs to handle volume expansion.`,
    );
  }
}

/** Restoring into another volume mode can expose a crafted filesystem to the kernel, so it needs an opt-in. */
function checkVolumeModeChange(claim: V1PersistentVolumeClaim, content: VolumeSnapshotContent): void {
  const sourceMode = content.spec?.sourceVolumeMode;
  const wanted = claim.spec?.volumeMode;
  // Upstream compares only when both modes are set explicitly.
  if (sourceMode === undefined || wanted === undefined || sourceMode === wanted) return;
  const denied = `requested volume ${claim.metadata?.namespace ?? ''}/${claim.metadata?.name ?? ''} modifies the mode of the source volume but does not have permission to do so. `;
  const contentName = content.metadata?.name ?? '';
  const allow = content.metadata?.annotations?.[ANN_ALLOW_VOLUME_MODE_CHANGE];
  if (allow === undefined) {
    throw new Error(
      `${denied}${ANN_ALLOW_VOLUME_MODE_CHANGE} annotation is not present on snapshotcontent ${contentName}`,
    );
  }
  const allowed = parseGoBool(allow);
  if (allowed === undefined) {
    throw new Error(
      `${denied}failed to convert ${ANN_ALLOW_VOLUME_MODE_CHANGE} annotation value to boolean with error: strconv.ParseBool: parsing ${JSON.stringify(allow)}: invalid syntax`,
    );
  }
  if (!allowed)
    throw new Error(`${denied}${ANN_ALLOW_VOLUME_MODE_CHANGE} is set to false on snapshotcontent ${contentName}`);
}

/** Go's `strconv.ParseBool`: the exact spellings it accepts, undefined otherwise. */
function parseGoBool(text: string): boolean | undefined {
  if (['1', 't', 'T', 'TRUE', 'true', 'True'].includes(text)) return true;
  if (['0', 'f', 'F', 'FALSE', 'false', 'False'].includes(text)) return false;
  return undefined;
}
