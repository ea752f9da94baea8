import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { FakeProvisionerKube } from './testing/fake-provisioner-kube.js';
import { reconcileKey } from '../shared/controller/reconcile.js';
import { discardLogger } from '../shared/log/logger.js';
import { TEST_DRIVER_NAME } from '../shared/testing/csi-test-driver.js';
import { VolumeCapability_AccessMode_Mode as AccessMode } from '../gen/csi.js';
import { SAVED_VOLUME_TTL_MS } from './claim-controller.js';
import { INFEASIBLE_RETRY_DELAY_MS } from './infeasible-claims.js';
import {
  ANN_BETA_STORAGE_PROVISIONER,
  ANN_MIGRATED_TO,
  ANN_SELECTED_NODE,
  ANN_STORAGE_PROVISIONER,
  FINALIZER_PV,
} from './keys.js';
import { INFEASIBLE_MESSAGE_PREFIX } from './provisioning-errors.js';
import type { ClaimControllerFixture } from './testing/claim-controller-fixture.js';
import {
  CLAIM_KEY,
  CLAIM_UID,
  PV_NAME,
  makeClaim,
  makeClass,
  useClaimControllerFixture,
} from './testing/claim-controller-fixture.js';

const SECRET_VALUE = 'hunter2-do-not-leak';
const SECRET_PARAMS = {
  'csi.storage.k8s.io/provisioner-secret-name': 'creds',
  'csi.storage.k8s.io/provisioner-secret-namespace': 'default',
};

const start = useClaimControllerFixture();

describe('ClaimController happy path', () => {
  it('sends the exact CreateVolumeRequest, saves the exact PV and emits both events', async () => {
    const f = await start();
    await f.controller.sync(CLAIM_KEY);

    const [request] = f.driver.callsTo('CreateVolume');
    expect(request).toEqual({
      name: PV_NAME,
      capacityRange: { requiredBytes: 1073741824n, limitBytes: 0n },
      volumeCapabilities: [
        {
          accessType: { $case: 'mount', value: { fsType: '', mountFlags: [], volumeMountGroup: '' } },
          accessMode: { mode: AccessMode.SINGLE_NODE_WRITER },
        },
      ],
      parameters: { foo: 'bar' },
      secrets: {},
      volumeContentSource: undefined,
      accessibilityRequirements: undefined,
      mutableParameters: {},
    });
    expect(f.kube.callsTo('createPersistentVolume')).toEqual([
      [
        {
          apiVersion: 'v1',
          kind: 'PersistentVolume',
          metadata: {
            name: PV_NAME,
            annotations: {
              'volume.kubernetes.io/provisioner-deletion-secret-name': '',
              'volume.kubernetes.io/provisioner-deletion-secret-namespace': '',
              'pv.kubernetes.io/provisioned-by': TEST_DRIVER_NAME,
            },
            finalizers: [FINALIZER_PV],
          },
          spec: {
            accessModes: ['ReadWriteOnce'],
            capacity: { storage: '1Gi' },
            csi: {
              driver: TEST_DRIVER_NAME,
              volumeHandle: `vol-${PV_NAME}`,
              volumeAttributes: {
                'storage.kubernetes.io/csiProvisionerIdentity': '1700000000000-1234-test.csi.k8s.io',
              },
            },
            claimRef: {
              kind: 'PersistentVolumeClaim',
              namespace: 'default',
              name: 'pvc1',
              uid: CLAIM_UID,
              apiVersion: 'v1',
              resourceVersion: '7',
            },
            persistentVolumeReclaimPolicy: 'Delete',
            storageClassName: 'sc',
          },
        },
      ],
    ]);
    expect(f.recorder.events.map((e) => [e.type, e.reason, e.message])).toEqual([
      ['Normal', 'Provisioning', 'External provisioner is provisioning volume for claim "default/pvc1"'],
      ['Normal', 'ProvisioningSucceeded', `Successfully provisioned volume ${PV_NAME}`],
    ]);
    expect(f.recorder.events[0].object).toMatchObject({ kind: 'PersistentVolumeClaim', uid: CLAIM_UID });
    expect(await f.counter('controller_persistentvolumeclaim_provision_total')).toBe(1);
    expect(await f.counter('controller_persistentvolumeclaim_provision_failed_total')).toBe(0);
    expect(f.registry.getSingleMetric('controller_persistentvolumeclaim_provision_duration_seconds')).toBeDefined();
  });

  it('accepts the beta provisioner annotation and migrated-to', async () => {
    const f = await start();
    const beta = makeClaim();
    beta.metadata!.annotations = { [ANN_BETA_STORAGE_PROVISIONER]: TEST_DRIVER_NAME };
    f.claims.set(beta);
    await f.controller.sync(CLAIM_KEY);
    const migrated = makeClaim();
    migrated.metadata!.name = 'pvc2';
    migrated.metadata!.uid = 'uid-2';
    migrated.metadata!.annotations = {
      [ANN_STORAGE_PROVISIONER]: 'kubernetes.io/in-tree',
      [ANN_MIGRATED_TO]: TEST_DRIVER_NAME,
    };
    f.claims.set(migrated);
    await f.controller.sync('default/pvc2');
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(2);
  });
});

describe('ClaimController skips claims that are not to be provisioned', () => {
  const cases: [string, (f: ClaimControllerFixture) => void][] = [
    ['claim not in the cache', (f) => f.claims.delete(CLAIM_KEY)],
    ['volumeName already set', (f) => (f.claims.get(CLAIM_KEY)!.spec!.volumeName = 'pv-x')],
    [
      'another provisioner',
      (f) => (f.claims.get(CLAIM_KEY)!.metadata!.annotations = { [ANN_STORAGE_PROVISIONER]: 'other.csi' }),
    ],
    ['no provisioner annotation', (f) => (f.claims.get(CLAIM_KEY)!.metadata!.annotations = {})],
    [
      'migrated to this driver but without a storage-provisioner annotation',
      (f) => (f.claims.get(CLAIM_KEY)!.metadata!.annotations = { [ANN_MIGRATED_TO]: TEST_DRIVER_NAME }),
    ],
    [
      'WaitForFirstConsumer without a selected node',
      (f) => (f.classes.get('sc')!.volumeBindingMode = 'WaitForFirstConsumer'),
    ],
    ['PV with the configured name exists', (f) => f.volumes.set({ metadata: { name: PV_NAME } })],
  ];
  it.each(cases)('%s', async (_name, arrange) => {
    const f = await start();
    arrange(f);
    await expect(f.controller.sync(CLAIM_KEY)).resolves.toBeUndefined();
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
    expect(f.recorder.events).toEqual([]);
  });

  it('provisions WaitForFirstConsumer claims once a node is selected', async () => {
    const f = await start();
    f.classes.get('sc')!.volumeBindingMode = 'WaitForFirstConsumer';
    f.claims.get(CLAIM_KEY)!.metadata!.annotations![ANN_SELECTED_NODE] = 'node1';
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
  });

  it('checks the PV name with a custom prefix', async () => {
    const f = await start({ argv: ['--volume-name-prefix=vol'] });
    f.volumes.set({ metadata: { name: PV_NAME } });
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')[0].name).toBe(`vol-${CLAIM_UID}`);
  });

  it('logs, counts and retries a missing StorageClass without an event, as upstream', async () => {
    const f = await start();
    f.classes.delete('sc');
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('storageclass.storage.k8s.io "sc" not found');
    expect(f.recorder.events).toEqual([]);
    expect(await f.counter('controller_persistentvolumeclaim_provision_failed_total')).toBe(1);
    expect(f.logs.some((l) => l.includes('Failed to get the StorageClass of claim'))).toBe(true);
  });
});

describe('ClaimController failures', () => {
  it('final error: ProvisioningFailed, nothing in flight, rate-limited retry', async () => {
    const f = await start();
    f.driver.fail('CreateVolume', status.INTERNAL, 'boom');
    f.queue.add(CLAIM_KEY);
    const got = await f.queue.get();
    if (got.shutdown) throw new Error('queue shut down');
    await reconcileKey({
      queue: f.queue,
      key: got.key,
      sync: (k) => f.controller.sync(k),
      logger: discardLogger(),
      signal: new AbortController().signal,
    });
    const failed = f.recorder.events.find((e) => e.reason === 'ProvisioningFailed');
    expect(failed).toMatchObject({
      type: 'Warning',
      message: 'rpc error: code = Internal desc = boom',
    });
    expect(f.controller.inFlightCount).toBe(0);
    expect(f.queue.numRequeues(CLAIM_KEY)).toBe(1);
    expect(f.queue.len()).toBe(0);
    await f.clock.advance(1000);
    expect(f.queue.len()).toBe(1);
    await f.controller.sync(CLAIM_KEY);
    expect(f.recorder.reasons()).toContain('ProvisioningSucceeded');
  });

  it('DeadlineExceeded keeps the claim in flight until a retry succeeds', async () => {
    const f = await start();
    f.driver.fail('CreateVolume', status.DEADLINE_EXCEEDED, 'slow');
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('DeadlineExceeded');
    expect(f.controller.inFlightCount).toBe(1);
    await f.controller.sync(CLAIM_KEY);
    expect(f.controller.inFlightCount).toBe(0);
    expect(f.kube.volumes.has(PV_NAME)).toBe(true);
  });

  it('a claim deleted while CreateVolume may run is finished and its volume deleted with the same secrets', async () => {
    const f = await start();
    f.classes.get('sc')!.parameters = { ...SECRET_PARAMS };
    f.kube.secrets.set('default/creds', { password: SECRET_VALUE });
    f.driver.fail('CreateVolume', status.UNAVAILABLE, 'restarting');
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow();
    f.claims.delete(CLAIM_KEY);
    f.driver.fail('CreateVolume', status.ABORTED, 'still busy');
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('still in progress');
    expect(f.controller.inFlightCount).toBe(1);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(3);
    expect(f.driver.callsTo('DeleteVolume')).toEqual([
      { volumeId: `vol-${PV_NAME}`, secrets: { password: SECRET_VALUE } },
    ]);
    expect(f.driver.volumes.size).toBe(0);
    expect(f.kube.callsTo('createPersistentVolume')).toHaveLength(0);
    expect(f.controller.inFlightCount).toBe(0);
  });

  it('a claim of a Retain class deleted while CreateVolume may run keeps its volume: the PV is saved, as upstream', async () => {
    const f = await start();
    f.classes.get('sc')!.reclaimPolicy = 'Retain';
    f.driver.fail('CreateVolume', status.UNAVAILABLE, 'restarting');
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow();
    f.claims.delete(CLAIM_KEY);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('DeleteVolume')).toHaveLength(0);
    expect(f.driver.volumes.size).toBe(1);
    const pv = f.kube.volumes.get(PV_NAME);
    expect(pv?.spec?.persistentVolumeReclaimPolicy).toBe('Retain');
    expect(pv?.spec?.claimRef?.uid).toBe(CLAIM_UID);
    expect(f.controller.inFlightCount).toBe(0);
    // As upstream's library: no ProvisioningSucceeded for a claim the cache no longer holds.
    expect(f.recorder.reasons()).toEqual(['Provisioning', 'ProvisioningFailed']);
  });

  it('a deleted in-flight claim whose CreateVolume ends with a final error is dropped', async () => {
    const f = await start();
    f.driver.fail('CreateVolume', status.DEADLINE_EXCEEDED);
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow();
    f.claims.delete(CLAIM_KEY);
    f.driver.fail('CreateVolume', status.INTERNAL);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('DeleteVolume')).toHaveLength(0);
    expect(f.controller.inFlightCount).toBe(0);
  });

  it('AlreadyExists on save counts as saved', async () => {
    const f = await start();
    f.kube.failNext('createPersistentVolume', { status: 409, reason: 'AlreadyExists' });
    await f.controller.sync(CLAIM_KEY);
    expect(f.controller.unsavedCount).toBe(0);
    expect(f.recorder.reasons()).toEqual(['Provisioning', 'ProvisioningSucceeded']);
  });

  it('a failed save is retried in the background without a second CreateVolume', async () => {
    const f = await start();
    f.kube.failNext('createPersistentVolume', { status: 500, reason: 'InternalError' }, 2);
    await f.controller.sync(CLAIM_KEY);
    expect(f.controller.unsavedCount).toBe(1);
    expect(f.recorder.reasons()).toEqual(['Provisioning']);
    await f.controller.sync(CLAIM_KEY); // the claim counts as provisioned meanwhile
    // As the lib's unsavedpvs queue: the first retry at once, then client-go's 5 ms backoff.
    expect(f.kube.callsTo('createPersistentVolume')).toHaveLength(2);
    await f.clock.advance(4);
    expect(f.controller.unsavedCount).toBe(1);
    await f.clock.advance(1);
    expect(f.controller.unsavedCount).toBe(0);
    expect(f.kube.callsTo('createPersistentVolume')).toHaveLength(3);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
    expect(f.recorder.reasons()).toEqual(['Provisioning', 'ProvisioningSucceeded']);
    const unsavedSeries = async (name: string): Promise<number | undefined> =>
      (await f.registry.getSingleMetric(name)?.get())?.values.find((v) => v.labels.name === 'unsavedpvs')?.value;
    expect(await unsavedSeries('workqueue_adds_total')).toBe(2); // the first add and the retry after its backoff
    expect(await unsavedSeries('workqueue_retries_total')).toBe(1);
    expect(await unsavedSeries('workqueue_depth')).toBe(0);
  });

  it('bad claim input becomes a ProvisioningFailed event, not an exception escaping as a crash', async () => {
    const f = await start();
    f.claims.get(CLAIM_KEY)!.spec!.accessModes = ['Sometimes'];
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('unsupported AccessMode combination: [Sometimes]');
    f.claims.get(CLAIM_KEY)!.spec!.accessModes = ['ReadWriteOnce'];
    f.classes.get('sc')!.parameters = { 'csi.storage.k8s.io/typo': 'x' };
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('found unknown parameter key');
    expect(f.recorder.reasons()).toEqual(['Provisioning', 'ProvisioningFailed', 'Provisioning', 'ProvisioningFailed']);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });
});

describe('ClaimController reschedule', () => {
  const topologyKey = 'topology.test/zone';
  function withTopology(f: ClaimControllerFixture, csiNode: boolean): void {
    f.classes.get('sc')!.volumeBindingMode = 'WaitForFirstConsumer';
    f.claims.get(CLAIM_KEY)!.metadata!.annotations![ANN_SELECTED_NODE] = 'node1';
    f.nodes.set({ metadata: { name: 'node1', labels: { [topologyKey]: 'a' } } });
    if (csiNode) {
      f.csiNodes.set({
        metadata: { name: 'node1' },
        spec: { drivers: [{ name: TEST_DRIVER_NAME, nodeID: 'n1', topologyKeys: [topologyKey] }] },
      });
    }
  }
  /** The claims written with update, checked to have lost the selected-node annotation. */
  const updatedClaims = (f: { kube: FakeProvisionerKube }): V1PersistentVolumeClaim[] =>
    f.kube.callsTo('updateClaim').map((args) => args[0] as V1PersistentVolumeClaim);

  it('ResourceExhausted with topology and a selected node removes the selected-node annotation', async () => {
    const f = await start({ capabilities: { topology: true } });
    withTopology(f, true);
    f.driver.fail('CreateVolume', status.RESOURCE_EXHAUSTED, 'full');
    await expect(f.controller.sync(CLAIM_KEY)).resolves.toBeUndefined();
    expect(f.driver.callsTo('CreateVolume')[0].accessibilityRequirements?.requisite).toEqual([
      { segments: { [topologyKey]: 'a' } },
    ]);
    expect(updatedClaims(f)).toHaveLength(1);
    expect(updatedClaims(f)[0].metadata?.name).toBe('pvc1');
    expect(updatedClaims(f)[0].metadata?.annotations).not.toHaveProperty(ANN_SELECTED_NODE);
    expect(f.claims.get(CLAIM_KEY)?.metadata?.annotations).toHaveProperty(ANN_SELECTED_NODE);
    expect(f.recorder.reasons()).toEqual(['Provisioning', 'ProvisioningFailed']);
  });

  it('a selected node without CSINode is rescheduled before CreateVolume', async () => {
    const f = await start({ capabilities: { topology: true } });
    withTopology(f, false);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
    expect(updatedClaims(f)).toHaveLength(1);
    expect(updatedClaims(f)[0].metadata?.annotations).not.toHaveProperty(ANN_SELECTED_NODE);
  });

  it('a too small volume whose cleanup fails gets upstream\'s "volume is orphaned" text and is retried', async () => {
    const f = await start();
    f.driver.enqueue('CreateVolume', { volume: { volumeId: 'small', capacityBytes: 1n } });
    f.driver.fail('DeleteVolume', status.INTERNAL, 'disk busy', 5);
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow();
    expect(f.recorder.events.at(-1)?.message).toBe(
      `created volume capacity 1 less than requested capacity 1073741824. Cleanup of volume ${PV_NAME} failed, ` +
        'volume is orphaned: rpc error: code = Internal desc = disk busy',
    );
    expect(f.driver.callsTo('DeleteVolume')).toHaveLength(5);
    expect(f.controller.inFlightCount).toBe(1);
  });

  it('ResourceExhausted without topology is a final error', async () => {
    const f = await start();
    f.driver.fail('CreateVolume', status.RESOURCE_EXHAUSTED, 'full');
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('ResourceExhausted');
    expect(f.kube.callsTo('updateClaim')).toHaveLength(0);
  });
});

describe('ClaimController with a volume name that cannot be made', () => {
  it('fails only the claims it acts on, after their Provisioning event, as upstream', async () => {
    const f = await start({ argv: ['--volume-name-prefix='] });
    const foreign = makeClaim();
    foreign.metadata = {
      ...foreign.metadata,
      name: 'foreign',
      annotations: { [ANN_STORAGE_PROVISIONER]: 'other.example.com' },
    };
    f.claims.set(foreign);
    await f.controller.sync('default/foreign');
    expect(f.recorder.events).toEqual([]);

    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('volume name prefix cannot be of length 0');
    expect(f.recorder.events.map((e) => [e.reason, e.message])).toEqual([
      ['Provisioning', `External provisioner is provisioning volume for claim "${CLAIM_KEY}"`],
      ['ProvisioningFailed', 'volume name prefix cannot be of length 0'],
    ]);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });
});

describe('ClaimController and a StorageClass created after its claims', () => {
  it('queues the unbound claims of that class only', async () => {
    const f = await start();
    const claimIn = (name: string, storageClassName: string, volumeName?: string): V1PersistentVolumeClaim => {
      const claim = makeClaim();
      claim.metadata = { ...claim.metadata, name, uid: `uid-${name}` };
      claim.spec = { ...claim.spec, storageClassName, ...(volumeName ? { volumeName } : {}) };
      return claim;
    };
    f.claims.set(claimIn('bound', 'sc', 'pv-bound'));
    f.claims.set(claimIn('gold-claim', 'gold'));
    f.controller.storageClassAdded(makeClass());
    expect(f.queue.len()).toBe(1);
    expect(await f.queue.get()).toEqual({ key: CLAIM_KEY, shutdown: false });
  });
});

describe('ClaimController infeasible slow retry', () => {
  it('delays InvalidArgument retries five minutes unless the StorageClass is created anew', async () => {
    const f = await start();
    f.driver.fail('CreateVolume', status.INVALID_ARGUMENT, 'no such tier', 2);
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('InvalidArgument');
    expect(f.recorder.events.at(-1)?.message).toBe(
      `${INFEASIBLE_MESSAGE_PREFIX} rpc error: code = InvalidArgument desc = no such tier`,
    );
    const skipped = await f.controller.sync(CLAIM_KEY);
    expect(skipped).toEqual({ requeueAfterMs: INFEASIBLE_RETRY_DELAY_MS });
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);

    // An edited class (labels, annotations: its parameters are immutable) asks the same: still delayed, as upstream.
    f.classes.set({
      ...makeClass(),
      metadata: { name: 'sc', uid: 'sc-uid', resourceVersion: '2', labels: { a: 'b' } },
    });
    expect(await f.controller.sync(CLAIM_KEY)).toEqual({ requeueAfterMs: INFEASIBLE_RETRY_DELAY_MS });
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
    f.classes.set({ ...makeClass(), metadata: { name: 'sc', uid: 'sc-uid-2', resourceVersion: '3' } });
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('InvalidArgument');
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(2);

    await f.clock.advance(INFEASIBLE_RETRY_DELAY_MS - 1);
    expect(await f.controller.sync(CLAIM_KEY)).toEqual({ requeueAfterMs: 1 });
    await f.clock.advance(1);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(3);
    expect(f.recorder.reasons().at(-1)).toBe('ProvisioningSucceeded');
  });
});

describe('ClaimController secrets', () => {
  it('names a missing provisioner secret in the event', async () => {
    const f = await start();
    f.classes.get('sc')!.parameters = { ...SECRET_PARAMS };
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow();
    expect(f.recorder.events.at(-1)?.message).toBe(
      'error getting secret creds in namespace default: secrets "creds" not found',
    );
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });

  it('sends the secret to the driver but never writes its value to events or logs (-v 5)', async () => {
    const f = await start();
    f.classes.get('sc')!.parameters = { ...SECRET_PARAMS };
    f.kube.secrets.set('default/creds', { password: SECRET_VALUE });
    f.driver.fail('CreateVolume', status.INTERNAL, 'boom');
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow();
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')[1].secrets).toEqual({ password: SECRET_VALUE });
    const pv = f.kube.volumes.get(PV_NAME);
    expect(pv?.metadata?.annotations).toMatchObject({
      'volume.kubernetes.io/provisioner-deletion-secret-name': 'creds',
      'volume.kubernetes.io/provisioner-deletion-secret-namespace': 'default',
    });
    expect(f.logs.some((l) => l.includes('CreateVolume'))).toBe(true);
    expect(f.logs.join('\n')).not.toContain(SECRET_VALUE);
    expect(JSON.stringify(f.recorder.events)).not.toContain(SECRET_VALUE);
    expect(JSON.stringify(pv)).not.toContain(SECRET_VALUE);
  });
});

describe('ClaimController after a successful save (R1)', () => {
  it('a re-queued claim synced before the PV reaches the cache gets no second CreateVolume or event', async () => {
    const f = await start();
    await f.controller.sync(CLAIM_KEY);
    expect(f.kube.callsTo('createPersistentVolume')).toHaveLength(1);
    // The volumes cache has not seen the PV yet.
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
    expect(f.recorder.reasons()).toEqual(['Provisioning', 'ProvisioningSucceeded']);
    expect(f.controller.bookkeepingSizes.savedVolumes).toBe(1);
  });

  it('forgets the saved PV once the volumes informer shows it', async () => {
    const f = await start();
    await f.controller.sync(CLAIM_KEY);
    const pv = { metadata: { name: PV_NAME } };
    f.volumes.set(pv);
    f.controller.volumeAdded(pv);
    expect(f.controller.bookkeepingSizes.savedVolumes).toBe(0);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
  });

  it('forgets the saved PV after the TTL when the cache never shows it', async () => {
    const f = await start();
    await f.controller.sync(CLAIM_KEY);
    await f.clock.advance(SAVED_VOLUME_TTL_MS - 1);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
    await f.clock.advance(1);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(2);
  });
});

describe('ClaimController bookkeeping of deleted claims (R3)', () => {
  it('drops the infeasible entry once the claim is gone', async () => {
    const f = await start();
    f.driver.fail('CreateVolume', status.INVALID_ARGUMENT, 'no such tier');
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('InvalidArgument');
    expect(f.controller.bookkeepingSizes).toMatchObject({ infeasible: 1, claimUids: 1 });

    f.claims.delete(CLAIM_KEY);
    await f.controller.sync(CLAIM_KEY);
    expect(f.controller.bookkeepingSizes).toMatchObject({ infeasible: 0, claimUids: 0 });
  });

  it('drops the topology retry record of a failed attempt once the claim is gone', async () => {
    const f = await start();
    f.classes.get('sc')!.parameters = { ...SECRET_PARAMS };
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow();
    expect(f.controller.bookkeepingSizes).toMatchObject({ topologyRecords: 1, claimUids: 1 });

    f.claims.delete(CLAIM_KEY);
    await f.controller.sync(CLAIM_KEY);
    expect(f.controller.bookkeepingSizes).toMatchObject({
      infeasible: 0,
      topologyRecords: 0,
      markedClaims: 0,
      claimUids: 0,
    });
  });

  it('drops the old claim state when a claim is re-created under another UID', async () => {
    const f = await start();
    f.driver.fail('CreateVolume', status.INVALID_ARGUMENT, 'no such tier');
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('InvalidArgument');
    const recreated = makeClaim();
    recreated.metadata!.uid = 'another-uid';
    f.claims.set(recreated);
    await f.controller.sync(CLAIM_KEY);
    expect(f.controller.bookkeepingSizes).toMatchObject({ infeasible: 0, topologyRecords: 0, claimUids: 1 });
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(2);
  });
});
