import type {
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1PersistentVolumeClaimStatus,
  V1StorageClass,
} from '@kubernetes/client-node';
import type { VolumeContentSource } from '../gen/csi.js';
import type { CacheReader } from '../shared/kube/cache.js';
import type { Logger } from '../shared/log/logger.js';
import { requestedStorageBytes } from './create-volume-request.js';
import type { DataSourceObject } from './data-source.js';

/** Upstream hides why the source volume is unusable behind one message and logs the reason. */
const NOT_BOUND_OR_INVALID = 'claim in dataSource not bound or invalid';

export interface CloneSourceInput {
  claim: V1PersistentVolumeClaim;
  storageClass: V1StorageClass;
  source: DataSourceObject;
  claims: CacheReader<V1PersistentVolumeClaim>;
  volumes: CacheReader<V1PersistentVolume>;
  logger: Logger;
}

/**
 * Upstream `getPVCSource`: the source claim and its volume must be usable for a clone of the claim. Throws an Error
 * with upstream's text; the caller wraps it. Reads only the caches: a stale entry fails this attempt, and the
 * claim is retried once the informer catches up.
 */
export function cloneContentSource(input: CloneSourceInput): VolumeContentSource {
  const sourceClaim = checkSourceClaim(input);
  const sourceVolume = checkSourceVolume(input, sourceClaim);
  checkVolumeModes(input.claim, sourceVolume);
  const volumeId = sourceVolume.spec?.csi?.volumeHandle ?? '';
  return { type: { $case: 'volume', value: { volumeId } } };
}

function checkSourceClaim(input: CloneSourceInput): V1PersistentVolumeClaim {
  const { claim, source } = input;
  const sourceClaim = input.claims.get(`${source.namespace}/${source.name}`);
  if (!sourceClaim) {
    const notFound = `persistentvolumeclaim "${source.name}" not found`;
    throw new Error(
      `error getting PVC ${source.name} (namespace "${claim.metadata?.namespace ?? ''}") from api server: ${notFound}`,
    );
  }
  if (sourceClaim.status?.phase !== 'Bound') {
    throw new Error(
      `the PVC DataSource ${source.name} must have a status of Bound.  Got ${formatClaimStatus(sourceClaim.status)}`,
    );
  }
  if (sourceClaim.metadata?.deletionTimestamp) {
    throw new Error(`the PVC DataSource ${source.name} is currently being deleted`);
  }
  // Only an unset class is refused: different classes of the same driver may clone from each other.
  if (sourceClaim.spec?.storageClassName == null) {
    throw new Error(`the source PVC (${sourceClaim.metadata?.name ?? ''}) storageclass cannot be empty`);
  }
  if (claim.spec?.storageClassName == null) {
    throw new Error(`the requested PVC (${claim.metadata?.name ?? ''}) storageclass cannot be empty`);
  }
  const requested = requestedStorageBytes(claim);
  const sourceSize = requestedStorageBytes(sourceClaim);
  if (requested < sourceSize) {
    throw new Error(
      `error, new PVC request must be greater than or equal in size to the specified PVC data source, requested ${requested} but source is ${sourceSize}`,
    );
  }
  if (!sourceClaim.spec.volumeName) {
    throw new Error(`volume name is empty in source PVC ${sourceClaim.metadata?.name ?? ''}`);
  }
  return sourceClaim;
}

function checkSourceVolume(input: CloneSourceInput, sourceClaim: V1PersistentVolumeClaim): V1PersistentVolume {
  const volumeName = sourceClaim.spec?.volumeName ?? '';
  const log = input.logger.withValues({
    pv: volumeName,
    pvc: `${sourceClaim.metadata?.namespace ?? ''}/${sourceClaim.metadata?.name ?? ''}`,
  });
  const refuse = (reason: string): never => {
    log.warn(`Source volume of a clone is unusable: ${reason}`);
    throw new Error(NOT_BOUND_OR_INVALID);
  };
  const volume = input.volumes.get(volumeName);
  if (!volume) return refuse('the volume does not exist');
  const csi = volume.spec?.csi;
  if (!csi) return refuse('not a CSI volume');
  if (csi.driver !== input.storageClass.provisioner) {
    return refuse(`handled by driver ${csi.driver}, not by the StorageClass provisioner`);
  }
  const ref = volume.spec?.claimRef;
  if (!ref) return refuse('the volume is not bound');
  const meta = sourceClaim.metadata;
  if (ref.uid !== meta?.uid || ref.namespace !== meta?.namespace || ref.name !== meta?.name) {
    return refuse('the volume is bound to a different claim');
  }
  if (volume.status?.phase !== 'Bound') return refuse(`volume phase is "${volume.status?.phase ?? ''}", not "Bound"`);
  return volume;
}

/** Unset means Filesystem on both sides. */
function checkVolumeModes(claim: V1PersistentVolumeClaim, sourceVolume: V1PersistentVolume): void {
  const wanted = claim.spec?.volumeMode ?? 'Filesystem';
  const source = sourceVolume.spec?.volumeMode ?? 'Filesystem';
  if (wanted === 'Filesystem' && source !== 'Filesystem') {
    throw new Error(
      'the source PVC and destination PVCs must have the same volume mode for cloning.  Source is Block, but new PVC requested Filesystem',
    );
  }
  if (wanted === 'Block' && source !== 'Block') {
    throw new Error(
      'the source PVC and destination PVCs must have the same volume mode for cloning.  Source is Filesystem, but new PVC requested Block',
    );
  }
}

/**
 * Go's `%v` of a PersistentVolumeClaimStatus (fields in declaration order, nil pointers as `<nil>`). Exact for the
 * usual Pending/Lost claims; quantities and conditions are rendered readably rather than as Go structs.
 */
function formatClaimStatus(status: V1PersistentVolumeClaimStatus | undefined): string {
  const map = (entries: Record<string, string> | undefined): string =>
    `map[${Object.entries(entries ?? {})
      .sort(([a], [b]) => a.localeCompare(b))
      .map(([k, v]) => `${k}:${v}`)
      .join(' ')}]`;
  const conditions = (status?.conditions ?? []).map((c) => `{${c.type} ${c.status}}`).join(' ');
  const vac = status?.currentVolumeAttributesClassName;
  const fields = [
    status?.phase ?? '',
    `[${(status?.accessModes ?? []).join(' ')}]`,
    map(status?.capacity),
    `[${conditions}]`,
    map(status?.allocatedResources),
    map(status?.allocatedResourceStatuses),
    vac === undefined ? '<nil>' : vac,
    status?.modifyVolumeStatus ? `{${status.modifyVolumeStatus.status}}` : '<nil>',
  ];
  return `{${fields.join(' ')}}`;
}
