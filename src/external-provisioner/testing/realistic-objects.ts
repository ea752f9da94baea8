import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';

// A bound PVC and its dynamically provisioned CSI PV shaped as `kubectl get -o json` shows them on a
// cluster running KCM and csi-provisioner (immediate binding, topology on): managedFields from each writer,
// status filled by the PV controller. Used by the cache-transform tests and bench/provisioner-memory, so
// the memory figures describe objects like the ones a real informer receives, not minimal test objects.

export const REALISTIC_DRIVER = 'hostpath.csi.k8s.io';
const CLASS = 'csi-hostpath-sc';

function hex(i: number, width: number): string {
  return (i >>> 0).toString(16).padStart(width, '0').slice(-width);
}

/** A UUID unique per index (every cached string must be distinct, as on a real cluster). */
export function realisticUid(i: number, salt = 0): string {
  return `${hex(i * 2654435761 + salt, 8)}-${hex(i, 4)}-4${hex(i >> 4, 3)}-a${hex(salt, 3)}-${hex(i * 40503 + 7, 12)}`;
}

function timestamp(i: number): string {
  return new Date(Date.UTC(2026, 7, 1) + i * 1000).toISOString().replace('.000Z', 'Z');
}

export interface RealisticPair {
  claim: V1PersistentVolumeClaim;
  volume: V1PersistentVolume;
}

/** The i-th bound PVC/PV pair (JSON-ready plain objects: timestamps are strings, as the API sends them). */
export function realisticPair(i: number): RealisticPair {
  const claimUid = realisticUid(i, 1);
  const pvName = `pvc-${claimUid}`;
  const namespace = `team-${i % 50}`;
  const claimName = `data-web-${i}`;
  const created = timestamp(i);
  const bound = timestamp(i + 2);
  const node = `node-${i % 100}`;
  const claimRv = String(100_000 + i * 7);
  const managed = (manager: string, fieldsV1: object, subresource?: string): Record<string, unknown> => ({
    manager,
    operation: 'Update',
    apiVersion: 'v1',
    time: bound,
    fieldsType: 'FieldsV1',
    fieldsV1,
    ...(subresource && { subresource }),
  });
  const claim = {
    metadata: {
      name: claimName,
      namespace,
      uid: claimUid,
      resourceVersion: claimRv,
      creationTimestamp: created,
      labels: { app: 'web', 'app.kubernetes.io/instance': `web-${i % 20}` },
      annotations: {
        'pv.kubernetes.io/bind-completed': 'yes',
        'pv.kubernetes.io/bound-by-controller': 'yes',
        'volume.beta.kubernetes.io/storage-provisioner': REALISTIC_DRIVER,
        'volume.kubernetes.io/storage-provisioner': REALISTIC_DRIVER,
      },
      finalizers: ['kubernetes.io/pvc-protection'],
      managedFields: [
        managed('kubectl-create', {
          'f:metadata': { 'f:labels': { '.': {}, 'f:app': {}, 'f:app.kubernetes.io/instance': {} } },
          'f:spec': {
            'f:accessModes': {},
            'f:resources': { 'f:requests': { '.': {}, 'f:storage': {} } },
            'f:storageClassName': {},
            'f:volumeMode': {},
          },
        }),
        managed('kube-controller-manager', {
          'f:metadata': {
            'f:annotations': {
              '.': {},
              'f:pv.kubernetes.io/bind-completed': {},
              'f:pv.kubernetes.io/bound-by-controller': {},
              'f:volume.beta.kubernetes.io/storage-provisioner': {},
              'f:volume.kubernetes.io/storage-provisioner': {},
            },
          },
          'f:spec': { 'f:volumeName': {} },
        }),
        managed(
          'kube-controller-manager',
          { 'f:status': { 'f:accessModes': {}, 'f:capacity': { '.': {}, 'f:storage': {} }, 'f:phase': {} } },
          'status',
        ),
      ],
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
      storageClassName: CLASS,
      volumeMode: 'Filesystem',
      volumeName: pvName,
    },
    status: { phase: 'Bound', accessModes: ['ReadWriteOnce'], capacity: { storage: '1Gi' } },
  } as unknown as V1PersistentVolumeClaim;
  const volume = {
    metadata: {
      name: pvName,
      uid: realisticUid(i, 2),
      resourceVersion: String(100_003 + i * 7),
      creationTimestamp: created,
      annotations: {
        'pv.kubernetes.io/provisioned-by': REALISTIC_DRIVER,
        'volume.kubernetes.io/provisioner-deletion-secret-name': '',
        'volume.kubernetes.io/provisioner-deletion-secret-namespace': '',
      },
      finalizers: ['external-provisioner.volume.kubernetes.io/finalizer', 'kubernetes.io/pv-protection'],
      managedFields: [
        managed('csi-provisioner', {
          'f:metadata': {
            'f:annotations': {
              '.': {},
              'f:pv.kubernetes.io/provisioned-by': {},
              'f:volume.kubernetes.io/provisioner-deletion-secret-name': {},
              'f:volume.kubernetes.io/provisioner-deletion-secret-namespace': {},
            },
            'f:finalizers': { '.': {}, 'v:"external-provisioner.volume.kubernetes.io/finalizer"': {} },
          },
          'f:spec': {
            'f:accessModes': {},
            'f:capacity': { '.': {}, 'f:storage': {} },
            'f:claimRef': {
              '.': {},
              'f:apiVersion': {},
              'f:kind': {},
              'f:name': {},
              'f:namespace': {},
              'f:resourceVersion': {},
              'f:uid': {},
            },
            'f:csi': {
              '.': {},
              'f:driver': {},
              'f:fsType': {},
              'f:volumeAttributes': { '.': {}, 'f:storage.kubernetes.io/csiProvisionerIdentity': {} },
              'f:volumeHandle': {},
            },
            'f:nodeAffinity': { '.': {}, 'f:required': {} },
            'f:persistentVolumeReclaimPolicy': {},
            'f:storageClassName': {},
            'f:volumeMode': {},
          },
        }),
        managed('kube-controller-manager', { 'f:status': { 'f:phase': {} } }, 'status'),
      ],
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      capacity: { storage: '1Gi' },
      claimRef: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        name: claimName,
        namespace,
        resourceVersion: String(100_001 + i * 7),
        uid: claimUid,
      },
      csi: {
        driver: REALISTIC_DRIVER,
        fsType: 'ext4',
        volumeAttributes: {
          'storage.kubernetes.io/csiProvisionerIdentity': `1785000000000-${i % 9000}-${REALISTIC_DRIVER}`,
        },
        volumeHandle: realisticUid(i, 3),
      },
      nodeAffinity: {
        required: {
          nodeSelectorTerms: [
            { matchExpressions: [{ key: 'topology.hostpath.csi/node', operator: 'In', values: [node] }] },
          ],
        },
      },
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: CLASS,
      volumeMode: 'Filesystem',
    },
    status: { phase: 'Bound', lastPhaseTransitionTime: bound },
  } as unknown as V1PersistentVolume;
  return { claim, volume };
}
