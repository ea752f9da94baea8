import { CoreV1Api, CustomObjectsApi, StorageV1Api } from '@kubernetes/client-node';
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1VolumeAttributesClass } from '@kubernetes/client-node';
import { annotate } from '../shared/kube/api-call.js';
import { secretStrings } from '../shared/kube/secret-data.js';
import type { KubeClient } from '../shared/kube/client.js';
import { jsonPatchOptions, strategicMergePatchOptions } from '../shared/kube/patch.js';
import type { JsonPatchOperation } from '../shared/kube/patch.js';
import { SNAPSHOT_API_GROUP, SNAPSHOT_API_VERSION } from './snapshot-types.js';
import type { VolumeSnapshot, VolumeSnapshotContent } from './snapshot-types.js';

/**
 * The API writes and uncached reads the provisioner makes. Controllers depend
 * on this port, not on the client, so their tests can record every call and
 * the request count per volume is visible in one place.
 */
export interface ProvisionerKube {
  createPersistentVolume(pv: V1PersistentVolume): Promise<V1PersistentVolume>;
  /**
   * Replaces a claim (PUT with its resourceVersion, so a concurrent change
   * fails with a conflict). Upstream writes claims with update, and its RBAC
   * grants update, not patch, on persistentvolumeclaims.
   */
  updateClaim(claim: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim>;
  /** Uncached GET of a claim (after a conflict); throws a KubeApiError (isNotFound) when it is gone. */
  readClaim(namespace: string, name: string): Promise<V1PersistentVolumeClaim>;
  /** JSON patch of a volume (finalizers, with a test op as precondition). */
  jsonPatchVolume(name: string, ops: JsonPatchOperation[]): Promise<V1PersistentVolume>;
  /** Deletes a volume only if it still has this UID. */
  deletePersistentVolume(name: string, uid: string): Promise<void>;
  /**
   * Removes one finalizer from a volume whatever else its list holds (a strategic merge patch, so KCM dropping
   * pv-protection at the same moment cannot fail it); the UID in the patch makes another volume of the same name
   * fail (uid is immutable).
   */
  removeVolumeFinalizer(name: string, uid: string, finalizer: string): Promise<void>;
  /** A Secret's data, decoded; throws a KubeApiError (isNotFound) when it does not exist. */
  getSecretData(namespace: string, name: string): Promise<Record<string, string>>;
  getVolumeAttributesClass(name: string): Promise<V1VolumeAttributesClass>;
  /** The data source of a restore (snapshot.storage.k8s.io/v1); throws a KubeApiError when missing. */
  getVolumeSnapshot(namespace: string, name: string): Promise<VolumeSnapshot>;
  /** The cluster-scoped content a VolumeSnapshot is bound to. */
  getVolumeSnapshotContent(name: string): Promise<VolumeSnapshotContent>;
}

const PVS = { group: '', resource: 'persistentvolumes' };
const PVCS = { group: '', resource: 'persistentvolumeclaims' };

/** ProvisionerKube over the shared client: one token bucket for every call. */
export function provisionerKube(client: KubeClient): ProvisionerKube {
  const core = client.api(CoreV1Api);
  const storage = client.api(StorageV1Api);
  const custom = client.api(CustomObjectsApi);
  const snapshotApi = { group: SNAPSHOT_API_GROUP, version: SNAPSHOT_API_VERSION };
  return {
    createPersistentVolume: (pv) =>
      annotate({ verb: 'create', kind: 'PersistentVolume', ...PVS, name: pv.metadata?.name ?? '' }, () =>
        core.createPersistentVolume({ body: pv }),
      ),
    updateClaim: (claim) => {
      const namespace = claim.metadata?.namespace ?? '';
      const name = claim.metadata?.name ?? '';
      return annotate({ verb: 'update', kind: 'PersistentVolumeClaim', ...PVCS, namespace, name }, () =>
        core.replaceNamespacedPersistentVolumeClaim({ name, namespace, body: claim }),
      );
    },
    readClaim: (namespace, name) =>
      annotate({ verb: 'get', kind: 'PersistentVolumeClaim', ...PVCS, namespace, name }, () =>
        core.readNamespacedPersistentVolumeClaim({ name, namespace }),
      ),
    jsonPatchVolume: (name, ops) =>
      annotate({ verb: 'patch', kind: 'PersistentVolume', ...PVS, name }, () =>
        core.patchPersistentVolume({ name, body: ops }, jsonPatchOptions()),
      ),
    removeVolumeFinalizer: async (name, uid, finalizer) => {
      const body = { metadata: { uid, '$deleteFromPrimitiveList/finalizers': [finalizer] } };
      await annotate({ verb: 'patch', kind: 'PersistentVolume', ...PVS, name }, () =>
        core.patchPersistentVolume({ name, body }, strategicMergePatchOptions()),
      );
    },
    deletePersistentVolume: async (name, uid) => {
      await annotate({ verb: 'delete', kind: 'PersistentVolume', ...PVS, name }, () =>
        core.deletePersistentVolume({ name, body: { preconditions: { uid } } }),
      );
    },
    getSecretData: async (namespace, name) => {
      const secret = await annotate(
        { verb: 'get', kind: 'Secret', group: '', resource: 'secrets', namespace, name },
        () => core.readNamespacedSecret({ name, namespace }),
      );
      return secretStrings(secret);
    },
    getVolumeAttributesClass: (name) =>
      annotate(
        {
          verb: 'get',
          kind: 'VolumeAttributesClass',
          group: 'storage.k8s.io',
          resource: 'volumeattributesclasses',
          name,
        },
        () => storage.readVolumeAttributesClass({ name }),
      ),
    getVolumeSnapshot: async (namespace, name) => {
      const snapshot: unknown = await annotate(
        {
          verb: 'get',
          kind: 'VolumeSnapshot',
          group: SNAPSHOT_API_GROUP,
          resource: 'volumesnapshots',
          namespace,
          name,
        },
        () => custom.getNamespacedCustomObject({ ...snapshotApi, plural: 'volumesnapshots', namespace, name }),
      );
      return snapshot as VolumeSnapshot;
    },
    getVolumeSnapshotContent: async (name) => {
      const content: unknown = await annotate(
        {
          verb: 'get',
          kind: 'VolumeSnapshotContent',
          group: SNAPSHOT_API_GROUP,
          resource: 'volumesnapshotcontents',
          name,
        },
        () => custom.getClusterCustomObject({ ...snapshotApi, plural: 'volumesnapshotcontents', name }),
      );
      return content as VolumeSnapshotContent;
    },
  };
}
