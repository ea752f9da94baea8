/** How far the deletion of one PV got in this process. */
export type DeletionStage = 'backing-volume-deleted' | 'finished';

/**
 * Remembers, per PV name and UID, that DeleteVolume already succeeded (and
 * whether the PV cleanup after it finished), so a retry after a failed PV
 * DELETE or finalizer patch, or a stale cache event between those writes,
 * never sends DeleteVolume a second time. Upstream sends it again in that
 * window (kubernetes-csi/external-provisioner#1235).
 *
 * An entry lives until a sync finds the PV gone from the cache; a PV
 * re-created under the same name has another UID and so starts afresh. The
 * memory is per process: after a restart (or a leader change) a PV whose
 * cleanup had not finished gets DeleteVolume once more, which CSI drivers
 * must accept (DeleteVolume is idempotent by spec).
 */
export class DeletionTracker {
  private readonly entries = new Map<string, { uid: string; stage: DeletionStage }>();

  get size(): number {
    return this.entries.size;
  }

  stage(name: string, uid: string): DeletionStage | undefined {
    const entry = this.entries.get(name);
    return entry?.uid === uid ? entry.stage : undefined;
  }

  record(name: string, uid: string, stage: DeletionStage): void {
    this.entries.set(name, { uid, stage });
  }

  forget(name: string): void {
    this.entries.delete(name);
  }
}
