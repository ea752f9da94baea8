import type {
  V1CSIPersistentVolumeSource,
  V1ObjectReference,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1PersistentVolumeSpec,
  V1SecretReference,
  V1StorageClass,
  V1VolumeNodeAffinity,
} from '@kubernetes/client-node';
import type { Volume } from '../gen/csi.js';
import {
  ANN_BETA_STORAGE_CLASS,
  ANN_DELETION_SECRET_NAME,
  ANN_DELETION_SECRET_NAMESPACE,
  ANN_DYNAMICALLY_PROVISIONED,
  ANN_MODIFY_SECRET_NAME,
  ANN_MODIFY_SECRET_NAMESPACE,
  FINALIZER_PV,
  VOLUME_ATTRIBUTE_PROVISIONER_IDENTITY,
} from './keys.js';

/** Secret references copied onto `PV.spec.csi` (resolved, never fetched). */
export interface PvSecretRefs {
  controllerPublish?: V1SecretReference;
  nodeStage?: V1SecretReference;
  nodePublish?: V1SecretReference;
  controllerExpand?: V1SecretReference;
  nodeExpand?: V1SecretReference;
}

export interface BuildPersistentVolumeOptions {
  claim: V1PersistentVolumeClaim;
  storageClass: V1StorageClass;
  driverName: string;
  provisionerIdentity: string;
  pvName: string;
  /** The CreateVolume response volume. */
  volume: Volume;
  /** Size to record: the response capacity, or the request when the driver reported 0 (checkCreateVolumeResponse). */
  capacityBytes: bigint;
  fsType: string;
  /** `--controller-publish-readonly`. */
  controllerPublishReadOnly: boolean;
  secretRefs: PvSecretRefs;
  /** Provisioner secret, remembered for DeleteVolume; absent means "no secret" and is written as empty strings. */
  deletionSecret?: V1SecretReference;
  /** Controller-modify secret, only when the class configures one. */
  modifySecret?: V1SecretReference;
  /** Computed from the volume's accessible topology by the topology code; only when topology is on. */
  nodeAffinity?: V1VolumeNodeAffinity;
  /** Only when a VAC is used and the VolumeAttributesClass gate is on. */
  volumeAttributesClassName?: string;
}

/**
 * The PV the provisioner saves after a successful CreateVolume: what upstream's Provision builds plus what the
 * provisioner library adds (claimRef, finalizer, provisioned-by, storageClassName). Fields Go would drop through
 * `omitempty` (false, "", nil) are left out so the object equals upstream's on the wire.
 */
export function buildPersistentVolume(options: BuildPersistentVolumeOptions): V1PersistentVolume {
  const { claim, storageClass } = options;
  const spec: V1PersistentVolumeSpec = {
    accessModes: [...(claim.spec?.accessModes ?? [])],
    capacity: { storage: formatBinarySIQuantity(options.capacityBytes) },
    csi: csiSource(options),
    claimRef: claimReference(claim),
  };
  if (storageClass.mountOptions) spec.mountOptions = [...storageClass.mountOptions];
  if (storageClass.reclaimPolicy) spec.persistentVolumeReclaimPolicy = storageClass.reclaimPolicy;
  if (options.nodeAffinity) spec.nodeAffinity = options.nodeAffinity;
  if (claim.spec?.volumeMode) spec.volumeMode = claim.spec.volumeMode;
  const className = claimStorageClassName(claim);
  if (className) spec.storageClassName = className;
  if (options.volumeAttributesClassName) spec.volumeAttributesClassName = options.volumeAttributesClassName;
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: { name: options.pvName, annotations: pvAnnotations(options), finalizers: [FINALIZER_PV] },
    spec,
  };
}

function pvAnnotations(options: BuildPersistentVolumeOptions): Record<string, string> {
  // The deletion pair is written even when empty: its absence marks an old PV and makes deletion fall back to the
  // current StorageClass.
  const annotations: Record<string, string> = {
    [ANN_DELETION_SECRET_NAME]: options.deletionSecret?.name ?? '',
    [ANN_DELETION_SECRET_NAMESPACE]: options.deletionSecret?.namespace ?? '',
  };
  if (options.modifySecret) {
    annotations[ANN_MODIFY_SECRET_NAME] = options.modifySecret.name ?? '';
    annotations[ANN_MODIFY_SECRET_NAMESPACE] = options.modifySecret.namespace ?? '';
  }
  annotations[ANN_DYNAMICALLY_PROVISIONED] = options.storageClass.provisioner;
  return annotations;
}

function csiSource(options: BuildPersistentVolumeOptions): V1CSIPersistentVolumeSource {
  const source: V1CSIPersistentVolumeSource = {
    driver: options.driverName,
    volumeHandle: options.volume.volumeId,
    // The driver's context wins over the identity key if it ever sets the same key.
    volumeAttributes: {
      [VOLUME_ATTRIBUTE_PROVISIONER_IDENTITY]: options.provisionerIdentity,
      ...options.volume.volumeContext,
    },
  };
  if (options.claim.spec?.volumeMode !== 'Block' && options.fsType) source.fsType = options.fsType;
  if (isControllerPublishReadOnly(options)) source.readOnly = true;
  const refs = options.secretRefs;
  if (refs.controllerPublish) source.controllerPublishSecretRef = refs.controllerPublish;
  if (refs.nodeStage) source.nodeStageSecretRef = refs.nodeStage;
  if (refs.nodePublish) source.nodePublishSecretRef = refs.nodePublish;
  if (refs.controllerExpand) source.controllerExpandSecretRef = refs.controllerExpand;
  if (refs.nodeExpand) source.nodeExpandSecretRef = refs.nodeExpand;
  return source;
}

/** Upstream marks the PV read-only only when ROX is the single requested mode (one MULTI_NODE_READER_ONLY capability). */
function isControllerPublishReadOnly(options: BuildPersistentVolumeOptions): boolean {
  const modes = options.claim.spec?.accessModes ?? [];
  return options.controllerPublishReadOnly && modes.length === 1 && modes[0] === 'ReadOnlyMany';
}

/** What client-go's `ref.GetReference` produces for a claim. */
function claimReference(claim: V1PersistentVolumeClaim): V1ObjectReference {
  const reference: V1ObjectReference = {
    kind: 'PersistentVolumeClaim',
    namespace: claim.metadata?.namespace,
    name: claim.metadata?.name,
    uid: claim.metadata?.uid,
    apiVersion: 'v1',
  };
  if (claim.metadata?.resourceVersion) reference.resourceVersion = claim.metadata.resourceVersion;
  return reference;
}

/** The claim's class as the library resolves it: the beta annotation (even empty) wins over the spec field. */
export function claimStorageClassName(claim: V1PersistentVolumeClaim): string {
  const annotations = claim.metadata?.annotations ?? {};
  if (Object.hasOwn(annotations, ANN_BETA_STORAGE_CLASS)) return annotations[ANN_BETA_STORAGE_CLASS];
  return claim.spec?.storageClassName ?? '';
}

const INT64_MAX = (1n << 63n) - 1n;
const BINARY_SUFFIXES = ['', 'Ki', 'Mi', 'Gi', 'Ti', 'Pi', 'Ei'] as const;
const DECIMAL_SUFFIXES = ['', 'k', 'M', 'G', 'T', 'P', 'E'] as const;

/**
 * `resource.NewQuantity(bytes, resource.BinarySI).String()`: the largest binary suffix that keeps the number exact
 * ("1Gi", "1536Mi", "5970004541"), except that values strictly between -1024 and 1024 use decimal SI ("1k", "999").
 */
export function formatBinarySIQuantity(bytes: bigint): string {
  if (bytes > INT64_MAX || bytes < -INT64_MAX - 1n) throw new RangeError(`${bytes} is outside the int64 range`);
  if (bytes === 0n) return '0';
  const small = bytes > -1024n && bytes < 1024n;
  const { mantissa, power } = removeFactors({ value: bytes, base: small ? 1000n : 1024n });
  return `${mantissa}${(small ? DECIMAL_SUFFIXES : BINARY_SUFFIXES)[power]}`;
}

function removeFactors(options: { value: bigint; base: bigint }): { mantissa: bigint; power: number } {
  let mantissa = options.value;
  let power = 0;
  // Within int64 the power stays at or below the Ei/E suffixes, so the suffix tables cannot run out.
  while (mantissa % options.base === 0n) {
    mantissa /= options.base;
    power++;
  }
  return { mantissa, power };
}
