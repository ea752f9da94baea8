import type { V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import { status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CreateVolumeRequest } from '../gen/csi.js';
import { CsiConnection } from '../shared/csi/connection.js';
import { discardLogger } from '../shared/log/logger.js';
import { CsiTestDriver } from '../shared/testing/csi-test-driver.js';
import {
  ANN_IN_FLIGHT,
  DurableInFlight,
  DurableInFlightError,
  FINALIZER_IN_FLIGHT,
  clearedClaim,
  markedClaim as markedCopy,
  recordOf,
  serializeRecord,
} from './durable-in-flight.js';
import type { InFlightRecord, RecoveryDeps, VolumeObjectState } from './durable-in-flight.js';
import { EventReason } from './keys.js';
import type { PreparedProvision } from './provision-claim.js';
import { ProvisioningError, ProvisioningState } from './provisioning-errors.js';
import { FakeClaimWritePort } from './testing/fake-claim-write-port.js';

const DRIVER = 'test.csi.k8s.io';
const PROTECTION = 'kubernetes.io/pvc-protection';
const RECORD: InFlightRecord = {
  volumeName: 'pvc-uid-1',
  storageClassName: 'fast',
  storageClassUID: 'sc-uid',
  driver: DRIVER,
};
const RECORD_TEXT = serializeRecord(RECORD);

/** Only the request and the PV name matter to recovery; the rest of a prepared provision is the controller's. */
function prepared(request: CreateVolumeRequest): PreparedProvision {
  return { request, pvName: request.name } as PreparedProvision;
}

function claim(overrides: V1PersistentVolumeClaim['metadata'] = {}): V1PersistentVolumeClaim {
  return {
    metadata: { namespace: 'ns', name: 'data', uid: 'uid-1', resourceVersion: '10', ...overrides },
    spec: { storageClassName: 'fast', accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } } },
  };
}

function markedClaim(extra: V1PersistentVolumeClaim['metadata'] = {}): V1PersistentVolumeClaim {
  return claim({
    finalizers: [PROTECTION, FINALIZER_IN_FLIGHT],
    annotations: { [ANN_IN_FLIGHT]: RECORD_TEXT },
    ...extra,
  });
}

const storageClass: V1StorageClass = { metadata: { name: 'fast', uid: 'sc-uid' }, provisioner: DRIVER };

describe('markedClaim / clearedClaim', () => {
  it('adds finalizer and record to a deep copy of a claim without either', () => {
    const original = claim();
    const copy = markedCopy(original, RECORD);
    expect(copy?.metadata).toEqual({
      ...original.metadata,
      finalizers: [FINALIZER_IN_FLIGHT],
      annotations: { [ANN_IN_FLIGHT]: RECORD_TEXT },
    });
    expect(copy?.spec).toEqual(original.spec);
    // The cached object is shared with the informer: never changed in place.
    expect(original.metadata?.finalizers).toBeUndefined();
    expect(original.metadata?.annotations).toBeUndefined();
  });

  it('appends to existing lists and keeps the resourceVersion for the PUT precondition', () => {
    const copy = markedCopy(claim({ finalizers: [PROTECTION], annotations: { a: 'b' } }), RECORD);
    expect(copy?.metadata?.finalizers).toEqual([PROTECTION, FINALIZER_IN_FLIGHT]);
    expect(copy?.metadata?.annotations).toEqual({ a: 'b', [ANN_IN_FLIGHT]: RECORD_TEXT });
    expect(copy?.metadata?.resourceVersion).toBe('10');
  });

  it('rewrites a different record without a second finalizer', () => {
    const copy = markedCopy(markedClaim({ annotations: { [ANN_IN_FLIGHT]: 'old' } }), RECORD);
    expect(copy?.metadata?.finalizers).toEqual([PROTECTION, FINALIZER_IN_FLIGHT]);
    expect(copy?.metadata?.annotations).toEqual({ [ANN_IN_FLIGHT]: RECORD_TEXT });
  });

  it('is a no-op when already marked with the same record', () => {
    expect(markedCopy(markedClaim(), RECORD)).toBeUndefined();
  });

  it('removes every finalizer copy and the record from a copy', () => {
    const original = markedClaim({
      finalizers: [FINALIZER_IN_FLIGHT, PROTECTION, FINALIZER_IN_FLIGHT],
      annotations: { a: 'b', [ANN_IN_FLIGHT]: RECORD_TEXT },
    });
    const copy = clearedClaim(original);
    expect(copy?.metadata?.finalizers).toEqual([PROTECTION]);
    expect(copy?.metadata?.annotations).toEqual({ a: 'b' });
    expect(original.metadata?.finalizers).toHaveLength(3);
    expect(original.metadata?.annotations?.[ANN_IN_FLIGHT]).toBe(RECORD_TEXT);
  });

  it('is a no-op without marker', () => {
    expect(clearedClaim(claim({ finalizers: [PROTECTION], annotations: { a: 'b' } }))).toBeUndefined();
  });

  it('reads back what it writes and rejects malformed records', () => {
    expect(recordOf(markedClaim())).toEqual(RECORD);
    expect(recordOf(claim({ annotations: { [ANN_IN_FLIGHT]: '{not json' } }))).toBeUndefined();
    expect(recordOf(claim({ annotations: { [ANN_IN_FLIGHT]: '{"volumeName":""}' } }))).toBeUndefined();
  });
});

interface Harness {
  kube: FakeClaimWritePort;
  durable: DurableInFlight;
  events: { reason: string; message: string }[];
}

function harness(mode: 'durable' | 'cleanup' = 'durable'): Harness {
  const kube = new FakeClaimWritePort();
  const events: Harness['events'] = [];
  const durable = new DurableInFlight({
    kube,
    driverName: DRIVER,
    mode,
    logger: discardLogger(),
    warn: (_claim, reason, message) => events.push({ reason, message }),
  });
  return { kube, durable, events };
}

describe('DurableInFlight.markInFlight / clearInFlight', () => {
  it('marks with one update, a second mark is a no-op, clear removes both with one update', async () => {
    const { kube, durable } = harness();
    const stored = kube.put(claim({ finalizers: [PROTECTION] }));
    const marked = await durable.markInFlight(stored, RECORD);
    expect(marked?.metadata?.finalizers).toEqual([PROTECTION, FINALIZER_IN_FLIGHT]);
    expect(durable.recordOf(marked ?? {})).toEqual(RECORD);
    expect(await durable.markInFlight(marked ?? {}, RECORD)).toBe(marked);
    expect(kube.updates).toHaveLength(1);

    await durable.clearInFlight(marked ?? {});
    await durable.clearInFlight(kube.get('ns', 'data') ?? {});
    expect(kube.updates).toHaveLength(2);
    const cleared = kube.get('ns', 'data');
    expect(cleared?.metadata?.finalizers).toEqual([PROTECTION]);
    expect(cleared?.metadata?.annotations).toEqual({});
  });

  it('re-reads and retries once on a conflict (stale cached claim), keeping the concurrent change', async () => {
    const { kube, durable } = harness();
    const stale = claim({ finalizers: [PROTECTION] });
    kube.put(claim({ finalizers: [PROTECTION, 'other/finalizer'], resourceVersion: '11' }));
    const marked = await durable.markInFlight(stale, RECORD);
    expect(marked?.metadata?.finalizers).toEqual([PROTECTION, 'other/finalizer', FINALIZER_IN_FLIGHT]);
    expect(kube.reads).toEqual(['ns/data']);
    expect(kube.updates.map((u) => u.metadata?.resourceVersion)).toEqual(['10', '11']);
    expect(kube.get('ns', 'data')?.metadata?.resourceVersion).toBe('12');
  });

  it('clear after a conflict re-reads and removes the marker from the current claim', async () => {
    const { kube, durable } = harness();
    const stale = markedClaim();
    kube.put(markedClaim({ resourceVersion: '11', labels: { changed: 'yes' } }));
    const cleared = await durable.clearInFlight(stale);
    expect(cleared?.metadata?.finalizers).toEqual([PROTECTION]);
    expect(cleared?.metadata?.labels).toEqual({ changed: 'yes' });
    expect(kube.updates).toHaveLength(2);
  });

  it('does not mark when the re-read finds the claim terminating, gone or re-created', async () => {
    const { kube, durable } = harness();
    kube.put(claim({ resourceVersion: '11', deletionTimestamp: new Date(0), finalizers: [PROTECTION] }));
    expect(await durable.markInFlight(claim(), RECORD)).toBeUndefined();
    kube.put(claim({ uid: 'uid-2', resourceVersion: '12' }));
    expect(await durable.markInFlight(claim(), RECORD)).toBeUndefined();
    expect(kube.updates).toHaveLength(2);
    expect(kube.get('ns', 'data')?.metadata?.finalizers).toBeUndefined();
  });

  it('refuses to mark a claim that is gone or terminating (CreateVolume must not run)', async () => {
    const { kube, durable } = harness();
    expect(await durable.markInFlight(claim(), RECORD)).toBeUndefined();
    const terminating = kube.put(claim({ deletionTimestamp: new Date(0), finalizers: [PROTECTION] }));
    expect(await durable.markInFlight(terminating, RECORD)).toBeUndefined();
    expect(kube.get('ns', 'data')?.metadata?.finalizers).toEqual([PROTECTION]);
  });

  it('throws other API errors at once, and a second conflict after the one retry', async () => {
    const { kube, durable } = harness();
    const stored = kube.put(claim());
    kube.failNextUpdate(403, 'Forbidden');
    await expect(durable.markInFlight(stored, RECORD)).rejects.toThrow(/injected/);
    expect(kube.reads).toHaveLength(0);
    kube.failNextUpdate(409, 'Conflict').failNextUpdate(409, 'Conflict');
    await expect(durable.markInFlight(stored, RECORD)).rejects.toThrow(/injected/);
    expect(kube.reads).toEqual(['ns/data']);
    expect(kube.updates).toHaveLength(3);
  });

  it('writes nothing in cleanup mode', async () => {
    const { kube, durable } = harness('cleanup');
    const stored = kube.put(claim());
    expect(await durable.markInFlight(stored, RECORD)).toBe(stored);
    expect(kube.updates).toHaveLength(0);
  });
});

describe('DurableInFlight.reconcile (crash recovery)', () => {
  let driver: CsiTestDriver;
  let connection: CsiConnection;
  let volumeState: VolumeObjectState;
  let classes: Map<string, V1StorageClass>;
  let rebuilds: number;
  let savedVolumes: string[];

  beforeEach(async () => {
    driver = await CsiTestDriver.start();
    connection = await CsiConnection.connect({ address: driver.address, logger: discardLogger() });
    volumeState = 'absent';
    classes = new Map([['fast', storageClass]]);
    rebuilds = 0;
    savedVolumes = [];
  });

  afterEach(async () => {
    connection.close();
    await driver.stop();
  });

  const deps = (): RecoveryDeps => ({
    volumeState: () => volumeState,
    storageClass: (name) => classes.get(name),
    rebuildProvision: async ({ volumeName }) => {
      rebuilds++;
      return prepared(
        CreateVolumeRequest.fromPartial({
          name: volumeName,
          capacityRange: { requiredBytes: 1n << 30n },
          volumeCapabilities: [{ accessMode: { mode: 1 } }],
          secrets: { password: 'read-again' },
        }),
      );
    },
    createVolume: async ({ request }) => {
      const { volume } = await connection.call('CreateVolume', request);
      if (!volume) throw new Error('CreateVolume returned no volume');
      return { volume, capacityBytes: volume.capacityBytes };
    },
    deleteVolume: async (volumeId, request) => {
      await connection.call('DeleteVolume', { volumeId, secrets: request.secrets });
    },
    saveVolume: async ({ prepared: p, created }) => {
      savedVolumes.push(`${p.pvName}=${created.volume.volumeId}`);
    },
  });

  /** The provisioner marked the claim, CreateVolume ran, then it crashed; the user deleted the claim. */
  function crashedAndDeleted(h: Harness): V1PersistentVolumeClaim {
    driver.volumes.clear();
    return h.kube.put(markedClaim({ deletionTimestamp: new Date(0) }));
  }

  it('creates with the recorded name, deletes the returned id and releases the claim', async () => {
    const h = harness();
    const deleted = crashedAndDeleted(h);
    await connection.call('CreateVolume', {
      name: RECORD.volumeName,
      volumeCapabilities: [{ accessMode: { mode: 1 } }],
    });

    expect(await h.durable.reconcile(deleted, deps())).toBe('recovered');
    expect(driver.callsTo('CreateVolume').map((r) => r.name)).toEqual([RECORD.volumeName, RECORD.volumeName]);
    expect(driver.callsTo('DeleteVolume')).toEqual([
      expect.objectContaining({ volumeId: `vol-${RECORD.volumeName}`, secrets: { password: 'read-again' } }),
    ]);
    expect(driver.volumes.size).toBe(0);
    // Only pvc-protection is left, which the KCM removes: our part of the claim is gone.
    expect(h.kube.get('ns', 'data')?.metadata?.finalizers).toEqual([PROTECTION]);
  });

  it('keeps the finalizer and retries later when the driver fails', async () => {
    const h = harness();
    const deleted = crashedAndDeleted(h);
    driver.fail('CreateVolume', status.DEADLINE_EXCEEDED);
    await expect(h.durable.reconcile(deleted, deps())).rejects.toMatchObject({ reason: 'CreateVolumeInProgress' });
    driver.fail('DeleteVolume', status.INTERNAL, 'backend down');
    await expect(h.durable.reconcile(deleted, deps())).rejects.toMatchObject({ reason: 'DeleteVolumeFailed' });
    expect(h.kube.get('ns', 'data')?.metadata?.finalizers).toContain(FINALIZER_IN_FLIGHT);
    expect(h.kube.updates).toHaveLength(0);
    expect(h.events.map((e) => e.reason)).toEqual([EventReason.ProvisioningCleanupFailed]);

    expect(await h.durable.reconcile(deleted, deps())).toBe('recovered');
    expect(driver.volumes.size).toBe(0);
    expect(h.kube.get('ns', 'data')?.metadata?.finalizers).toEqual([PROTECTION]);
  });

  it('a Retain class keeps the volume: its PV is saved instead of DeleteVolume, then the claim is released', async () => {
    const h = harness();
    const deleted = crashedAndDeleted(h);
    classes.set('fast', { ...storageClass, reclaimPolicy: 'Retain' });
    expect(await h.durable.reconcile(deleted, deps())).toBe('recovered');
    expect(driver.callsTo('DeleteVolume')).toHaveLength(0);
    expect(savedVolumes).toEqual([`${RECORD.volumeName}=vol-${RECORD.volumeName}`]);
    expect(h.kube.get('ns', 'data')?.metadata?.finalizers).toEqual([PROTECTION]);
  });

  it('a Retain class whose PV cannot be saved keeps the finalizer and says why', async () => {
    const h = harness();
    const deleted = crashedAndDeleted(h);
    classes.set('fast', { ...storageClass, reclaimPolicy: 'Retain' });
    const d: RecoveryDeps = { ...deps(), saveVolume: () => Promise.reject(new Error('apiserver down')) };
    await expect(h.durable.reconcile(deleted, d)).rejects.toMatchObject({ reason: 'PersistentVolumeSaving' });
    expect(h.events[0]?.message).toContain('apiserver down');
    expect(h.kube.get('ns', 'data')?.metadata?.finalizers).toContain(FINALIZER_IN_FLIGHT);
  });

  it('releases without DeleteVolume when CreateVolume gives a final error (nothing exists)', async () => {
    const h = harness();
    const deleted = crashedAndDeleted(h);
    driver.fail('CreateVolume', status.INVALID_ARGUMENT, 'bad parameters');
    expect(await h.durable.reconcile(deleted, deps())).toBe('recovered');
    expect(driver.callsTo('DeleteVolume')).toHaveLength(0);
    expect(h.kube.get('ns', 'data')?.metadata?.finalizers).toEqual([PROTECTION]);
  });

  it('accepts the classified errors of provision-claim createVolume', async () => {
    const h = harness();
    const deleted = crashedAndDeleted(h);
    const d: RecoveryDeps = {
      ...deps(),
      createVolume: () =>
        Promise.reject(new ProvisioningError({ message: 'timeout', state: ProvisioningState.InBackground })),
    };
    await expect(h.durable.reconcile(deleted, d)).rejects.toBeInstanceOf(DurableInFlightError);
    expect(h.kube.get('ns', 'data')?.metadata?.finalizers).toContain(FINALIZER_IN_FLIGHT);
  });

  it('keeps the finalizer with a loud event when the volume name is taken with other parameters', async () => {
    const h = harness();
    const deleted = crashedAndDeleted(h);
    driver.fail('CreateVolume', status.ALREADY_EXISTS, 'other size');
    await expect(h.durable.reconcile(deleted, deps())).rejects.toMatchObject({ reason: 'VolumeNameTaken' });
    expect(h.events[0]?.message).toContain(FINALIZER_IN_FLIGHT);
    expect(h.kube.get('ns', 'data')?.metadata?.finalizers).toContain(FINALIZER_IN_FLIGHT);
  });

  it('StorageClass gone: keeps the finalizer, warns with the way out, resumes once the class is back', async () => {
    const h = harness();
    const deleted = crashedAndDeleted(h);
    classes.clear();
    await expect(h.durable.reconcile(deleted, deps())).rejects.toMatchObject({ reason: 'StorageClassMissing' });
    await expect(h.durable.reconcile(deleted, deps())).rejects.toMatchObject({ reason: 'StorageClassMissing' });
    expect(h.events).toHaveLength(2);
    expect(h.events[0]?.message).toMatch(/StorageClass "fast" not found.*Re-create the StorageClass/);
    expect(driver.calls.filter((c) => c.method === 'CreateVolume')).toHaveLength(0);
    expect(h.kube.get('ns', 'data')?.metadata?.finalizers).toContain(FINALIZER_IN_FLIGHT);

    classes.set('fast', { ...storageClass, metadata: { name: 'fast', uid: 'recreated' } });
    expect(await h.durable.reconcile(deleted, deps())).toBe('recovered');
    expect(h.kube.get('ns', 'data')?.metadata?.finalizers).toEqual([PROTECTION]);
  });

  it('refuses a rebuilt request whose name differs from the recorded one', async () => {
    const h = harness();
    const deleted = crashedAndDeleted(h);
    const d: RecoveryDeps = {
      ...deps(),
      rebuildProvision: async () => prepared(CreateVolumeRequest.fromPartial({ name: 'prefix-uid-1' })),
    };
    await expect(h.durable.reconcile(deleted, d)).rejects.toMatchObject({ reason: 'RebuildFailed' });
    expect(driver.callsTo('CreateVolume')).toHaveLength(0);
  });

  it('clears without touching the driver once the PV is saved (crash between save and clear)', async () => {
    const h = harness();
    const deleted = crashedAndDeleted(h);
    volumeState = 'saved';
    expect(await h.durable.reconcile(deleted, deps())).toBe('cleared');
    expect(driver.calls).toHaveLength(0);
    expect(h.kube.get('ns', 'data')?.metadata?.finalizers).toEqual([PROTECTION]);
  });

  it('waits while the PV is still being saved', async () => {
    const h = harness();
    const deleted = crashedAndDeleted(h);
    volumeState = 'saving';
    await expect(h.durable.reconcile(deleted, deps())).rejects.toMatchObject({ reason: 'PersistentVolumeSaving' });
    expect(rebuilds).toBe(0);
  });

  it('leaves live in-flight claims to normal provisioning, and clears them in cleanup mode', async () => {
    const on = harness();
    expect(await on.durable.reconcile(on.kube.put(markedClaim()), deps())).toBe('in-flight');
    expect(on.kube.updates).toHaveLength(0);

    const off = harness('cleanup');
    expect(await off.durable.reconcile(off.kube.put(markedClaim()), deps())).toBe('cleared');
    expect(off.kube.get('ns', 'data')?.metadata?.finalizers).toEqual([PROTECTION]);
  });

  it('still recovers terminating claims in cleanup mode, so turning the flag off never leaks', async () => {
    const h = harness('cleanup');
    const deleted = crashedAndDeleted(h);
    expect(await h.durable.reconcile(deleted, deps())).toBe('recovered');
    expect(h.kube.get('ns', 'data')?.metadata?.finalizers).toEqual([PROTECTION]);
  });

  it('ignores unmarked claims and markers of other drivers', async () => {
    const h = harness();
    expect(await h.durable.reconcile(claim(), deps())).toBe('unmarked');
    const other = serializeRecord({ ...RECORD, driver: 'other.csi' });
    const foreign = markedClaim({ annotations: { [ANN_IN_FLIGHT]: other }, deletionTimestamp: new Date(0) });
    expect(await h.durable.reconcile(foreign, deps())).toBe('unmarked');
    expect(driver.calls).toHaveLength(0);
  });

  it('a terminating claim with an unreadable record is kept with a warning', async () => {
    const h = harness();
    const broken = markedClaim({ annotations: { [ANN_IN_FLIGHT]: 'garbage' }, deletionTimestamp: new Date(0) });
    await expect(h.durable.reconcile(broken, deps())).rejects.toMatchObject({ reason: 'RecordUnreadable' });
    expect(h.events).toHaveLength(1);
  });

  it('the claim disappears once the KCM protection is gone too', async () => {
    const h = harness();
    const deleted = crashedAndDeleted(h);
    h.kube.put({ ...deleted, metadata: { ...deleted.metadata, finalizers: [FINALIZER_IN_FLIGHT] } });
    expect(await h.durable.reconcile(h.kube.get('ns', 'data') ?? {}, deps())).toBe('recovered');
    expect(h.kube.get('ns', 'data')).toBeUndefined();
  });
});
