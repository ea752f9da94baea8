import type { V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import type { CacheReader } from '../shared/kube/cache.js';
import {
  ANN_ALPHA_SELECTED_NODE,
  ANN_BETA_STORAGE_PROVISIONER,
  ANN_MIGRATED_TO,
  ANN_SELECTED_NODE,
  ANN_STORAGE_PROVISIONER,
} from './keys.js';
import { claimStorageClassName } from './pv.js';

export interface ShouldProvisionOptions {
  claim: V1PersistentVolumeClaim;
  driverName: string;
  classes: CacheReader<V1StorageClass>;
  volumes: CacheReader<V1PersistentVolume>;
  /** The PV name this claim gets (`<prefix>-<uid>` or its truncated form); undefined when none can be made. */
  pvName: string | undefined;
  /** PVs created on the driver whose object is still being saved. */
  isUnsaved: (pvName: string) => boolean;
}

export type ShouldProvisionResult =
  | { provision: true; storageClass: V1StorageClass }
  /** Not ours or nothing to do: stop silently. */
  | { provision: false; reason: string }
  /** Ours, but the StorageClass cannot be used: a failure to report and retry. */
  | { provision: false; error: string };

/** The lib's `shouldProvision` plus csi-provisioner's ShouldProvision qualifier, read from the caches only. */
export function shouldProvision(options: ShouldProvisionOptions): ShouldProvisionResult {
  const { claim, driverName } = options;
  if (claim.spec?.volumeName) return { provision: false, reason: 'claim is already bound to a volume' };
  const annotations = claim.metadata?.annotations ?? {};
  const provisioner = annotations[ANN_STORAGE_PROVISIONER] ?? annotations[ANN_BETA_STORAGE_PROVISIONER];
  if (provisioner !== driverName && annotations[ANN_MIGRATED_TO] !== driverName) {
    return { provision: false, reason: 'claim is for another provisioner' };
  }
  // The library acts only on a claim the PV controller handed over with a storage-provisioner annotation.
  if (provisioner === undefined) return { provision: false, reason: 'claim has no storage-provisioner annotation' };
  const className = claimStorageClassName(claim);
  const storageClass = className ? options.classes.get(className) : undefined;
  if (!storageClass) {
    return { provision: false, error: `storageclass.storage.k8s.io "${className}" not found` };
  }
  // Only the GA annotation releases a late-binding claim, as in the library.
  if (storageClass.volumeBindingMode === 'WaitForFirstConsumer' && !annotations[ANN_SELECTED_NODE]) {
    return { provision: false, reason: 'waiting for the scheduler to select a node' };
  }
  // The real name, not upstream's hard-coded `pvc-<uid>` (lib#178).
  const { pvName } = options;
  if (pvName !== undefined && (options.volumes.get(pvName) || options.isUnsaved(pvName))) {
    return { provision: false, reason: `volume ${pvName} already exists` };
  }
  return { provision: true, storageClass };
}

/** The scheduler's choice as the library reads it: the GA key when present (even empty), else the alpha key. */
export function selectedNodeName(claim: V1PersistentVolumeClaim): string {
  const annotations = claim.metadata?.annotations ?? {};
  return annotations[ANN_SELECTED_NODE] ?? annotations[ANN_ALPHA_SELECTED_NODE] ?? '';
}
