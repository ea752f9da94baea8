import { CoreV1Api, StorageV1Api } from '@kubernetes/client-node';
import type { V1PersistentVolume, V1PersistentVolumeClaim, V1VolumeAttributesClass } from '@kubernetes/client-node';
import { fromApiException } from '../shared/kube/errors.js';
import type { KubeClient } from '../shared/kube/client.js';
import { jsonPatchOptions, mergePatchOptions } from '../shared/kube/patch.js';
import type { JsonPatchOperation } from '../shared/kube/patch.js';

/**
 * The API writes and uncached reads the provisioner makes. Controllers depend
 * on this port, not on the client, so their tests can record every call and
 * the request count per volume is visible in one place.
 */
export interface ProvisionerKube {
  createPersistentVolume(pv: V1PersistentVolume): Promise<V1PersistentVolume>;
  /** RFC 7386 merge patch of a claim (e.g. dropping the selected-node annotation). */
  mergePatchClaim(namespace: string, name: string, patch: object): Promise<V1PersistentVolumeClaim>;
  /** JSON patch of a claim (finalizers, with a test op as precondition). */
  jsonPatchClaim(namespace: string, name: string, ops: JsonPatchOperation[]): Promise<V1PersistentVolumeClaim>;
  /** JSON patch of a volume (finalizers, with a test op as precondition). */
  jsonPatchVolume(name: string, ops: JsonPatchOperation[]): Promise<V1PersistentVolume>;
  /** Deletes a volume only if it still has this UID. */
  deletePersistentVolume(name: string, uid: string): Promise<void>;
  /** A Secret's data, decoded; throws a KubeApiError (isNotFound) when it does not exist. */
  getSecretData(namespace: string, name: string): Promise<Record<string, string>>;
  getVolumeAttributesClass(name: string): Promise<V1VolumeAttributesClass>;
}

async function annotate<T>(context: string, call: () => Promise<T>): Promise<T> {
  try {
    return await call();
  } catch (err) {
    throw fromApiException(err, context);
  }
}

/** ProvisionerKube over the shared client: one token bucket for every call. */
export function provisionerKube(client: KubeClient): ProvisionerKube {
  const core = client.api(CoreV1Api);
  const storage = client.api(StorageV1Api);
  return {
    createPersistentVolume: (pv) =>
      annotate(`create PersistentVolume ${pv.metadata?.name ?? ''}`, () => core.createPersistentVolume({ body: pv })),
    mergePatchClaim: (namespace, name, patch) =>
      annotate(`patch PersistentVolumeClaim ${namespace}/${name}`, () =>
        core.patchNamespacedPersistentVolumeClaim({ name, namespace, body: patch }, mergePatchOptions()),
      ),
    jsonPatchClaim: (namespace, name, ops) =>
      annotate(`patch PersistentVolumeClaim ${namespace}/${name}`, () =>
        core.patchNamespacedPersistentVolumeClaim({ name, namespace, body: ops }, jsonPatchOptions()),
      ),
    jsonPatchVolume: (name, ops) =>
      annotate(`patch PersistentVolume ${name}`, () =>
        core.patchPersistentVolume({ name, body: ops }, jsonPatchOptions()),
      ),
    deletePersistentVolume: async (name, uid) => {
      await annotate(`delete PersistentVolume ${name}`, () =>
        core.deletePersistentVolume({ name, body: { preconditions: { uid } } }),
      );
    },
    getSecretData: async (namespace, name) => {
      const secret = await annotate(`get Secret ${namespace}/${name}`, () =>
        core.readNamespacedSecret({ name, namespace }),
      );
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(secret.data ?? {})) out[k] = Buffer.from(v, 'base64').toString('utf8');
      for (const [k, v] of Object.entries(secret.stringData ?? {})) out[k] = v;
      return out;
    },
    getVolumeAttributesClass: (name) =>
      annotate(`get VolumeAttributesClass ${name}`, () => storage.readVolumeAttributesClass({ name })),
  };
}
