// Adding or removing one finalizer on a claim or a VolumeSnapshot, written
// back with an update (PUT) as upstream does: its RBAC grants `update`, not
// `patch`, on persistentvolumeclaims and volumesnapshots. The copy keeps the
// resourceVersion it was read with, so a concurrent write by another
// controller fails the update with 409 Conflict and the sync retries on a
// fresh cache (optimistic concurrency).

interface WithFinalizers {
  metadata?: { uid?: string; resourceVersion?: string; finalizers?: string[] };
}

export function hasFinalizer(obj: WithFinalizers, finalizer: string): boolean {
  return obj.metadata?.finalizers?.includes(finalizer) ?? false;
}

/**
 * A deep copy of obj with finalizer appended; undefined when obj already has
 * it. Cached objects are shared with their informer, so they are never changed
 * in place.
 */
export function withFinalizer<T extends WithFinalizers>(obj: T, finalizer: string): T | undefined {
  if (hasFinalizer(obj, finalizer)) return undefined;
  const copy = structuredClone(obj);
  copy.metadata = { ...copy.metadata, finalizers: [...(copy.metadata?.finalizers ?? []), finalizer] };
  return copy;
}

/** A deep copy of obj without any copy of finalizer; undefined when obj does not have it. */
export function withoutFinalizer<T extends WithFinalizers>(obj: T, finalizer: string): T | undefined {
  if (!hasFinalizer(obj, finalizer)) return undefined;
  const copy = structuredClone(obj);
  copy.metadata = { ...copy.metadata, finalizers: (copy.metadata?.finalizers ?? []).filter((f) => f !== finalizer) };
  return copy;
}
