import type {
  V1CSINode,
  V1Node,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1StorageClass,
  V1VolumeAttachment,
} from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { objectReference } from '../shared/events/event-recorder.js';
import { discardLogger } from '../shared/log/logger.js';
import type { CacheReader } from '../shared/kube/cache.js';
import { stripManagedFields } from '../shared/kube/cache.js';
import {
  CACHED_VOLUME_ANNOTATIONS,
  LAST_APPLIED_ANNOTATION,
  cacheTransforms,
  slimClaim,
  slimCsiNode,
  slimNode,
  slimStorageClass,
  slimVolume,
  slimVolumeAttachment,
} from './cache-transforms.js';
import { buildCreateVolumeRequest } from './create-volume-request.js';
import { classifyDataSource, dataSourceLabel } from './data-source.js';
import { deletionSecretReference } from './deletion-secrets.js';
import {
  ANN_BETA_STORAGE_CLASS,
  ANN_DELETION_SECRET_NAME,
  ANN_DELETION_SECRET_NAMESPACE,
  ANN_DYNAMICALLY_PROVISIONED,
  ANN_MIGRATED_TO,
  ANN_SELECTED_NODE,
  FINALIZER_PV,
} from './keys.js';
import { cloneContentSource } from './clone-source.js';
import { claimStorageClassName } from './pv.js';
import { getSecretReferences } from './secrets.js';
import { selectedNodeName, shouldProvision } from './should-provision.js';
import { REALISTIC_DRIVER, realisticPair } from './testing/realistic-objects.js';
import { generateAccessibilityRequirements } from './topology.js';
import { finalizerUpkeepPatch, removeFinalizerPatch } from './volume-finalizer.js';
import {
  hasVolumeFinalizer,
  isBeingDeleted,
  isOwnedVolume,
  shouldDeleteVolume,
  volumeClassName,
} from './volume-ownership.js';

const DRIVER = REALISTIC_DRIVER;

/** A fresh deep copy, as the informer hands the transform a freshly parsed object it may reuse. */
function parsed<T>(obj: T): T {
  return structuredClone(obj);
}

function jsonSize(obj: unknown): number {
  return JSON.stringify(obj).length;
}

function cache<T extends { metadata?: { name?: string; namespace?: string } }>(items: T[]): CacheReader<T> {
  const key = (o: T): string =>
    o.metadata?.namespace ? `${o.metadata.namespace}/${o.metadata.name ?? ''}` : (o.metadata?.name ?? '');
  const byKey = new Map(items.map((o) => [key(o), o]));
  return {
    get: (k) => byKey.get(k),
    list: () => [...byKey.values()],
    keys: () => [...byKey.keys()],
    byIndex: () => {
      throw new Error('no index');
    },
  };
}

/** Claims covering every branch the claim side reads. */
function claimVariants(): [string, V1PersistentVolumeClaim][] {
  const base = realisticPair(1).claim;
  const unbound = (): V1PersistentVolumeClaim => {
    const c = parsed(base);
    delete c.spec?.volumeName;
    c.status = { phase: 'Pending', conditions: [{ type: 'Resizing', status: 'False' }] };
    return c;
  };
  const withAnnotations = (extra: Record<string, string>): V1PersistentVolumeClaim => {
    const c = unbound();
    c.metadata = { ...c.metadata, annotations: { ...c.metadata?.annotations, ...extra } };
    return c;
  };
  const withSpec = (spec: Partial<NonNullable<V1PersistentVolumeClaim['spec']>>): V1PersistentVolumeClaim => {
    const c = unbound();
    c.spec = { ...c.spec, ...spec };
    return c;
  };
  return [
    ['bound', parsed(base)],
    ['unbound', unbound()],
    ['selected node', withAnnotations({ [ANN_SELECTED_NODE]: 'node-1' })],
    ['beta class annotation', withAnnotations({ [ANN_BETA_STORAGE_CLASS]: 'slow' })],
    ['migrated', withAnnotations({ [ANN_MIGRATED_TO]: DRIVER, 'volume.kubernetes.io/storage-provisioner': 'x' })],
    ['secret template annotation', withAnnotations({ 'example.com/secret': 'creds' })],
    ['block, RWX, selector', withSpec({ volumeMode: 'Block', accessModes: ['ReadWriteMany'], selector: {} })],
    ['bad size', withSpec({ resources: { requests: { storage: '1Qi' } } })],
    [
      'snapshot source',
      withSpec({ dataSource: { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 's' } }),
    ],
    ['populator source', withSpec({ dataSourceRef: { apiGroup: 'example.com', kind: 'Thing', name: 't' } })],
    [
      'no uid',
      (() => {
        const c = unbound();
        delete c.metadata?.uid;
        return c;
      })(),
    ],
  ];
}

const classes: V1StorageClass[] = [
  {
    metadata: { name: 'csi-hostpath-sc' },
    provisioner: DRIVER,
    parameters: {
      'csi.storage.k8s.io/provisioner-secret-name': "${pvc.annotations['example.com/secret']}",
      'csi.storage.k8s.io/provisioner-secret-namespace': '${pvc.namespace}',
    },
    mountOptions: ['noatime'],
  },
  { metadata: { name: 'slow' }, provisioner: DRIVER, volumeBindingMode: 'WaitForFirstConsumer' },
];

/** Everything the claim side decides from a claim, as one comparable value. */
function claimDecisions(claim: V1PersistentVolumeClaim, volumes: CacheReader<V1PersistentVolume>): unknown {
  const className = claimStorageClassName(claim);
  const storageClass = classes.find((c) => c.metadata?.name === className) ?? classes[0];
  const pvName = `pvc-${claim.metadata?.uid ?? ''}`;
  const decision = shouldProvision({
    claim,
    driverName: DRIVER,
    classes: cache(classes),
    volumes,
    pvName,
    isUnsaved: () => false,
  });
  let secrets: unknown;
  try {
    secrets = getSecretReferences({
      parameters: storageClass.parameters ?? {},
      pvName,
      claim: {
        name: claim.metadata?.name ?? '',
        namespace: claim.metadata?.namespace ?? '',
        annotations: claim.metadata?.annotations,
      },
      warn: () => undefined,
    });
  } catch (err) {
    secrets = (err as Error).message;
  }
  const built = buildCreateVolumeRequest({
    claim,
    storageClass,
    volumeNamePrefix: 'pvc',
    volumeNameUUIDLength: -1,
    defaultFsType: 'ext4',
    parameters: {},
    extraCreateMetadata: true,
    supportsSingleNodeMultiWriter: true,
  });
  return {
    decision,
    className,
    selectedNode: selectedNodeName(claim),
    dataSource: classifyDataSource(claim),
    dataSourceLabel: dataSourceLabel(claim),
    secrets,
    built: built.ok ? built : built.error.message,
    reference: objectReference(claim, 'v1', 'PersistentVolumeClaim'),
    uid: claim.metadata?.uid,
    phase: claim.status?.phase,
  };
}

/** Volumes covering every branch the volume side reads. */
function volumeVariants(): [string, V1PersistentVolume][] {
  const base = realisticPair(2).volume;
  const variant = (change: (pv: V1PersistentVolume) => void): V1PersistentVolume => {
    const pv = parsed(base);
    change(pv);
    return pv;
  };
  const setAnnotations = (pv: V1PersistentVolume, annotations: Record<string, string>): void => {
    pv.metadata = { ...pv.metadata, annotations };
  };
  return [
    ['bound', parsed(base)],
    ['released', variant((pv) => (pv.status = { phase: 'Released', message: 'x' }))],
    [
      'released, deleting, finalizer',
      variant((pv) => {
        pv.status = { phase: 'Released' };
        pv.metadata = { ...pv.metadata, deletionTimestamp: '2026-08-01T00:00:00Z' as unknown as Date };
      }),
    ],
    [
      'released, deleting, no finalizer',
      variant((pv) => {
        pv.status = { phase: 'Released' };
        pv.metadata = { ...pv.metadata, deletionTimestamp: '2026-08-01T00:00:00Z' as unknown as Date, finalizers: [] };
      }),
    ],
    ['bound without finalizers', variant((pv) => delete pv.metadata?.finalizers)],
    ['retain', variant((pv) => pv.spec && (pv.spec.persistentVolumeReclaimPolicy = 'Retain'))],
    ['other driver', variant((pv) => setAnnotations(pv, { [ANN_DYNAMICALLY_PROVISIONED]: 'other' }))],
    ['static CSI', variant((pv) => setAnnotations(pv, {}))],
    [
      'static in-tree migrated',
      variant((pv) => {
        setAnnotations(pv, { [ANN_MIGRATED_TO]: DRIVER });
        if (pv.spec) {
          delete pv.spec.csi;
          pv.spec.awsElasticBlockStore = { volumeID: 'vol-1' };
        }
      }),
    ],
    [
      'no deletion-secret annotations, class with templates',
      variant((pv) => {
        setAnnotations(pv, { [ANN_DYNAMICALLY_PROVISIONED]: DRIVER, [ANN_BETA_STORAGE_CLASS]: 'csi-hostpath-sc' });
        pv.status = { phase: 'Released' };
      }),
    ],
    [
      'deletion secret set',
      variant((pv) =>
        setAnnotations(pv, {
          [ANN_DYNAMICALLY_PROVISIONED]: DRIVER,
          [ANN_DELETION_SECRET_NAME]: 's',
          [ANN_DELETION_SECRET_NAMESPACE]: 'ns',
        }),
      ),
    ],
  ];
}

const secretClasses: V1StorageClass[] = [
  {
    metadata: { name: 'csi-hostpath-sc' },
    provisioner: DRIVER,
    parameters: {
      'csi.storage.k8s.io/provisioner-secret-name': '${pvc.name}-${pv.name}',
      'csi.storage.k8s.io/provisioner-secret-namespace': '${pvc.namespace}',
    },
  },
];

function volumeDecisions(pv: V1PersistentVolume): unknown {
  let secret: unknown;
  try {
    secret = deletionSecretReference({ pv, classes: cache(secretClasses), warn: () => undefined });
  } catch (err) {
    secret = (err as Error).message;
  }
  return {
    owned: isOwnedVolume(pv, DRIVER),
    deleting: isBeingDeleted(pv),
    finalizer: hasVolumeFinalizer(pv),
    shouldDelete: shouldDeleteVolume(pv),
    className: volumeClassName(pv),
    // The storageClassName label of the delete metrics.
    metricClass: pv.spec?.storageClassName ?? '',
    upkeep: finalizerUpkeepPatch(pv),
    remove: removeFinalizerPatch(pv),
    secret,
    handle: pv.spec?.csi?.volumeHandle,
    reference: objectReference(pv, 'v1', 'PersistentVolume'),
  };
}

describe('slimClaim', () => {
  const volumes = cache([slimVolume(parsed(realisticPair(1).volume))]);

  it.each(claimVariants())('the claim side decides the same on a slim claim (%s)', (_name, claim) => {
    expect(claimDecisions(slimClaim(parsed(claim)), volumes)).toEqual(claimDecisions(claim, volumes));
  });

  it('keeps all metadata but managedFields, the spec and the phase', () => {
    const claim = parsed(realisticPair(3).claim);
    claim.metadata = { ...claim.metadata, deletionTimestamp: '2026-08-01T00:00:00Z' as unknown as Date };
    const slim = slimClaim(parsed(claim));
    const { managedFields: _managedFields, ...metadata } = parsed(claim).metadata ?? {};
    expect(slim).toEqual({ metadata, spec: claim.spec, status: { phase: 'Bound' } });
  });

  it('keeps labels, ownerReferences and every annotation, because claims are written back with update', () => {
    const claim = parsed(realisticPair(4).claim);
    claim.metadata = {
      ...claim.metadata,
      labels: { app: 'web' },
      ownerReferences: [{ apiVersion: 'apps/v1', kind: 'StatefulSet', name: 'web', uid: 'u' }],
      annotations: { ...claim.metadata?.annotations, [LAST_APPLIED_ANNOTATION]: '{"kind":"PersistentVolumeClaim"}' },
    };
    const slim = slimClaim(parsed(claim));
    expect(slim.metadata?.managedFields).toBeUndefined();
    expect(slim.metadata?.labels).toEqual({ app: 'web' });
    expect(slim.metadata?.ownerReferences).toEqual(claim.metadata.ownerReferences);
    expect(slim.metadata?.annotations?.[LAST_APPLIED_ANNOTATION]).toBe('{"kind":"PersistentVolumeClaim"}');
    expect(slim.status).toEqual({ phase: 'Bound' });
    expect(jsonSize(slim)).toBeLessThan(jsonSize(stripManagedFields(parsed(claim))));
  });

  it('adds no keys for absent fields', () => {
    expect(slimClaim({ metadata: { name: 'c' } })).toEqual({ metadata: { name: 'c' } });
    expect(Object.keys(slimClaim({}))).toEqual([]);
  });
});

describe('clone sources', () => {
  const source = realisticPair(7);
  const variants: [string, (pair: { claim: V1PersistentVolumeClaim; volume: V1PersistentVolume }) => void][] = [
    ['usable', () => undefined],
    ['source pending', (p) => (p.claim.status = { phase: 'Pending', conditions: [{ type: 'X', status: 'True' }] })],
    [
      'source deleting',
      (p) => p.claim.metadata && (p.claim.metadata.deletionTimestamp = '2026-08-01T00:00:00Z' as unknown as Date),
    ],
    ['source too large', (p) => p.claim.spec && (p.claim.spec.resources = { requests: { storage: '2Gi' } })],
    ['volume block', (p) => p.volume.spec && (p.volume.spec.volumeMode = 'Block')],
    ['volume of another claim', (p) => p.volume.spec?.claimRef && (p.volume.spec.claimRef.uid = 'other')],
    ['volume released', (p) => (p.volume.status = { phase: 'Released' })],
    ['volume of another driver', (p) => p.volume.spec?.csi && (p.volume.spec.csi.driver = 'other')],
  ];
  const outcome = (claims: V1PersistentVolumeClaim[], volumes: V1PersistentVolume[]): unknown => {
    const clone = parsed(realisticPair(8).claim);
    delete clone.spec?.volumeName;
    clone.spec = {
      ...clone.spec,
      dataSource: { kind: 'PersistentVolumeClaim', name: source.claim.metadata?.name ?? '' },
    };
    try {
      return cloneContentSource({
        claim: clone,
        storageClass: classes[0],
        source: { name: source.claim.metadata?.name ?? '', namespace: source.claim.metadata?.namespace ?? '' },
        claims: cache(claims),
        volumes: cache(volumes),
        logger: discardLogger(),
      });
    } catch (err) {
      return (err as Error).message;
    }
  };

  it.each(variants)('clone-source decides the same on slim objects (%s)', (_name, change) => {
    const pair = parsed(source);
    change(pair);
    expect(outcome([slimClaim(parsed(pair.claim))], [slimVolume(parsed(pair.volume))])).toEqual(
      outcome([pair.claim], [pair.volume]),
    );
  });
});

describe('slimVolume', () => {
  it.each(volumeVariants())('the volume side decides the same on a slim volume (%s)', (_name, pv) => {
    expect(volumeDecisions(slimVolume(parsed(pv)))).toEqual(volumeDecisions(pv));
  });

  it('keeps exactly the fields the volume controller reads', () => {
    const pv = parsed(realisticPair(5).volume);
    expect(slimVolume(parsed(pv))).toEqual({
      metadata: {
        name: pv.metadata?.name,
        uid: pv.metadata?.uid,
        resourceVersion: pv.metadata?.resourceVersion,
        annotations: pv.metadata?.annotations,
        finalizers: [FINALIZER_PV, 'kubernetes.io/pv-protection'],
      },
      spec: {
        csi: { driver: DRIVER, volumeHandle: pv.spec?.csi?.volumeHandle },
        persistentVolumeReclaimPolicy: 'Delete',
        storageClassName: 'csi-hostpath-sc',
        volumeMode: 'Filesystem',
        claimRef: {
          namespace: pv.spec?.claimRef?.namespace,
          name: pv.spec?.claimRef?.name,
          uid: pv.spec?.claimRef?.uid,
        },
      },
      status: { phase: 'Bound' },
    });
  });

  it('keeps only the annotations it reads', () => {
    const annotations = Object.fromEntries(CACHED_VOLUME_ANNOTATIONS.map((k) => [k, `v-${k}`]));
    const pv: V1PersistentVolume = {
      metadata: { name: 'pv', annotations: { ...annotations, 'pv.kubernetes.io/bound-by-controller': 'yes' } },
    };
    expect(slimVolume(pv).metadata?.annotations).toEqual(annotations);
    expect(slimVolume({ metadata: { name: 'pv', annotations: { other: 'x' } } }).metadata).toEqual({ name: 'pv' });
  });

  it('is under two thirds of the managedFields-stripped object', () => {
    const pv = realisticPair(6).volume;
    expect(jsonSize(slimVolume(parsed(pv)))).toBeLessThan((jsonSize(stripManagedFields(parsed(pv))) * 2) / 3);
  });
});

describe('slimNode and slimCsiNode', () => {
  const zone = 'topology.hostpath.csi/zone';
  const nodes: V1Node[] = [0, 1, 2].map((i) => ({
    metadata: {
      name: `node-${i}`,
      uid: `n${i}`,
      resourceVersion: '5',
      labels: { [zone]: `z${i % 2}`, 'kubernetes.io/hostname': `node-${i}` },
      annotations: { 'node.alpha.kubernetes.io/ttl': '0' },
      managedFields: [{ manager: 'kubelet' }],
    },
    spec: { podCIDR: '10.0.0.0/24', taints: [{ key: 'k', effect: 'NoSchedule' }] },
    status: {
      images: [{ names: ['registry.example/image@sha256:abc'], sizeBytes: 1 }],
      conditions: [{ type: 'Ready', status: 'True' }],
    },
  }));
  const csiNodes: V1CSINode[] = [0, 1, 2].map((i) => ({
    metadata: { name: `node-${i}`, uid: `c${i}`, resourceVersion: '6', managedFields: [{ manager: 'kubelet' }] },
    spec: {
      drivers: [
        { name: 'other.csi', nodeID: `o${i}`, topologyKeys: ['other/zone'] },
        ...(i === 2 ? [] : [{ name: DRIVER, nodeID: `h${i}`, topologyKeys: [zone] }]),
      ],
    },
  }));
  const requirements = (n: V1Node[], c: V1CSINode[], selected: string): unknown => {
    try {
      return generateAccessibilityRequirements({
        driverName: DRIVER,
        supportsTopology: true,
        strictTopology: false,
        immediateTopology: true,
        pvcName: 'data-web-0',
        storageClass: {},
        selectedNodeName: selected,
        nodes: n,
        csiNodes: c,
        random: () => 0,
      });
    } catch (err) {
      return (err as Error).message;
    }
  };

  it.each(['', 'node-0', 'node-2', 'node-9'])('topology decides the same on slim objects (selected %j)', (selected) => {
    const slimNodes = nodes.map((n) => slimNode(parsed(n)));
    const slimCsiNodes = csiNodes.map((c) => slimCsiNode(DRIVER)(parsed(c)));
    expect(requirements(slimNodes, slimCsiNodes, selected)).toEqual(requirements(nodes, csiNodes, selected));
  });

  it('keeps a Node’s name and labels only', () => {
    expect(slimNode(parsed(nodes[0]))).toEqual({
      metadata: { name: 'node-0', uid: 'n0', resourceVersion: '5', labels: nodes[0].metadata?.labels },
    });
  });

  it("keeps only this driver's CSINode entry, and an empty list when it is not registered", () => {
    expect(slimCsiNode(DRIVER)(parsed(csiNodes[0]))).toEqual({
      metadata: { name: 'node-0', uid: 'c0', resourceVersion: '6' },
      spec: { drivers: [{ name: DRIVER, nodeID: 'h0', topologyKeys: [zone] }] },
    });
    expect(slimCsiNode(DRIVER)(parsed(csiNodes[2])).spec.drivers).toEqual([]);
  });
});

describe('slimStorageClass', () => {
  it("keeps everything but managedFields and kubectl's last-applied copy", () => {
    const sc: V1StorageClass = {
      metadata: {
        name: 'fast',
        uid: 'u',
        resourceVersion: '3',
        labels: { a: 'b' },
        annotations: { 'storageclass.kubernetes.io/is-default-class': 'true', [LAST_APPLIED_ANNOTATION]: '{}' },
        managedFields: [{ manager: 'kubectl' }],
      },
      provisioner: DRIVER,
      parameters: { type: 'ssd' },
      reclaimPolicy: 'Retain',
      volumeBindingMode: 'WaitForFirstConsumer',
      allowVolumeExpansion: true,
      mountOptions: ['noatime'],
      allowedTopologies: [{ matchLabelExpressions: [{ key: 'z', values: ['a'] }] }],
    };
    const expected = parsed(sc);
    delete expected.metadata?.managedFields;
    delete expected.metadata?.annotations?.[LAST_APPLIED_ANNOTATION];
    expect(slimStorageClass(parsed(sc))).toEqual(expected);
    expect(slimStorageClass({ metadata: { name: 'x' }, provisioner: 'p' })).toEqual({
      metadata: { name: 'x' },
      provisioner: 'p',
    });
  });
});

describe('slimVolumeAttachment', () => {
  it('keeps what the delete guard reads and drops inline specs and status', () => {
    const va: V1VolumeAttachment = {
      metadata: {
        name: 'csi-abc',
        uid: 'u',
        resourceVersion: '9',
        annotations: { 'csi.alpha.kubernetes.io/node-id': 'n' },
        finalizers: ['external-attacher/hostpath-csi-k8s-io'],
        managedFields: [{ manager: 'csi-attacher' }],
      },
      spec: { attacher: DRIVER, nodeName: 'node-1', source: { persistentVolumeName: 'pv-1' } },
      status: { attached: true, attachmentMetadata: { devicePath: '/dev/x' } },
    };
    expect(slimVolumeAttachment(parsed(va))).toEqual({
      metadata: { name: 'csi-abc', uid: 'u', resourceVersion: '9' },
      spec: { attacher: DRIVER, nodeName: 'node-1', source: { persistentVolumeName: 'pv-1' } },
    });
    const inline = parsed(va);
    inline.spec.source = { inlineVolumeSpec: { csi: { driver: DRIVER, volumeHandle: 'h' } } };
    expect(slimVolumeAttachment(inline).spec.source).toEqual({});
  });
});

describe('cacheTransforms', () => {
  it('names one transform per provisioner informer', () => {
    const t = cacheTransforms(DRIVER);
    expect(t.claims).toBe(slimClaim);
    expect(t.volumes).toBe(slimVolume);
    expect(t.classes).toBe(slimStorageClass);
    expect(t.nodes).toBe(slimNode);
    expect(t.attachments).toBe(slimVolumeAttachment);
    expect(t.csiNodes({ metadata: { name: 'n' }, spec: { drivers: [] } })).toEqual({
      metadata: { name: 'n' },
      spec: { drivers: [] },
    });
  });
});
