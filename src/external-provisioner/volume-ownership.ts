import type { V1PersistentVolume } from '@kubernetes/client-node';
import { ANN_BETA_STORAGE_CLASS, ANN_DYNAMICALLY_PROVISIONED, ANN_MIGRATED_TO, FINALIZER_PV } from './keys.js';

// Which PersistentVolumes the volume controller acts on, following the lib's
// isProvisionerForVolume and shouldDelete. Only the driver's own name is a
// known provisioner: in-tree plugin names (CSI migration) are not configured.

/**
 * Whether driverName is responsible for pv. Dynamically provisioned PVs are
 * ours by their provisioned-by (or migrated-to) annotation. PVs without that
 * annotation are static: upstream owns them too when spec.csi names the
 * driver, so a static PV with reclaim policy Delete gets DeleteVolume
 * (kubernetes-csi/external-provisioner#1235, #1097). Kept for drop-in parity.
 */
export function isOwnedVolume(pv: V1PersistentVolume, driverName: string): boolean {
  const annotations = pv.metadata?.annotations ?? {};
  const migratedTo = annotations[ANN_MIGRATED_TO];
  if (Object.hasOwn(annotations, ANN_DYNAMICALLY_PROVISIONED)) {
    return annotations[ANN_DYNAMICALLY_PROVISIONED] === driverName || migratedTo === driverName;
  }
  if (pv.spec?.csi) return pv.spec.csi.driver === driverName;
  return migratedTo === driverName;
}

/** Whether pv is being deleted. Cached objects are plain JSON, so the timestamp is a string when set. */
export function isBeingDeleted(pv: V1PersistentVolume): boolean {
  return Boolean(pv.metadata?.deletionTimestamp);
}

export function hasVolumeFinalizer(pv: V1PersistentVolume): boolean {
  return pv.metadata?.finalizers?.includes(FINALIZER_PV) ?? false;
}

/**
 * The lib's shouldDelete for an owned PV: Released with reclaim policy
 * Delete, and not a PV whose deletion already finished (deletionTimestamp set
 * and our finalizer gone). A PV deleted by a user before its claim still has
 * the finalizer, so it gets DeleteVolume once Released (HonorPVReclaimPolicy).
 */
export function shouldDeleteVolume(pv: V1PersistentVolume): boolean {
  if (isBeingDeleted(pv) && !hasVolumeFinalizer(pv)) return false;
  return pv.status?.phase === 'Released' && pv.spec?.persistentVolumeReclaimPolicy === 'Delete';
}

/** StorageClass name of a PV: the beta annotation wins over spec.storageClassName, as in GetPersistentVolumeClass. */
export function volumeClassName(pv: V1PersistentVolume): string {
  return pv.metadata?.annotations?.[ANN_BETA_STORAGE_CLASS] ?? pv.spec?.storageClassName ?? '';
}
