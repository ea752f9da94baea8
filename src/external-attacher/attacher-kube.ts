import { CoreV1Api, StorageV1Api } from '@kubernetes/client-node';
import type { V1PersistentVolume, V1VolumeAttachment } from '@kubernetes/client-node';
import { annotate } from '../shared/kube/api-call.js';
import type { KubeClient } from '../shared/kube/client.js';
import { jsonPatchOptions, mergePatchOptions } from '../shared/kube/patch.js';
import type { JsonPatchOperation } from '../shared/kube/patch.js';
import { secretStrings } from '../shared/kube/secret-data.js';

/**
 * The API writes and uncached reads of the attacher. Controllers depend on this port, not on the client, so their
 * tests record every call, and the requests per attach are visible in one place.
 */
export interface AttacherKube {
  /** JSON merge patch of a VolumeAttachment's metadata (finalizers, annotations). */
  patchAttachment(name: string, patch: object): Promise<V1VolumeAttachment>;
  /** JSON merge patch of a VolumeAttachment's status subresource. */
  patchAttachmentStatus(name: string, patch: object): Promise<V1VolumeAttachment>;
  /** JSON patch of a PersistentVolume (its finalizer list, with a test op as precondition). */
  jsonPatchVolume(name: string, ops: JsonPatchOperation[]): Promise<V1PersistentVolume>;
  /** A Secret's data as strings, read live (no informer), as upstream. */
  getSecretData(namespace: string, name: string): Promise<Record<string, string>>;
}

const VAS = { kind: 'VolumeAttachment', group: 'storage.k8s.io', resource: 'volumeattachments' };

/** AttacherKube over the shared client: one token bucket for every call. */
export function attacherKube(client: KubeClient): AttacherKube {
  const core = client.api(CoreV1Api);
  const storage = client.api(StorageV1Api);
  return {
    patchAttachment: (name, body) =>
      annotate({ verb: 'patch', ...VAS, name }, () =>
        storage.patchVolumeAttachment({ name, body }, mergePatchOptions()),
      ),
    patchAttachmentStatus: (name, body) =>
      annotate({ verb: 'patch', ...VAS, name }, () =>
        storage.patchVolumeAttachmentStatus({ name, body }, mergePatchOptions()),
      ),
    jsonPatchVolume: (name, ops) =>
      annotate({ verb: 'patch', kind: 'PersistentVolume', group: '', resource: 'persistentvolumes', name }, () =>
        core.patchPersistentVolume({ name, body: ops }, jsonPatchOptions()),
      ),
    getSecretData: async (namespace, name) =>
      secretStrings(
        await annotate({ verb: 'get', kind: 'Secret', group: '', resource: 'secrets', namespace, name }, () =>
          core.readNamespacedSecret({ name, namespace }),
        ),
      ),
  };
}
