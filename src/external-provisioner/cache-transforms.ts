import type {
  V1CSINode,
  V1CSINodeDriver,
  V1Node,
  V1ObjectMeta,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1PersistentVolumeSpec,
  V1StorageClass,
  V1VolumeAttachment,
} from '@kubernetes/client-node';
import {
  ANN_BETA_STORAGE_CLASS,
  ANN_DELETION_SECRET_NAME,
  ANN_DELETION_SECRET_NAMESPACE,
  ANN_DYNAMICALLY_PROVISIONED,
  ANN_MIGRATED_TO,
} from './keys.js';

// Informer transforms that shrink cached objects to what the provisioner's controllers read
// (kubernetes-csi/external-provisioner#587: upstream needs ~40 KiB per volume because it caches whole
// objects). Dropping a field here never loses data on the server: the provisioner writes PVs built from
// its own data and patches only PV finalizers. Claims are the exception: they are written back whole
// (update, the verb upstream's RBAC grants), so a cached claim keeps all of its metadata but
// managedFields, which an update without the field leaves untouched on the server.
//
// Every transform builds new objects with only the kept keys instead of using `delete`, which would
// leave V8 slower and larger dictionary-mode objects, and never sets a key to undefined (a slot costs
// memory even when empty). Whoever makes a controller read a new field must add it here: the tests in
// cache-transforms.test.ts run the controllers' decisions on transformed objects to catch a miss.

/** kubectl's copy of the whole applied object: often the largest annotation, read by nobody here. */
export const LAST_APPLIED_ANNOTATION = 'kubectl.kubernetes.io/last-applied-configuration';

/**
 * The PV annotations the volume controller reads: ownership (provisioned-by, migrated-to), the class
 * (beta key) for deletion secrets, and the deletion secret itself.
 */
export const CACHED_VOLUME_ANNOTATIONS: readonly string[] = [
  ANN_DYNAMICALLY_PROVISIONED,
  ANN_MIGRATED_TO,
  ANN_BETA_STORAGE_CLASS,
  ANN_DELETION_SECRET_NAME,
  ANN_DELETION_SECRET_NAMESPACE,
];

type MetadataKey = 'labels' | 'annotations' | 'finalizers' | 'deletionTimestamp';

interface MetadataOptions {
  /** Extra keys beyond name, namespace, uid and resourceVersion (always kept). */
  keep: readonly MetadataKey[];
  /** Filters annotations when 'annotations' is kept; all of them otherwise. */
  annotation?: (key: string) => boolean;
}

/** Assigns value under key only when it is set, so absent fields stay absent. */
function put<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function slimMetadata(meta: V1ObjectMeta | undefined, options: MetadataOptions): V1ObjectMeta | undefined {
  if (meta === undefined) return undefined;
  // Identity fields: the cache key, the UID that patches and deletes test, the resourceVersion that
  // patches test and the informer compares, all always kept.
  const out: V1ObjectMeta = {};
  put(out, 'name', meta.name);
  put(out, 'namespace', meta.namespace);
  put(out, 'uid', meta.uid);
  put(out, 'resourceVersion', meta.resourceVersion);
  for (const key of options.keep) {
    if (key === 'annotations') put(out, 'annotations', pick(meta.annotations, options.annotation));
    else if (key === 'labels') put(out, 'labels', meta.labels);
    else if (key === 'finalizers') put(out, 'finalizers', meta.finalizers);
    else put(out, 'deletionTimestamp', meta.deletionTimestamp);
  }
  return out;
}

/** The entries of map whose key passes keep; undefined when none is left (no empty objects cached). */
function pick(
  map: Record<string, string> | undefined,
  keep: ((key: string) => boolean) | undefined,
): Record<string, string> | undefined {
  if (map === undefined) return undefined;
  if (keep === undefined) return map;
  let out: Record<string, string> | undefined;
  for (const [key, value] of Object.entries(map)) {
    if (!keep(key)) continue;
    out ??= {};
    out[key] = value;
  }
  return out;
}

const notLastApplied = (key: string): boolean => key !== LAST_APPLIED_ANNOTATION;
const volumeAnnotation = (key: string): boolean => CACHED_VOLUME_ANNOTATIONS.includes(key);

/**
 * PVC: all metadata but managedFields, because claims are written back with update (reschedule, the
 * clone-protection finalizer, the durable in-flight marker) and an update replaces labels, annotations
 * and ownerReferences with what it carries. The whole spec (small, and read almost entirely) and
 * status.phase (clone sources must be Bound); the whole status while the claim is not Bound, since
 * clone-source.ts prints it in its "must have a status of Bound" error as upstream does.
 * Dropped: managedFields and a Bound claim's status details.
 */
export function slimClaim(claim: V1PersistentVolumeClaim): V1PersistentVolumeClaim {
  const out: V1PersistentVolumeClaim = {};
  if (claim.apiVersion !== undefined) out.apiVersion = claim.apiVersion;
  if (claim.kind !== undefined) out.kind = claim.kind;
  if (claim.metadata) {
    const { managedFields: _managedFields, ...metadata } = claim.metadata;
    out.metadata = metadata;
  }
  put(out, 'spec', claim.spec);
  const status = claim.status;
  if (status?.phase === 'Bound') out.status = { phase: status.phase };
  else put(out, 'status', status);
  return out;
}

/**
 * PV: identity, the CACHED_VOLUME_ANNOTATIONS, finalizers and deletionTimestamp (finalizer upkeep and
 * the delete flow), and from the spec only the CSI driver and handle (ownership, DeleteVolume, clone
 * sources), the reclaim policy, the class name, the volume mode (clone mode check) and the claimRef's
 * namespace/name/uid (deletion-secret templates, clone binding check), plus status.phase. Dropped: managedFields, labels, capacity, access modes, node affinity, mount options,
 * the CSI volume attributes and secret references (written by us from our own data, never read back).
 */
export function slimVolume(pv: V1PersistentVolume): V1PersistentVolume {
  const out: V1PersistentVolume = {};
  put(
    out,
    'metadata',
    slimMetadata(pv.metadata, {
      keep: ['annotations', 'finalizers', 'deletionTimestamp'],
      annotation: volumeAnnotation,
    }),
  );
  const spec = pv.spec;
  if (spec !== undefined) {
    const slim: V1PersistentVolumeSpec = {};
    if (spec.csi !== undefined) slim.csi = { driver: spec.csi.driver, volumeHandle: spec.csi.volumeHandle };
    put(slim, 'persistentVolumeReclaimPolicy', spec.persistentVolumeReclaimPolicy);
    put(slim, 'storageClassName', spec.storageClassName);
    put(slim, 'volumeMode', spec.volumeMode);
    const ref = spec.claimRef;
    if (ref !== undefined) {
      slim.claimRef = {};
      put(slim.claimRef, 'namespace', ref.namespace);
      put(slim.claimRef, 'name', ref.name);
      put(slim.claimRef, 'uid', ref.uid);
    }
    out.spec = slim;
  }
  const phase = pv.status?.phase;
  if (phase !== undefined) out.status = { phase };
  return out;
}

/**
 * StorageClass: few objects, read almost entirely (provisioner, parameters, reclaim policy, binding
 * mode, mount options, allowed topologies, expansion), so only managedFields and kubectl's
 * last-applied copy go.
 */
export function slimStorageClass(storageClass: V1StorageClass): V1StorageClass {
  const { metadata, ...rest } = storageClass;
  if (metadata === undefined) return storageClass;
  const { managedFields: _managed, annotations, ...kept } = metadata;
  const slim: V1ObjectMeta = { ...kept };
  put(slim, 'annotations', pick(annotations, notLastApplied));
  return { ...rest, metadata: slim };
}

/**
 * Node: topology reads only the name and the labels. Dropped: the status (images, conditions,
 * addresses, capacity: the bulk of a Node), the spec (taints, podCIDRs) and every annotation.
 */
export function slimNode(node: V1Node): V1Node {
  const out: V1Node = {};
  put(out, 'metadata', slimMetadata(node.metadata, { keep: ['labels'] }));
  return out;
}

/**
 * CSINode: topology reads the name and this driver's topologyKeys; other drivers' entries are dropped.
 * The driver's own entry is kept whole (name, nodeID, topologyKeys, allocatable: a few strings).
 * spec.drivers stays an array (possibly empty): topology.ts reads it without a guard.
 */
export function slimCsiNode(driverName: string): (csiNode: V1CSINode) => V1CSINode {
  return (csiNode) => {
    const drivers: V1CSINodeDriver[] = (csiNode.spec?.drivers ?? []).filter((d) => d.name === driverName);
    const out: V1CSINode = { spec: { drivers } };
    put(out, 'metadata', slimMetadata(csiNode.metadata, { keep: [] }));
    return out;
  };
}

/**
 * VolumeAttachment: the delete flow reads the PV name it attaches and the node (for the error text);
 * the attacher is kept for diagnostics. Dropped: inlineVolumeSpec (a whole PV spec for migrated inline
 * volumes), the status (attach metadata and errors), annotations and finalizers.
 */
export function slimVolumeAttachment(va: V1VolumeAttachment): V1VolumeAttachment {
  const spec = va.spec;
  const out = {} as V1VolumeAttachment;
  put(out, 'metadata', slimMetadata(va.metadata, { keep: [] }));
  if (spec !== undefined) {
    out.spec = { attacher: spec.attacher, nodeName: spec.nodeName, source: {} };
    put(out.spec.source, 'persistentVolumeName', spec.source?.persistentVolumeName);
  }
  return out;
}

/** The transforms by informer, for provisioner.ts (`transform: cacheTransforms(driver.name).claims`). */
export function cacheTransforms(driverName: string): {
  claims: (obj: V1PersistentVolumeClaim) => V1PersistentVolumeClaim;
  volumes: (obj: V1PersistentVolume) => V1PersistentVolume;
  classes: (obj: V1StorageClass) => V1StorageClass;
  nodes: (obj: V1Node) => V1Node;
  csiNodes: (obj: V1CSINode) => V1CSINode;
  attachments: (obj: V1VolumeAttachment) => V1VolumeAttachment;
} {
  return {
    claims: slimClaim,
    volumes: slimVolume,
    classes: slimStorageClass,
    nodes: slimNode,
    csiNodes: slimCsiNode(driverName),
    attachments: slimVolumeAttachment,
  };
}
