import type { JsonPatchOperation } from '../shared/kube/patch.js';

// JSON patches adding or removing one finalizer on a claim or a VolumeSnapshot,
// in the style of volume-finalizer.ts: every patch tests the UID (an object
// re-created under the same name is another object) and the finalizer list it
// was computed from, so a concurrent change by another controller fails the
// patch and the sync retries on a fresh cache. Upstream updates the whole
// object instead, which a concurrent write turns into a Conflict.

interface WithFinalizers {
  metadata?: { uid?: string; resourceVersion?: string; finalizers?: string[] };
}

export function hasFinalizer(obj: WithFinalizers, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

function preconditions(obj: WithFinalizers): JsonPatchOperation[] {
  const ops: JsonPatchOperation[] = [{ op: 'test', path: '/metadata/uid', value: obj.metadata?.uid ?? '' }];
  const finalizers = obj.metadata?.finalizers;
  if (finalizers === undefined) {
    // A missing list cannot be tested (its JSON Pointer fails to resolve), so
    // the resourceVersion stands in: any write since our read fails the patch.
    ops.push({ op: 'test', path: '/metadata/resourceVersion', value: obj.metadata?.resourceVersion ?? '' });
  } else {
    ops.push({ op: 'test', path: '/metadata/finalizers', value: finalizers });
  }
  return ops;
}

/** Appends finalizer; undefined when obj already has it. */
export function addFinalizerPatch(obj: WithFinalizers, finalizer: string): JsonPatchOperation[] | undefined {
  if (hasFinalizer(obj, finalizer)) return undefined;
  const add: JsonPatchOperation =
    obj.metadata?.finalizers === undefined
      ? { op: 'add', path: '/metadata/finalizers', value: [finalizer] }
      : { op: 'add', path: '/metadata/finalizers/-', value: finalizer };
  return [...preconditions(obj), add];
}

/** Removes every copy of finalizer by index, highest first so earlier indexes stay valid; undefined when absent. */
export function removeFinalizerPatch(obj: WithFinalizers, finalizer: string): JsonPatchOperation[] | undefined {
  const finalizers = obj.metadata?.finalizers ?? [];
  const removals: JsonPatchOperation[] = [];
  for (let i = finalizers.length - 1; i >= 0; i--) {
    if (finalizers[i] === finalizer) removals.push({ op: 'remove', path: `/metadata/finalizers/${i}` });
  }
  return removals.length === 0 ? undefined : [...preconditions(obj), ...removals];
}
