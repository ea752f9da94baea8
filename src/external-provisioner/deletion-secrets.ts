import type { V1PersistentVolume, V1StorageClass } from '@kubernetes/client-node';
import type { CacheReader } from '../shared/kube/cache.js';
import { ANN_DELETION_SECRET_NAME, ANN_DELETION_SECRET_NAMESPACE } from './keys.js';
import { getSecretReference } from './secrets.js';
import type { SecretReference, Warn } from './secrets.js';
import { volumeClassName } from './volume-ownership.js';

export interface DeletionSecretOptions {
  pv: V1PersistentVolume;
  classes: CacheReader<V1StorageClass>;
  warn: Warn;
}

/**
 * The provisioner secret for DeleteVolume, as upstream's Delete picks it:
 * - both deletion-secret annotations present: that secret when both are
 *   non-empty, none otherwise (the provisioner writes empty strings when the
 *   class had no secret);
 * - annotations absent (PVs from provisioners before #713): the current
 *   StorageClass's provisioner secret templates, resolved with the claim from
 *   claimRef; no class, or a class that is gone, means no secret.
 * Throws when the class's templates cannot be resolved.
 */
export function deletionSecretReference(options: DeletionSecretOptions): SecretReference | undefined {
  const { pv } = options;
  const annotations = pv.metadata?.annotations ?? {};
  if (
    Object.hasOwn(annotations, ANN_DELETION_SECRET_NAME) &&
    Object.hasOwn(annotations, ANN_DELETION_SECRET_NAMESPACE)
  ) {
    const name = annotations[ANN_DELETION_SECRET_NAME];
    const namespace = annotations[ANN_DELETION_SECRET_NAMESPACE];
    return name !== '' && namespace !== '' ? { name, namespace } : undefined;
  }
  const className = volumeClassName(pv);
  if (className === '') return undefined;
  const storageClass = options.classes.get(className);
  if (!storageClass) {
    options.warn(`failed to get storageclass: ${className}, proceeding to delete without secrets`);
    return undefined;
  }
  const pvName = pv.metadata?.name ?? '';
  const claimRef = pv.spec?.claimRef;
  try {
    return getSecretReference({
      type: 'provisioner',
      parameters: storageClass.parameters,
      pvName,
      claim: claimRef ? { name: claimRef.name ?? '', namespace: claimRef.namespace ?? '' } : undefined,
      warn: options.warn,
    });
  } catch (err) {
    throw new Error(`failed to get secretreference for volume ${pvName}: ${(err as Error).message}`, { cause: err });
  }
}
