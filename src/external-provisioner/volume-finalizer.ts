import type { V1PersistentVolume } from '@kubernetes/client-node';
import type { JsonPatchOperation } from '../shared/kube/patch.js';
import { FINALIZER_PV } from './keys.js';
import { hasVolumeFinalizer, isBeingDeleted } from './volume-ownership.js';

// JSON patches for the provisioner's PV finalizer. Every patch tests the UID
// (a PV re-created under the same name is another volume) and the finalizer
// list it was computed from, so a concurrent change by another controller
// fails the patch (and the sync retries on a fresh cache) instead of being
// overwritten: upstream's strategic merge patch of the whole list has no such
// precondition.

function preconditions(pv: V1PersistentVolume): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [{ op: 'test', path: '/metadata/uid', value: pv.metadata?.uid ?? '' }];
  const finalizers = pv.metadata?.finalizers;
  if (finalizers === undefined) {
    // A missing list cannot be tested (a JSON Pointer to it fails), so the
    // resourceVersion stands in: any write since our read fails the patch.
    ops.push({ op: 'test', path: '/metadata/resourceVersion', value: pv.metadata?.resourceVersion ?? '' });
  } else {
    ops.push({ op: 'test', path: '/metadata/finalizers', value: finalizers });
  }
  return ops;
}

/** Appends the finalizer; undefined when pv already has it. */
export function addFinalizerPatch(pv: V1PersistentVolume): JsonPatchOperation[] | undefined {
  if (hasVolumeFinalizer(pv)) return undefined;
  const add: JsonPatchOperation =
    pv.metadata?.finalizers === undefined
      ? { op: 'add', path: '/metadata/finalizers', value: [FINALIZER_PV] }
      : { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER_PV };
  return [...preconditions(pv), add];
}

/** Removes every copy of the finalizer by index (highest first); undefined when pv has none. */
export function removeFinalizerPatch(pv: V1PersistentVolume): JsonPatchOperation[] | undefined {
  const finalizers = pv.metadata?.finalizers ?? [];
  const removals: JsonPatchOperation[] = [];
  for (let i = finalizers.length - 1; i >= 0; i--) {
    if (finalizers[i] === FINALIZER_PV) removals.push({ op: 'remove', path: `/metadata/finalizers/${i}` });
  }
  return removals.length === 0 ? undefined : [...preconditions(pv), ...removals];
}

/**
 * The lib's handleProtectionFinalizer: add the finalizer to a Bound PV with
 * reclaim policy Delete that is not being deleted (so deleting the PV first
 * still leads to DeleteVolume), remove it when the policy became Retain or
 * Recycle (the volume must then outlive the PV). Undefined: nothing to change.
 * A PV without spec.csi (an in-tree PV migrated to the driver) gets none: without
 * CSI translation it can never be deleted here, so the finalizer would only keep
 * a deleted PV object Terminating.
 */
export function finalizerUpkeepPatch(pv: V1PersistentVolume): JsonPatchOperation[] | undefined {
  const policy = pv.spec?.persistentVolumeReclaimPolicy;
  if (policy === 'Retain' || policy === 'Recycle') return removeFinalizerPatch(pv);
  if (policy === 'Delete' && pv.spec?.csi && !isBeingDeleted(pv) && pv.status?.phase === 'Bound') {
    return addFinalizerPatch(pv);
  }
  return undefined;
}
