import type { V1PersistentVolume, V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import type { Volume } from '../gen/csi.js';
import type { BuildPersistentVolumeOptions } from './pv.js';
import { buildPersistentVolume, claimStorageClassName, formatBinarySIQuantity } from './pv.js';

const UID = '0b5f1e6c-3d2a-4c8e-9f71-2a6b8d4e1c90';
const PV_NAME = `pvc-${UID}`;
const DRIVER = 'hostpath.csi.k8s.io';
const IDENTITY = '1763775000000-1234-hostpath.csi.k8s.io';
const GI = 1024n ** 3n;

function claim(spec: V1PersistentVolumeClaim['spec'] = {}): V1PersistentVolumeClaim {
  return {
    metadata: { name: 'data', namespace: 'apps', uid: UID, resourceVersion: '42' },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
      storageClassName: 'fast',
      ...spec,
    },
  };
}

const storageClass: V1StorageClass = {
  metadata: { name: 'fast' },
  provisioner: DRIVER,
  reclaimPolicy: 'Delete',
};

const volume: Volume = {
  capacityBytes: GI,
  volumeId: 'vol-123',
  volumeContext: { pool: 'gold' },
  accessibleTopology: [],
};

function options(overrides: Partial<BuildPersistentVolumeOptions> = {}): BuildPersistentVolumeOptions {
  return {
    claim: claim(),
    storageClass,
    driverName: DRIVER,
    provisionerIdentity: IDENTITY,
    pvName: PV_NAME,
    volume,
    capacityBytes: GI,
    fsType: '',
    controllerPublishReadOnly: false,
    secretRefs: {},
    ...overrides,
  };
}

/** The PV for the default options; cases override parts of it. */
function expectedPv(): V1PersistentVolume {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolume',
    metadata: {
      name: PV_NAME,
      annotations: {
        'pv.kubernetes.io/provisioned-by': DRIVER,
        'volume.kubernetes.io/provisioner-deletion-secret-name': '',
        'volume.kubernetes.io/provisioner-deletion-secret-namespace': '',
      },
      finalizers: ['external-provisioner.volume.kubernetes.io/finalizer'],
    },
    spec: {
      accessModes: ['ReadWriteOnce'],
      capacity: { storage: '1Gi' },
      csi: {
        driver: DRIVER,
        volumeHandle: 'vol-123',
        volumeAttributes: { 'storage.kubernetes.io/csiProvisionerIdentity': IDENTITY, pool: 'gold' },
      },
      claimRef: {
        apiVersion: 'v1',
        kind: 'PersistentVolumeClaim',
        namespace: 'apps',
        name: 'data',
        uid: UID,
        resourceVersion: '42',
      },
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: 'fast',
    },
  };
}

describe('buildPersistentVolume', () => {
  it('builds the normal PV (upstream "normal provision")', () => {
    expect(buildPersistentVolume(options())).toStrictEqual(expectedPv());
  });

  it('records fsType, mount options, Retain and the deletion secret', () => {
    const pv = buildPersistentVolume(
      options({
        storageClass: { ...storageClass, reclaimPolicy: 'Retain', mountOptions: ['noatime', 'discard'] },
        fsType: 'ext4',
        deletionSecret: { name: 'prov-secret', namespace: 'apps' },
      }),
    );
    const expected = expectedPv();
    expected.metadata!.annotations!['volume.kubernetes.io/provisioner-deletion-secret-name'] = 'prov-secret';
    expected.metadata!.annotations!['volume.kubernetes.io/provisioner-deletion-secret-namespace'] = 'apps';
    expected.spec!.csi!.fsType = 'ext4';
    expected.spec!.mountOptions = ['noatime', 'discard'];
    expected.spec!.persistentVolumeReclaimPolicy = 'Retain';
    expect(pv).toStrictEqual(expected);
  });

  it('copies all five secret references and writes the modify-secret annotations', () => {
    const ref = (name: string) => ({ name, namespace: 'secrets' });
    const pv = buildPersistentVolume(
      options({
        secretRefs: {
          controllerPublish: ref('cp'),
          nodeStage: ref('ns'),
          nodePublish: ref('np'),
          controllerExpand: ref('ce'),
          nodeExpand: ref('ne'),
        },
        modifySecret: ref('mod'),
      }),
    );
    const expected = expectedPv();
    Object.assign(expected.metadata!.annotations!, {
      'volume.kubernetes.io/controller-modify-secret-name': 'mod',
      'volume.kubernetes.io/controller-modify-secret-namespace': 'secrets',
    });
    Object.assign(expected.spec!.csi!, {
      controllerPublishSecretRef: ref('cp'),
      nodeStageSecretRef: ref('ns'),
      nodePublishSecretRef: ref('np'),
      controllerExpandSecretRef: ref('ce'),
      nodeExpandSecretRef: ref('ne'),
    });
    expect(pv).toStrictEqual(expected);
  });

  it('copies Block mode and leaves fsType out (upstream "volume mode Block")', () => {
    const pv = buildPersistentVolume(options({ claim: claim({ volumeMode: 'Block' }), fsType: 'ext4' }));
    const expected = expectedPv();
    expected.spec!.volumeMode = 'Block';
    expect(pv).toStrictEqual(expected);
  });

  it('copies Filesystem mode and keeps fsType', () => {
    const pv = buildPersistentVolume(options({ claim: claim({ volumeMode: 'Filesystem' }), fsType: 'xfs' }));
    const expected = expectedPv();
    expected.spec!.volumeMode = 'Filesystem';
    expected.spec!.csi!.fsType = 'xfs';
    expect(pv).toStrictEqual(expected);
  });

  describe('controller-publish read-only (upstream ROX cases)', () => {
    it('is set for a single ROX mode with the flag', () => {
      const pv = buildPersistentVolume(
        options({ claim: claim({ accessModes: ['ReadOnlyMany'] }), controllerPublishReadOnly: true }),
      );
      const expected = expectedPv();
      expected.spec!.accessModes = ['ReadOnlyMany'];
      expected.spec!.csi!.readOnly = true;
      expect(pv).toStrictEqual(expected);
    });
    it('is not set without the flag', () => {
      const pv = buildPersistentVolume(options({ claim: claim({ accessModes: ['ReadOnlyMany'] }) }));
      expect(pv.spec?.csi?.readOnly).toBeUndefined();
    });
    it('is not set when ROX is combined with another mode', () => {
      const pv = buildPersistentVolume(
        options({ claim: claim({ accessModes: ['ReadOnlyMany', 'ReadWriteMany'] }), controllerPublishReadOnly: true }),
      );
      expect(pv.spec?.csi?.readOnly).toBeUndefined();
      expect(pv.spec?.accessModes).toEqual(['ReadOnlyMany', 'ReadWriteMany']);
    });
    it('is not set for RWO with the flag', () => {
      expect(buildPersistentVolume(options({ controllerPublishReadOnly: true })).spec?.csi?.readOnly).toBeUndefined();
    });
  });

  it('uses the given node affinity and VAC name', () => {
    const nodeAffinity = {
      required: {
        nodeSelectorTerms: [
          { matchExpressions: [{ key: 'topology.hostpath.csi/node', operator: 'In', values: ['n1'] }] },
        ],
      },
    };
    const pv = buildPersistentVolume(options({ nodeAffinity, volumeAttributesClassName: 'gold' }));
    const expected = expectedPv();
    expected.spec!.nodeAffinity = nodeAffinity;
    expected.spec!.volumeAttributesClassName = 'gold';
    expect(pv).toStrictEqual(expected);
  });

  it('records the checked capacity, not the raw response (size 0 → requested size)', () => {
    const pv = buildPersistentVolume(
      options({ volume: { ...volume, capacityBytes: 0n }, capacityBytes: 1536n * 1024n ** 2n }),
    );
    expect(pv.spec?.capacity).toEqual({ storage: '1536Mi' });
  });

  it('lets the driver context override the identity key', () => {
    const pv = buildPersistentVolume(
      options({ volume: { ...volume, volumeContext: { 'storage.kubernetes.io/csiProvisionerIdentity': 'driver' } } }),
    );
    expect(pv.spec?.csi?.volumeAttributes).toEqual({ 'storage.kubernetes.io/csiProvisionerIdentity': 'driver' });
  });

  it('annotates with the class provisioner (migration: the in-tree name)', () => {
    const pv = buildPersistentVolume(
      options({ storageClass: { ...storageClass, provisioner: 'kubernetes.io/gce-pd' } }),
    );
    expect(pv.metadata?.annotations?.['pv.kubernetes.io/provisioned-by']).toBe('kubernetes.io/gce-pd');
  });

  it('omits fields Go would drop: no class, no reclaim policy, no resourceVersion', () => {
    const bare: V1PersistentVolumeClaim = {
      metadata: { name: 'data', namespace: 'apps', uid: UID },
      spec: { accessModes: ['ReadWriteOnce'] },
    };
    const pv = buildPersistentVolume(
      options({ claim: bare, storageClass: { ...storageClass, reclaimPolicy: undefined } }),
    );
    const expected = expectedPv();
    delete expected.spec!.storageClassName;
    delete expected.spec!.persistentVolumeReclaimPolicy;
    delete expected.spec!.claimRef!.resourceVersion;
    expect(pv).toStrictEqual(expected);
  });

  it('does not share arrays with its inputs', () => {
    const input = options({ storageClass: { ...storageClass, mountOptions: ['a'] } });
    const pv = buildPersistentVolume(input);
    expect(pv.spec?.accessModes).not.toBe(input.claim.spec?.accessModes);
    expect(pv.spec?.mountOptions).not.toBe(input.storageClass.mountOptions);
  });
});

describe('claimStorageClassName', () => {
  it('prefers the beta annotation, even when empty', () => {
    const withAnnotation = (value: string) => ({
      ...claim(),
      metadata: { ...claim().metadata, annotations: { 'volume.beta.kubernetes.io/storage-class': value } },
    });
    expect(claimStorageClassName(withAnnotation('legacy'))).toBe('legacy');
    expect(claimStorageClassName(withAnnotation(''))).toBe('');
  });
  it('falls back to spec.storageClassName, then ""', () => {
    expect(claimStorageClassName(claim())).toBe('fast');
    expect(claimStorageClassName(claim({ storageClassName: undefined }))).toBe('');
  });
});

describe('formatBinarySIQuantity (upstream TestBytesToQuantity and resource.NewQuantity(…, BinarySI))', () => {
  const cases: [string, bigint, string][] = [
    ['Gibibyte that cannot be put into any nice format', 5970004541n, '5970004541'],
    ['Gibibyte that can be put nicer', 5632n * 1024n ** 2n, '5632Mi'],
    ['Gibibyte exact', 5n * GI, '5Gi'],
    ['Mebibyte that cannot be put nicer', 5484052n, '5484052'],
    ['Kibibyte', 102400n, '100Ki'],
    ['zero', 0n, '0'],
    ['small plain bytes', 999n, '999'],
    ['below 1024 uses decimal SI', 1000n, '1k'],
    ['1023', 1023n, '1023'],
    ['1024', 1024n, '1Ki'],
    ['1536Mi', 1536n * 1024n ** 2n, '1536Mi'],
    ['not a multiple of 1024 above 1024', 2000n, '2000'],
    ['1Ti', 1024n ** 4n, '1Ti'],
    ['1Pi', 1024n ** 5n, '1Pi'],
    ['7Ei', 7n * 1024n ** 6n, '7Ei'],
    ['int64 max', (1n << 63n) - 1n, '9223372036854775807'],
    ['negative', -2n * GI, '-2Gi'],
    ['small negative', -1000n, '-1k'],
  ];
  it.each(cases)('%s', (_name, bytes, expected) => {
    expect(formatBinarySIQuantity(bytes)).toBe(expected);
  });
  it('rejects values outside int64', () => {
    expect(() => formatBinarySIQuantity(1n << 63n)).toThrow(RangeError);
  });
});
