import { CoreV1Api, CustomObjectsApi } from '@kubernetes/client-node';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { KubeClient } from '../shared/kube/client.js';
import { fromApiException } from '../shared/kube/errors.js';
import { jsonPatchOptions } from '../shared/kube/patch.js';
import type { JsonPatchOperation } from '../shared/kube/patch.js';

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
 * The API writes of the two data-source protection controllers. Kept apart
 * from ProvisionerKube so these controllers (and their fake) do not depend on
 * the provisioning port, which changes for other reasons.
 */
export interface ProtectionKube {
  /** JSON patch of a claim (finalizers, with test ops as preconditions). */
  jsonPatchClaim(namespace: string, name: string, ops: JsonPatchOperation[]): Promise<V1PersistentVolumeClaim>;
  /** JSON patch of a VolumeSnapshot (finalizers, with test ops as preconditions). */
  jsonPatchVolumeSnapshot(namespace: string, name: string, ops: JsonPatchOperation[]): Promise<VolumeSnapshot>;
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
    jsonPatchClaim: (namespace, name, ops) =>
      annotate(`patch PersistentVolumeClaim ${namespace}/${name}`, () =>
        core.patchNamespacedPersistentVolumeClaim({ name, namespace, body: ops }, jsonPatchOptions()),
      ),
    jsonPatchVolumeSnapshot: async (namespace, name, ops) => {
      const patched: unknown = await annotate(`patch VolumeSnapshot ${namespace}/${name}`, () =>
        custom.patchNamespacedCustomObject({ ...snapshotApi, namespace, name, body: ops }, jsonPatchOptions()),
      );
      return patched as VolumeSnapshot;
    },
    probeVolumeSnapshotList: async () => {
      await annotate('list VolumeSnapshots', () => custom.listClusterCustomObject({ ...snapshotApi, limit: 1 }));
    },
  };
}
