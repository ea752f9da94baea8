import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { KubeClient } from '../shared/kube/client.js';
import { fromApiException } from '../shared/kube/errors.js';

export const SNAPSHOT_GROUP = 'snapshot.storage.k8s.io';
export const SNAPSHOT_VERSION = 'v1';
export const SNAPSHOT_PLURAL = 'volumesnapshots';

/**
 * The part of a snapshot.storage.k8s.io/v1 VolumeSnapshot the protection
 * controllers read: only metadata (finalizers) matters to them. Cached objects
 * are plain JSON, so the timestamp is a string.
 */
export interface VolumeSnapshot {
  apiVersion?: string;
  kind?: string;
  metadata?: {
    name?: string;
    namespace?: string;
    uid?: string;
    resourceVersion?: string;
    finalizers?: string[];
    deletionTimestamp?: string | Date;
  };
  spec?: {
    source?: { persistentVolumeClaimName?: string; volumeSnapshotContentName?: string };
    volumeSnapshotClassName?: string;
  };
  status?: { boundVolumeSnapshotContentName?: string; readyToUse?: boolean };
}

/**
 * The API writes of the data-source protections (the provisioning path and
 * the two protection controllers). Kept apart from ProvisionerKube so these
 * controllers (and their fake) do not depend on the provisioning port, which
 * changes for other reasons. Both writes are updates (PUT), never patches:
 * upstream's RBAC, mirrored by manifests/rbac/csi-provisioner.yaml, grants
 * `update` but not `patch` on claims and VolumeSnapshots.
 */
export interface ProtectionKube {
  /**
   * Replaces a claim (its finalizers changed). The object's resourceVersion
   * makes it conditional: a concurrent write answers 409 Conflict (retry).
   */
  updateClaim(claim: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim>;
  /** Replaces a VolumeSnapshot, conditional on its resourceVersion like updateClaim. */
  updateVolumeSnapshot(snapshot: VolumeSnapshot): Promise<VolumeSnapshot>;
  /** A cluster-wide list of at most one VolumeSnapshot: proves the RBAC the sweeper needs. */
  probeVolumeSnapshotList(): Promise<void>;
}

async function annotate<T>(context: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw fromApiException(err, context);
  }
}

/** ProtectionKube over the shared client (one token bucket with every other call). */
export function protectionKube(client: KubeClient): ProtectionKube {
  const core = client.api(CoreV1Api);
  const custom = client.api(CustomObjectsApi);
  const snapshotApi = { group: SNAPSHOT_GROUP, version: SNAPSHOT_VERSION, plural: SNAPSHOT_PLURAL };
  return {
    updateClaim: (claim) => {
      const namespace = claim.metadata?.namespace ?? '';
      const name = claim.metadata?.name ?? '';
      return annotate(`update PersistentVolumeClaim ${namespace}/${name}`, () =>
        core.replaceNamespacedPersistentVolumeClaim({ name, namespace, body: claim }),
      );
    },
    updateVolumeSnapshot: async (snapshot) => {
      const namespace = snapshot.metadata?.namespace ?? '';
      const name = snapshot.metadata?.name ?? '';
      const updated: unknown = await annotate(`update VolumeSnapshot ${namespace}/${name}`, () =>
        custom.replaceNamespacedCustomObject({ ...snapshotApi, namespace, name, body: snapshot }),
      );
      return updated as VolumeSnapshot;
    },
    probeVolumeSnapshotList: async () => {
      await annotate('list VolumeSnapshots', () => custom.listClusterCustomObject({ ...snapshotApi, limit: 1 }));
    },
  };
}
