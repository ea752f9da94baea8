// The parts of snapshot.storage.k8s.io/v1 objects the provisioner reads to restore a snapshot. Hand-written because
// client-node has no models for CRDs; objects arrive as plain JSON, so timestamps are strings.

export const SNAPSHOT_API_GROUP = 'snapshot.storage.k8s.io';
export const SNAPSHOT_API_VERSION = 'v1';

export interface SnapshotObjectMeta {
  name?: string;
  namespace?: string;
  uid?: string;
  resourceVersion?: string;
  annotations?: Record<string, string>;
  finalizers?: string[];
  deletionTimestamp?: string | Date;
}

export interface VolumeSnapshot {
  apiVersion?: string;
  kind?: string;
  metadata?: SnapshotObjectMeta;
  spec?: {
    source?: { persistentVolumeClaimName?: string; volumeSnapshotContentName?: string };
    volumeSnapshotClassName?: string;
  };
  status?: {
    boundVolumeSnapshotContentName?: string;
    readyToUse?: boolean;
    /** A resource quantity ("1Gi"). */
    restoreSize?: string;
    creationTime?: string;
    error?: { message?: string; time?: string };
  };
}

export interface VolumeSnapshotContent {
  apiVersion?: string;
  kind?: string;
  metadata?: SnapshotObjectMeta;
  spec?: {
    driver?: string;
    deletionPolicy?: string;
    volumeSnapshotRef?: { kind?: string; namespace?: string; name?: string; uid?: string; apiVersion?: string };
    volumeSnapshotClassName?: string;
    /** Filesystem or Block; absent for contents created before the field existed. */
    sourceVolumeMode?: string;
    source?: { volumeHandle?: string; snapshotHandle?: string };
  };
  status?: {
    snapshotHandle?: string;
    readyToUse?: boolean;
    /** Bytes, a plain number on the content (unlike the snapshot's quantity). */
    restoreSize?: number;
    creationTime?: number;
  };
}
