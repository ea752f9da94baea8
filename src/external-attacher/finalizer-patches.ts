import type { JsonPatchOperation } from '../shared/kube/patch.js';

/**
 * The JSON patch that adds a finalizer to a PV, as upstream writes it: a missing or empty list is tested first (so a
 * concurrent writer makes the patch fail instead of being overwritten), a non-empty one is appended to.
 */
export function addFinalizerPatch(existing: readonly string[] | undefined, finalizer: string): JsonPatchOperation[] {
  if (existing === undefined) {
    return [
      { op: 'test', path: '/metadata/finalizers', value: null },
      { op: 'add', path: '/metadata/finalizers', value: [finalizer] },
    ];
  }
  if (existing.length === 0) {
    return [
      { op: 'test', path: '/metadata/finalizers', value: [] },
      { op: 'replace', path: '/metadata/finalizers', value: [finalizer] },
    ];
  }
  return [{ op: 'add', path: '/metadata/finalizers/-', value: finalizer }];
}

/** Removes the finalizer at its index, after testing that it is still there (a changed list fails the patch). */
export function removeFinalizerPatch(existing: readonly string[] | undefined, finalizer: string): JsonPatchOperation[] {
  const index = (existing ?? []).indexOf(finalizer);
  if (index < 0) throw new Error(`finalizer "${finalizer}" not found in list`);
  const path = `/metadata/finalizers/${index}`;
  return [
    { op: 'test', path, value: finalizer },
    { op: 'remove', path },
  ];
}
