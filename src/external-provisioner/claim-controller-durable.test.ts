import { status } from '@grpc/grpc-js';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { TEST_DRIVER_NAME } from '../shared/testing/csi-test-driver.js';
import { ANN_IN_FLIGHT, FINALIZER_IN_FLIGHT, serializeRecord } from './durable-in-flight.js';
import type { ProvisionerKube } from './kube-ports.js';
import type { ClaimControllerFixture } from './testing/claim-controller-fixture.js';
import {
  CLAIM_KEY,
  CLAIM_UID,
  PV_NAME,
  makeClaim,
  useClaimControllerFixture,
} from './testing/claim-controller-fixture.js';

const DURABLE = ['--durable-in-flight'];
const RECORD_TEXT = serializeRecord({
  volumeName: PV_NAME,
  storageClassName: 'sc',
  storageClassUID: 'sc-uid',
  driver: TEST_DRIVER_NAME,
});

const start = useClaimControllerFixture();

/** Kube calls and CSI calls in the order they happened, e.g. `kube.updateClaim`, `csi.CreateVolume`. */
function recordOrder(f: ClaimControllerFixture): () => string[] {
  const order: string[] = [];
  let seenCsi = 0;
  const flushCsi = (): void => {
    for (const call of f.driver.calls.slice(seenCsi)) order.push(`csi.${call.method}`);
    seenCsi = f.driver.calls.length;
  };
  const kube = f.kube as unknown as Record<keyof ProvisionerKube, (...args: unknown[]) => Promise<unknown>>;
  for (const method of Object.getOwnPropertyNames(Object.getPrototypeOf(f.kube)) as (keyof ProvisionerKube)[]) {
    if (method === ('constructor' as string) || (method as string) === 'record' || (method as string) === 'failNext') {
      continue;
    }
    if ((method as string) === 'callsTo') continue;
    const original = kube[method].bind(f.kube);
    kube[method] = (...args: unknown[]) => {
      flushCsi();
      order.push(`kube.${method}`);
      return original(...args);
    };
  }
  return () => {
    flushCsi();
    return order.filter(
      (entry) => !/csi\.(Probe|GetPluginInfo|GetPluginCapabilities|ControllerGetCapabilities)/.test(entry),
    );
  };
}

function updates(f: ClaimControllerFixture): V1PersistentVolumeClaim[] {
  return f.kube.callsTo('updateClaim').map(([claim]) => claim as V1PersistentVolumeClaim);
}

/** The claim as a restarted provisioner finds it: marked by the previous run, deleted by the user, no PV. */
function markedDeletedClaim(): V1PersistentVolumeClaim {
  const claim = makeClaim();
  claim.metadata = {
    ...claim.metadata,
    deletionTimestamp: new Date(0),
    finalizers: ['kubernetes.io/pvc-protection', FINALIZER_IN_FLIGHT],
    annotations: { ...claim.metadata?.annotations, [ANN_IN_FLIGHT]: RECORD_TEXT },
  };
  return claim;
}

describe('ClaimController --durable-in-flight', () => {
  it('marks before CreateVolume and clears after the PV is saved', async () => {
    const f = await start({ argv: DURABLE });
    const order = recordOrder(f);
    await f.controller.sync(CLAIM_KEY);

    expect(order()).toEqual([
      'kube.updateClaim',
      'csi.CreateVolume',
      'kube.createPersistentVolume',
      'kube.updateClaim',
    ]);
    const [mark, clear] = updates(f);
    expect(mark?.metadata?.finalizers).toEqual([FINALIZER_IN_FLIGHT]);
    expect(mark?.metadata?.annotations?.[ANN_IN_FLIGHT]).toBe(RECORD_TEXT);
    expect(mark?.metadata?.resourceVersion).toBe('7');
    expect(mark?.metadata?.uid).toBe(CLAIM_UID);
    expect(clear?.metadata?.finalizers).toEqual([]);
    expect(clear?.metadata?.annotations?.[ANN_IN_FLIGHT]).toBeUndefined();
    // The cached claim is shared with the informer and never changed in place.
    expect(f.claims.get(CLAIM_KEY)?.metadata?.finalizers).toBeUndefined();
    expect(f.recorder.reasons()).toEqual(['Provisioning', 'ProvisioningSucceeded']);
  });

  it('keeps the marker when CreateVolume may still run and clears it on its final error', async () => {
    const f = await start({ argv: DURABLE });
    f.driver.fail('CreateVolume', status.DEADLINE_EXCEEDED);
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow();
    expect(updates(f)).toHaveLength(1);

    f.driver.fail('CreateVolume', status.INVALID_ARGUMENT, 'bad');
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('bad');
    const all = updates(f);
    // The retry marks from the cached claim again (the apiserver answers 409 and the re-read finds it marked).
    expect(all.map((c) => c.metadata?.finalizers)).toEqual([[FINALIZER_IN_FLIGHT], [FINALIZER_IN_FLIGHT], []]);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(2);
  });

  it('after a restart, a deleted marked claim without PV gets its volume created and deleted, then released', async () => {
    const f = await start({ argv: DURABLE });
    f.claims.set(markedDeletedClaim());
    const order = recordOrder(f);
    await f.controller.sync(CLAIM_KEY);

    expect(order()).toEqual(['csi.CreateVolume', 'csi.DeleteVolume', 'kube.updateClaim']);
    expect(f.driver.callsTo('CreateVolume').map((r) => r.name)).toEqual([PV_NAME]);
    expect(f.driver.callsTo('DeleteVolume')).toEqual([expect.objectContaining({ volumeId: `vol-${PV_NAME}` })]);
    expect(f.driver.volumes.size).toBe(0);
    const [clear] = updates(f);
    expect(clear?.metadata?.finalizers).toEqual(['kubernetes.io/pvc-protection']);
    expect(clear?.metadata?.annotations?.[ANN_IN_FLIGHT]).toBeUndefined();
    expect(f.kube.callsTo('createPersistentVolume')).toHaveLength(0);
  });

  it('after a restart, a deleted marked claim of a Retain class keeps its volume: PV saved, claim released', async () => {
    const f = await start({ argv: DURABLE });
    f.classes.get('sc')!.reclaimPolicy = 'Retain';
    f.claims.set(markedDeletedClaim());
    const order = recordOrder(f);
    await f.controller.sync(CLAIM_KEY);

    expect(order()).toEqual(['csi.CreateVolume', 'kube.createPersistentVolume', 'kube.updateClaim']);
    expect(f.driver.volumes.size).toBe(1);
    const pv = f.kube.volumes.get(PV_NAME);
    expect(pv?.spec?.persistentVolumeReclaimPolicy).toBe('Retain');
    expect(pv?.spec?.claimRef?.uid).toBe(CLAIM_UID);
    expect(updates(f)[0]?.metadata?.finalizers).toEqual(['kubernetes.io/pvc-protection']);
  });

  it('a driver failing during recovery is retried and the marker kept until it succeeds', async () => {
    const f = await start({ argv: DURABLE });
    f.claims.set(markedDeletedClaim());
    f.driver.fail('CreateVolume', status.DEADLINE_EXCEEDED);
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('still in progress');
    f.driver.fail('DeleteVolume', status.INTERNAL, 'backend down');
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('backend down');
    expect(f.kube.calls).toHaveLength(0);
    expect(f.recorder.reasons()).toEqual(['ProvisioningCleanupFailed']);

    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.volumes.size).toBe(0);
    expect(updates(f)).toHaveLength(1);
    expect(f.kube.callsTo('createPersistentVolume')).toHaveLength(0);
  });

  it('never provisions a claim being deleted, marked or not', async () => {
    const f = await start({ argv: DURABLE });
    const claim = makeClaim();
    claim.metadata = {
      ...claim.metadata,
      deletionTimestamp: new Date(0),
      finalizers: ['kubernetes.io/pvc-protection'],
    };
    f.claims.set(claim);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
    expect(f.kube.calls).toHaveLength(0);
  });

  it('does not call CreateVolume when the claim turned out to be terminating on the conflict re-read', async () => {
    const f = await start({ argv: DURABLE });
    const terminating = makeClaim();
    terminating.metadata = { ...terminating.metadata, resourceVersion: '8', deletionTimestamp: new Date(0) };
    f.kube.claims.set(CLAIM_KEY, terminating);
    f.kube.failNext('updateClaim', { status: 409, reason: 'Conflict' });
    await f.controller.sync(CLAIM_KEY);
    expect(f.kube.calls.map((c) => c.method)).toEqual(['updateClaim', 'readClaim']);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });
});

describe('ClaimController without --durable-in-flight', () => {
  it('makes exactly the kube calls of upstream: one PV create, no claim write', async () => {
    const f = await start();
    const order = recordOrder(f);
    await f.controller.sync(CLAIM_KEY);
    expect(order()).toEqual(['csi.CreateVolume', 'kube.createPersistentVolume']);
    expect(f.kube.calls.map((c) => c.method)).toEqual(['createPersistentVolume']);
  });

  it('finishes a marker left by an earlier run with the flag on, so turning it off never leaks', async () => {
    const f = await start();
    f.claims.set(markedDeletedClaim());
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('DeleteVolume')).toHaveLength(1);
    expect(updates(f)[0]?.metadata?.finalizers).toEqual(['kubernetes.io/pvc-protection']);
  });
});
