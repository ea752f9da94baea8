import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { TEST_DRIVER_NAME } from '../shared/testing/csi-test-driver.js';
import { ANN_ALLOW_VOLUME_MODE_CHANGE, ANN_BETA_STORAGE_CLASS, FINALIZER_SNAPSHOT_SOURCE_PROTECTION } from './keys.js';
import { CLAIM_KEY, PV_NAME, useClaimControllerFixture } from './testing/claim-controller-fixture.js';
import type { FixtureOptions, ClaimControllerFixture } from './testing/claim-controller-fixture.js';
import type { VolumeSnapshot, VolumeSnapshotContent } from './snapshot-types.js';
import { sourceClaim, sourceVolume } from './testing/clone-source-objects.js';
import type { ReferenceGrant } from './reference-grants.js';

const start = useClaimControllerFixture();

function claimOf(f: ClaimControllerFixture): V1PersistentVolumeClaim {
  return f.claims.get(CLAIM_KEY)!;
}

/** Fails the sync and returns the ProvisioningFailed message. */
async function failure(f: ClaimControllerFixture): Promise<string> {
  await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow();
  const event = f.recorder.events.at(-1);
  expect(event?.reason).toBe('ProvisioningFailed');
  expect(event?.type).toBe('Warning');
  return event?.message ?? '';
}

describe('clone from a PersistentVolumeClaim', () => {
  async function startClone(options: FixtureOptions = {}): Promise<ClaimControllerFixture> {
    const f = await start({ ...options, capabilities: { cloning: true, ...options.capabilities } });
    f.claims.set(sourceClaim());
    f.volumes.set(sourceVolume());
    claimOf(f).spec!.dataSource = { kind: 'PersistentVolumeClaim', name: 'src' };
    return f;
  }
  const src = (f: ClaimControllerFixture): V1PersistentVolumeClaim => f.claims.get('default/src')!;
  const pv = (f: ClaimControllerFixture): V1PersistentVolume => f.volumes.get('pv-src')!;

  it('sends the source volume handle and saves the PV', async () => {
    const f = await startClone();
    await f.controller.sync(CLAIM_KEY);
    const [request] = f.driver.callsTo('CreateVolume');
    expect(request.volumeContentSource).toEqual({ type: { $case: 'volume', value: { volumeId: 'src-handle' } } });
    expect(request.capacityRange?.requiredBytes).toBe(1073741824n);
    const saved = f.kube.volumes.get(PV_NAME);
    expect(saved?.spec).toMatchObject({
      capacity: { storage: '1Gi' },
      csi: { driver: TEST_DRIVER_NAME, volumeHandle: `vol-${PV_NAME}` },
      storageClassName: 'sc',
      claimRef: { name: 'pvc1', namespace: 'default' },
    });
    expect(f.recorder.reasons()).toEqual(['Provisioning', 'ProvisioningSucceeded']);
  });

  const allowed: [string, (f: ClaimControllerFixture) => void][] = [
    ['a different StorageClass on the source', (f) => (src(f).spec!.storageClassName = 'other')],
    ['a larger destination', (f) => (claimOf(f).spec!.resources!.requests!['storage'] = '2Gi')],
    ['Block to Block', (f) => ((claimOf(f).spec!.volumeMode = 'Block'), (pv(f).spec!.volumeMode = 'Block'))],
    [
      'Filesystem to Filesystem, explicit',
      (f) => ((claimOf(f).spec!.volumeMode = 'Filesystem'), (pv(f).spec!.volumeMode = 'Filesystem')),
    ],
    ['unset claim mode, Filesystem source', (f) => (pv(f).spec!.volumeMode = 'Filesystem')],
  ];
  it.each(allowed)('allows %s', async (_name, arrange) => {
    const f = await startClone();
    arrange(f);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
  });

  const NOT_BOUND = 'claim in dataSource not bound or invalid';
  const MODE_BLOCK_TO_FS =
    'the source PVC and destination PVCs must have the same volume mode for cloning.  Source is Block, but new PVC requested Filesystem';
  const MODE_FS_TO_BLOCK =
    'the source PVC and destination PVCs must have the same volume mode for cloning.  Source is Filesystem, but new PVC requested Block';
  const refused: [string, (f: ClaimControllerFixture) => void, string][] = [
    [
      'source claim missing',
      (f) => f.claims.delete('default/src'),
      'error getting PVC src (namespace "default") from api server: persistentvolumeclaim "src" not found',
    ],
    [
      'source claim Pending',
      (f) => (src(f).status = { phase: 'Pending' }),
      'the PVC DataSource src must have a status of Bound.  Got {Pending [] map[] [] map[] map[] <nil> <nil>}',
    ],
    [
      'source claim Lost',
      (f) => (src(f).status = { phase: 'Lost' }),
      'the PVC DataSource src must have a status of Bound.  Got {Lost [] map[] [] map[] map[] <nil> <nil>}',
    ],
    [
      'source claim being deleted',
      (f) => (src(f).metadata!.deletionTimestamp = new Date()),
      'the PVC DataSource src is currently being deleted',
    ],
    [
      'source StorageClass unset',
      (f) => delete src(f).spec!.storageClassName,
      'the source PVC (src) storageclass cannot be empty',
    ],
    [
      'requested StorageClass unset',
      (f) => {
        // Only the legacy annotation names the class, so the claim is still provisioned.
        delete claimOf(f).spec!.storageClassName;
        claimOf(f).metadata!.annotations![ANN_BETA_STORAGE_CLASS] = 'sc';
      },
      'the requested PVC (pvc1) storageclass cannot be empty',
    ],
    [
      'destination smaller',
      (f) => (src(f).spec!.resources!.requests!['storage'] = '2Gi'),
      'error, new PVC request must be greater than or equal in size to the specified PVC data source, requested 1073741824 but source is 2147483648',
    ],
    ['source volume name empty', (f) => delete src(f).spec!.volumeName, 'volume name is empty in source PVC src'],
    ['source PV missing', (f) => f.volumes.delete('pv-src'), NOT_BOUND],
    ['source PV not CSI', (f) => delete pv(f).spec!.csi, NOT_BOUND],
    ['source PV of another driver', (f) => (pv(f).spec!.csi!.driver = 'other.csi'), NOT_BOUND],
    ['source PV unbound', (f) => delete pv(f).spec!.claimRef, NOT_BOUND],
    ['source PV bound to another uid', (f) => (pv(f).spec!.claimRef!.uid = 'x'), NOT_BOUND],
    ['source PV bound in another namespace', (f) => (pv(f).spec!.claimRef!.namespace = 'x'), NOT_BOUND],
    ['source PV bound to another name', (f) => (pv(f).spec!.claimRef!.name = 'x'), NOT_BOUND],
    ['source PV Released', (f) => (pv(f).status = { phase: 'Released' }), NOT_BOUND],
    ['source PV Failed', (f) => (pv(f).status = { phase: 'Failed' }), NOT_BOUND],
    ['source PV Pending', (f) => (pv(f).status = { phase: 'Pending' }), NOT_BOUND],
    ['source PV Available', (f) => (pv(f).status = { phase: 'Available' }), NOT_BOUND],
    ['unset claim mode from Block', (f) => (pv(f).spec!.volumeMode = 'Block'), MODE_BLOCK_TO_FS],
    [
      'Filesystem from Block',
      (f) => ((claimOf(f).spec!.volumeMode = 'Filesystem'), (pv(f).spec!.volumeMode = 'Block')),
      MODE_BLOCK_TO_FS,
    ],
    ['Block from unset', (f) => (claimOf(f).spec!.volumeMode = 'Block'), MODE_FS_TO_BLOCK],
    [
      'Block from Filesystem',
      (f) => ((claimOf(f).spec!.volumeMode = 'Block'), (pv(f).spec!.volumeMode = 'Filesystem')),
      MODE_FS_TO_BLOCK,
    ],
  ];
  it.each(refused)('refuses %s', async (_name, arrange, inner) => {
    const f = await startClone();
    arrange(f);
    expect(await failure(f)).toBe(
      `error getting handle for DataSource Type PersistentVolumeClaim by Name src: ${inner}`,
    );
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });

  it('needs CLONE_VOLUME', async () => {
    const f = await startClone({ capabilities: { cloning: false } });
    expect(await failure(f)).toBe(
      `CSI driver does not support clone operations: controller CLONE_VOLUME capability is not reported`,
    );
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });

  it('deletes a volume returned without content source and retries in the background', async () => {
    const f = await startClone();
    f.driver.enqueue('CreateVolume', { volume: { volumeId: 'empty-vol', capacityBytes: 1073741824n } });
    expect(await failure(f)).toBe(`volume content source missing`);
    expect(f.driver.callsTo('DeleteVolume')).toEqual([{ volumeId: 'empty-vol', secrets: {} }]);
    expect(f.controller.inFlightCount).toBe(1);
    expect(f.kube.callsTo('createPersistentVolume')).toHaveLength(0);
    await f.controller.sync(CLAIM_KEY);
    expect(f.controller.inFlightCount).toBe(0);
    expect(f.kube.volumes.has(PV_NAME)).toBe(true);
  });

  it('refuses a cross-namespace dataSourceRef while the gate is off', async () => {
    const f = await startClone();
    delete claimOf(f).spec!.dataSource;
    claimOf(f).spec!.dataSourceRef = { kind: 'PersistentVolumeClaim', name: 'src', namespace: 'other' };
    expect(await failure(f)).toBe(
      `dataSourceRef namespace specified but the CrossNamespaceVolumeDataSource feature is disabled`,
    );
  });

  describe('from another namespace (CrossNamespaceVolumeDataSource gate)', () => {
    const gate = ['--feature-gates=CrossNamespaceVolumeDataSource=true'];
    const allowClaims: ReferenceGrant = {
      metadata: { name: 'allow-default', namespace: 'other' },
      spec: {
        from: [{ group: '', kind: 'PersistentVolumeClaim', namespace: 'default' }],
        to: [{ group: '', kind: 'PersistentVolumeClaim', name: 'src' }],
      },
    };
    async function startCrossNamespace(grants: ReferenceGrant[], synced = true): Promise<ClaimControllerFixture> {
      const f = await startClone({ argv: gate, referenceGrants: { hasSynced: () => synced, list: () => grants } });
      f.claims.delete('default/src');
      f.claims.set(sourceClaim({ namespace: 'other' }));
      f.volumes.set({
        ...sourceVolume(),
        spec: { ...sourceVolume().spec, claimRef: { namespace: 'other', name: 'src', uid: 'src-uid' } },
      });
      delete claimOf(f).spec!.dataSource;
      claimOf(f).spec!.dataSourceRef = { kind: 'PersistentVolumeClaim', name: 'src', namespace: 'other' };
      return f;
    }

    it('clones a source a ReferenceGrant allows', async () => {
      const f = await startCrossNamespace([allowClaims]);
      await f.controller.sync(CLAIM_KEY);
      const [request] = f.driver.callsTo('CreateVolume');
      expect(request.volumeContentSource).toEqual({ type: { $case: 'volume', value: { volumeId: 'src-handle' } } });
      expect(f.kube.volumes.has(PV_NAME)).toBe(true);
    });

    it("refuses, with upstream's message and a retry, a source no ReferenceGrant allows", async () => {
      const f = await startCrossNamespace([{ ...allowClaims, metadata: { name: 'elsewhere', namespace: 'default' } }]);
      expect(await failure(f)).toBe(
        `accessing other/src of PersistentVolumeClaim dataSource from default/pvc1 isn't allowed`,
      );
      expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
    });

    it('ends the operation on a refusal (Finished, as upstream), forgetting a CreateVolume that may run', async () => {
      const grants = [allowClaims];
      const f = await startCrossNamespace(grants);
      f.driver.fail('CreateVolume', status.DEADLINE_EXCEEDED);
      await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('DeadlineExceeded');
      expect(f.controller.inFlightCount).toBe(1);
      grants.length = 0;
      await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow("isn't allowed");
      expect(f.controller.inFlightCount).toBe(0);
    });

    it('checks a populator source in another namespace too, before leaving it to the populator', async () => {
      const populatorRef = { apiGroup: 'populator.example.com', kind: 'Thing', name: 't', namespace: 'other' };
      const allowThing = {
        ...allowClaims,
        spec: { ...allowClaims.spec, to: [{ group: 'populator.example.com', kind: 'Thing' }] },
      };
      const refused = await startCrossNamespace([allowClaims]);
      claimOf(refused).spec!.dataSourceRef = populatorRef;
      expect(await failure(refused)).toBe(`accessing other/t of Thing dataSource from default/pvc1 isn't allowed`);
      const allowed = await startCrossNamespace([allowThing]);
      claimOf(allowed).spec!.dataSourceRef = populatorRef;
      await allowed.controller.sync(CLAIM_KEY);
      expect(allowed.recorder.events.at(-1)?.message).toBe('Assuming an external populator will provision the volume');
      expect(allowed.driver.callsTo('CreateVolume')).toHaveLength(0);
    });

    it('waits for the ReferenceGrant cache and says what may be missing', async () => {
      const f = await startCrossNamespace([allowClaims], false);
      expect(await failure(f)).toContain('is the Gateway API ReferenceGrant CRD installed');
      expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
    });
  });

  it('uses a same-namespace dataSourceRef', async () => {
    const f = await startClone();
    delete claimOf(f).spec!.dataSource;
    claimOf(f).spec!.dataSourceRef = { kind: 'PersistentVolumeClaim', name: 'src' };
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')[0].volumeContentSource?.type?.$case).toBe('volume');
  });
});

describe('restore from a VolumeSnapshot', () => {
  function snapshot(): VolumeSnapshot {
    return {
      metadata: { name: 'snap', namespace: 'default', uid: 'snap-uid' },
      spec: { source: { persistentVolumeClaimName: 'x' } },
      status: { boundVolumeSnapshotContentName: 'content1', readyToUse: true, restoreSize: '1Gi' },
    };
  }
  function content(): VolumeSnapshotContent {
    return {
      metadata: { name: 'content1' },
      spec: {
        driver: TEST_DRIVER_NAME,
        deletionPolicy: 'Delete',
        volumeSnapshotRef: { namespace: 'default', name: 'snap', uid: 'snap-uid' },
        sourceVolumeMode: 'Filesystem',
        source: { volumeHandle: 'x' },
      },
      status: { snapshotHandle: 'snap-handle', readyToUse: true },
    };
  }
  async function startRestore(options: FixtureOptions = {}): Promise<ClaimControllerFixture> {
    const f = await start({ ...options, capabilities: { snapshots: true, ...options.capabilities } });
    f.kube.snapshots.set('default/snap', snapshot());
    f.kube.snapshotContents.set('content1', content());
    claimOf(f).spec!.dataSource = { apiGroup: 'snapshot.storage.k8s.io', kind: 'VolumeSnapshot', name: 'snap' };
    return f;
  }
  const snap = (f: ClaimControllerFixture): VolumeSnapshot => f.kube.snapshots.get('default/snap')!;
  const cont = (f: ClaimControllerFixture): VolumeSnapshotContent => f.kube.snapshotContents.get('content1')!;

  it('sends the snapshot handle, reads snapshot and content once, saves the PV', async () => {
    const f = await startRestore();
    await f.controller.sync(CLAIM_KEY);
    const [request] = f.driver.callsTo('CreateVolume');
    expect(request.volumeContentSource).toEqual({
      type: { $case: 'snapshot', value: { snapshotId: 'snap-handle' } },
    });
    expect(f.kube.callsTo('getVolumeSnapshot')).toEqual([['default', 'snap']]);
    expect(f.kube.callsTo('getVolumeSnapshotContent')).toEqual([['content1']]);
    expect(f.kube.volumes.get(PV_NAME)?.spec).toMatchObject({
      capacity: { storage: '1Gi' },
      csi: { volumeHandle: `vol-${PV_NAME}` },
    });
    expect(f.recorder.reasons()).toEqual(['Provisioning', 'ProvisioningSucceeded']);
  });

  const allowed: [string, FixtureOptions, (f: ClaimControllerFixture) => void][] = [
    ['a snapshot smaller than the claim', {}, (f) => (snap(f).status!.restoreSize = '512Mi')],
    ['no restoreSize', {}, (f) => delete snap(f).status!.restoreSize],
    [
      'a snapshot being deleted that carries our protection finalizer',
      {},
      (f) => {
        snap(f).metadata!.deletionTimestamp = '2026-01-01T00:00:00Z';
        snap(f).metadata!.finalizers = ['other', FINALIZER_SNAPSHOT_SOURCE_PROTECTION];
      },
    ],
    [
      'a mode change with the allow annotation',
      {},
      (f) => {
        claimOf(f).spec!.volumeMode = 'Block';
        cont(f).metadata!.annotations = { [ANN_ALLOW_VOLUME_MODE_CHANGE]: 'true' };
      },
    ],
    [
      'a mode change without --prevent-volume-mode-conversion',
      { argv: ['--prevent-volume-mode-conversion=false'] },
      (f) => (claimOf(f).spec!.volumeMode = 'Block'),
    ],
    [
      'a content without sourceVolumeMode',
      {},
      (f) => {
        claimOf(f).spec!.volumeMode = 'Block';
        delete cont(f).spec!.sourceVolumeMode;
      },
    ],
  ];
  it.each(allowed)('allows %s', async (_name, options, arrange) => {
    const f = await startRestore(options);
    arrange(f);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
  });

  const NOT_BOUND = 'snapshot snap not bound';
  const DENIED =
    'requested volume default/pvc1 modifies the mode of the source volume but does not have permission to do so. ';
  const toBlock = (f: ClaimControllerFixture): void => {
    claimOf(f).spec!.volumeMode = 'Block';
  };
  const refused: [string, (f: ClaimControllerFixture) => void, string][] = [
    [
      'snapshot missing',
      (f) => f.kube.snapshots.delete('default/snap'),
      'error getting snapshot snap from api server: volumesnapshots.snapshot.storage.k8s.io "snap" not found',
    ],
    [
      'snapshot being deleted',
      (f) => (snap(f).metadata!.deletionTimestamp = '2026-01-01T00:00:00Z'),
      'snapshot snap is being deleted',
    ],
    [
      'snapshot being deleted with another finalizer',
      (f) => {
        snap(f).metadata!.deletionTimestamp = '2026-01-01T00:00:00Z';
        snap(f).metadata!.finalizers = ['snapshot.storage.kubernetes.io/volumesnapshot-as-source-protection'];
      },
      'snapshot snap is being deleted',
    ],
    ['no snapshot status', (f) => delete snap(f).status, NOT_BOUND],
    ['no bound content name', (f) => delete snap(f).status!.boundVolumeSnapshotContentName, NOT_BOUND],
    ['content missing', (f) => f.kube.snapshotContents.delete('content1'), NOT_BOUND],
    ['content bound to another uid', (f) => (cont(f).spec!.volumeSnapshotRef!.uid = 'x'), NOT_BOUND],
    ['content bound in another namespace', (f) => (cont(f).spec!.volumeSnapshotRef!.namespace = 'x'), NOT_BOUND],
    ['content bound to another name', (f) => (cont(f).spec!.volumeSnapshotRef!.name = 'x'), NOT_BOUND],
    ['content of another driver', (f) => (cont(f).spec!.driver = 'other.csi'), NOT_BOUND],
    ['readyToUse false', (f) => (snap(f).status!.readyToUse = false), 'snapshot snap is not Ready'],
    ['readyToUse unset', (f) => delete snap(f).status!.readyToUse, 'snapshot snap is not Ready'],
    ['no content status', (f) => delete cont(f).status, 'snapshot handle snap is not available'],
    ['no snapshot handle', (f) => delete cont(f).status!.snapshotHandle, 'snapshot handle snap is not available'],
    [
      'snapshot larger than the claim',
      (f) => (snap(f).status!.restoreSize = '2Gi'),
      'requested volume size 1073741824 is less than the size 2147483648 for the source snapshot snap',
    ],
    [
      'claim without a storage request',
      (f) => (claimOf(f).spec!.resources = {}),
      'error getting capacity for PVC pvc1 when creating snapshot snap',
    ],
    [
      'mode change without the annotation',
      toBlock,
      `${DENIED}${ANN_ALLOW_VOLUME_MODE_CHANGE} annotation is not present on snapshotcontent content1`,
    ],
    [
      'mode change with the annotation false',
      (f) => {
        toBlock(f);
        cont(f).metadata!.annotations = { [ANN_ALLOW_VOLUME_MODE_CHANGE]: 'false' };
      },
      `${DENIED}${ANN_ALLOW_VOLUME_MODE_CHANGE} is set to false on snapshotcontent content1`,
    ],
    [
      'mode change with an unparsable annotation',
      (f) => {
        toBlock(f);
        cont(f).metadata!.annotations = { [ANN_ALLOW_VOLUME_MODE_CHANGE]: 'yes' };
      },
      `${DENIED}failed to convert ${ANN_ALLOW_VOLUME_MODE_CHANGE} annotation value to boolean with error: strconv.ParseBool: parsing "yes": invalid syntax`,
    ],
  ];
  it.each(refused)('refuses %s', async (_name, arrange, inner) => {
    const f = await startRestore();
    arrange(f);
    expect(await failure(f)).toBe(`error getting handle for DataSource Type VolumeSnapshot by Name snap: ${inner}`);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });

  const finished: [string, (f: ClaimControllerFixture) => void, string][] = [
    [
      'a wrong apiGroup',
      (f) => (claimOf(f).spec!.dataSource!.apiGroup = 'example.com'),
      'the PVC source does not belong to the right APIGroup. Expected snapshot.storage.k8s.io, Got example.com',
    ],
    ['an empty name', (f) => (claimOf(f).spec!.dataSource!.name = ''), 'the PVC source not found for PVC pvc1'],
  ];
  it.each(finished)('refuses %s without reading the snapshot', async (_name, arrange, message) => {
    const f = await startRestore();
    arrange(f);
    expect(await failure(f)).toBe(`${message}`);
    expect(f.kube.callsTo('getVolumeSnapshot')).toHaveLength(0);
  });

  it('retries a transient API error on the snapshot', async () => {
    const f = await startRestore();
    f.kube.failNext('getVolumeSnapshot', { status: 500, reason: 'InternalError', message: 'etcd down' });
    expect(await failure(f)).toBe(
      `error getting handle for DataSource Type VolumeSnapshot by Name snap: error getting snapshot snap from api server: etcd down`,
    );
    await f.controller.sync(CLAIM_KEY);
    expect(f.recorder.reasons().at(-1)).toBe('ProvisioningSucceeded');
  });

  it('needs CREATE_DELETE_SNAPSHOT', async () => {
    const f = await startRestore({ capabilities: { snapshots: false } });
    expect(await failure(f)).toBe(
      `CSI driver does not support snapshot restore: controller CREATE_DELETE_SNAPSHOT capability is not reported`,
    );
    expect(f.kube.callsTo('getVolumeSnapshot')).toHaveLength(0);
  });

  it('deletes a volume returned without content source', async () => {
    const f = await startRestore();
    f.driver.enqueue('CreateVolume', { volume: { volumeId: 'empty-vol', capacityBytes: 1073741824n } });
    expect(await failure(f)).toBe(`volume content source missing`);
    expect(f.driver.callsTo('DeleteVolume')).toEqual([{ volumeId: 'empty-vol', secrets: {} }]);
  });
});

describe('VolumeAttributesClass', () => {
  async function startVac(options: FixtureOptions = {}): Promise<ClaimControllerFixture> {
    const f = await start({ ...options, capabilities: { modifyVolume: true, ...options.capabilities } });
    f.kube.attributesClasses.set('gold', {
      metadata: { name: 'gold' },
      driverName: TEST_DRIVER_NAME,
      parameters: { iops: '3000', tier: 'fast' },
    });
    claimOf(f).spec!.volumeAttributesClassName = 'gold';
    return f;
  }

  it('sends the class parameters as mutable_parameters and names the class on the PV', async () => {
    const f = await startVac();
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')[0].mutableParameters).toEqual({ iops: '3000', tier: 'fast' });
    expect(f.driver.callsTo('CreateVolume')[0].parameters).toEqual({ foo: 'bar' });
    expect(f.kube.callsTo('getVolumeAttributesClass')).toEqual([['gold']]);
    expect(f.kube.volumes.get(PV_NAME)?.spec?.volumeAttributesClassName).toBe('gold');
  });

  it('ignores the class with the gate disabled', async () => {
    const f = await startVac({
      argv: ['--feature-gates=VolumeAttributesClass=false'],
      capabilities: { modifyVolume: false },
    });
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')[0].mutableParameters).toEqual({});
    expect(f.kube.callsTo('getVolumeAttributesClass')).toHaveLength(0);
    expect(f.kube.volumes.get(PV_NAME)?.spec).not.toHaveProperty('volumeAttributesClassName');
  });

  const refused: [string, FixtureOptions, (f: ClaimControllerFixture) => void, string][] = [
    [
      'a driver without MODIFY_VOLUME',
      { capabilities: { modifyVolume: false } },
      () => undefined,
      'CSI driver does not support VolumeAttributesClass: controller MODIFY_VOLUME capability is not reported',
    ],
    [
      'a missing class',
      {},
      (f) => f.kube.attributesClasses.delete('gold'),
      'volumeattributesclasses.storage.k8s.io "gold" not found',
    ],
    [
      'a class of another driver',
      {},
      (f) => (f.kube.attributesClasses.get('gold')!.driverName = 'other.csi'),
      `VAC gold referenced in PVC is for driver other.csi which does not match driver name ${TEST_DRIVER_NAME}`,
    ],
  ];
  it.each(refused)('refuses %s', async (_name, options, arrange, message) => {
    const f = await startVac(options);
    arrange(f);
    expect(await failure(f)).toBe(`${message}`);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });

  it('combines a class with a clone source', async () => {
    const f = await startVac({ capabilities: { cloning: true, modifyVolume: true } });
    f.claims.set({
      metadata: { name: 'src', namespace: 'default', uid: 'src-uid' },
      spec: { resources: { requests: { storage: '1Gi' } }, storageClassName: 'sc', volumeName: 'pv-src' },
      status: { phase: 'Bound' },
    });
    f.volumes.set({
      metadata: { name: 'pv-src' },
      spec: {
        csi: { driver: TEST_DRIVER_NAME, volumeHandle: 'h' },
        claimRef: { namespace: 'default', name: 'src', uid: 'src-uid' },
      },
      status: { phase: 'Bound' },
    });
    claimOf(f).spec!.dataSource = { kind: 'PersistentVolumeClaim', name: 'src' };
    await f.controller.sync(CLAIM_KEY);
    const [request] = f.driver.callsTo('CreateVolume');
    expect(request.volumeContentSource).toEqual({ type: { $case: 'volume', value: { volumeId: 'h' } } });
    expect(request.mutableParameters).toEqual({ iops: '3000', tier: 'fast' });
  });
});
