import { status } from '@grpc/grpc-js';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { reconcileKey } from '../shared/controller/reconcile.js';
import { CsiConnection } from '../shared/csi/connection.js';
import type { CsiCaller, CsiCallOptions } from '../shared/csi/connection.js';
import { discardLogger } from '../shared/log/logger.js';
import { CsiTestDriver, TEST_DRIVER_NAME } from '../shared/testing/csi-test-driver.js';
import {
  ANN_DELETION_SECRET_NAME,
  ANN_DELETION_SECRET_NAMESPACE,
  ANN_DYNAMICALLY_PROVISIONED,
  EventReason,
  FINALIZER_PV,
} from './keys.js';
import {
  PROTECTION,
  TIMEOUT_MS,
  finalizerRemoval,
  fixture,
  releasedVolume,
} from './testing/volume-controller-fixture.js';

describe('VolumeController with a CSI driver', () => {
  let driver: CsiTestDriver;
  let connection: CsiConnection;

  beforeEach(async () => {
    driver = await CsiTestDriver.start();
    connection = await CsiConnection.connect({ address: driver.address, logger: discardLogger() });
  });

  afterEach(async () => {
    connection.close();
    await driver.stop();
  });

  const deleteCalls = () => driver.callsTo('DeleteVolume');

  describe('deletes a Released volume with reclaim policy Delete', () => {
    it('calls DeleteVolume, deletes the PV with a UID precondition, then removes the finalizer', async () => {
      const f = fixture(connection, [releasedVolume()]);
      await f.controller.sync('pv-1');

      expect(deleteCalls()).toEqual([{ volumeId: 'vol-1', secrets: {} }]);
      expect(f.kube.calls.map((c) => [c.method, ...c.args])).toEqual([
        ['deletePersistentVolume', 'pv-1', 'uid-1'],
        ['removeVolumeFinalizer', 'pv-1', 'uid-1', FINALIZER_PV],
      ]);
      expect(f.recorder.events).toEqual([]);
    });

    it('passes the secret named by the PV annotations', async () => {
      const f = fixture(connection, [
        releasedVolume((pv) => {
          pv.metadata!.annotations![ANN_DELETION_SECRET_NAME] = 'creds';
          pv.metadata!.annotations![ANN_DELETION_SECRET_NAMESPACE] = 'storage';
        }),
      ]);
      f.kube.secrets.set('storage/creds', { user: 'admin', password: 's3cret' });
      await f.controller.sync('pv-1');

      expect(f.kube.callsTo('getSecretData')).toEqual([['storage', 'creds']]);
      expect(deleteCalls()).toEqual([{ volumeId: 'vol-1', secrets: { user: 'admin', password: 's3cret' } }]);
    });

    it('never puts secret values into the VolumeFailedDelete event', async () => {
      const f = fixture(connection, [
        releasedVolume((pv) => {
          pv.metadata!.annotations![ANN_DELETION_SECRET_NAME] = 'creds';
          pv.metadata!.annotations![ANN_DELETION_SECRET_NAMESPACE] = 'storage';
        }),
      ]);
      f.kube.secrets.set('storage/creds', { password: 's3cret' });
      driver.fail('DeleteVolume', status.UNAUTHENTICATED, 'wrong credentials');
      await expect(f.controller.sync('pv-1')).rejects.toThrow();
      expect(f.recorder.events).toHaveLength(1);
      expect(JSON.stringify(f.recorder.events)).not.toContain('s3cret');
    });

    it('falls back to the StorageClass secret templates when the PV has no deletion-secret annotations', async () => {
      const f = fixture(connection, [
        releasedVolume((pv) => {
          delete pv.metadata!.annotations![ANN_DELETION_SECRET_NAME];
          delete pv.metadata!.annotations![ANN_DELETION_SECRET_NAMESPACE];
        }),
      ]);
      f.classes.set({
        metadata: { name: 'fast' },
        provisioner: TEST_DRIVER_NAME,
        parameters: {
          'csi.storage.k8s.io/provisioner-secret-name': '${pvc.name}-creds',
          'csi.storage.k8s.io/provisioner-secret-namespace': '${pvc.namespace}',
        },
      });
      f.kube.secrets.set('apps/data-creds', { key: 'value' });
      await f.controller.sync('pv-1');

      expect(f.kube.callsTo('getSecretData')).toEqual([['apps', 'data-creds']]);
      expect(deleteCalls()).toEqual([{ volumeId: 'vol-1', secrets: { key: 'value' } }]);
    });

    it('uses no secret when the annotations are empty, whatever the StorageClass says', async () => {
      const f = fixture(connection, [releasedVolume()]);
      f.classes.set({
        metadata: { name: 'fast' },
        provisioner: TEST_DRIVER_NAME,
        parameters: {
          'csi.storage.k8s.io/provisioner-secret-name': 'x',
          'csi.storage.k8s.io/provisioner-secret-namespace': 'y',
        },
      });
      await f.controller.sync('pv-1');
      expect(f.kube.callsTo('getSecretData')).toEqual([]);
      expect(deleteCalls()).toHaveLength(1);
    });

    it('deletes a static CSI PV of the driver, as upstream does (#1235)', async () => {
      const f = fixture(connection, [releasedVolume((pv) => (pv.metadata!.annotations = {}))]);
      await f.controller.sync('pv-1');
      expect(deleteCalls()).toEqual([{ volumeId: 'vol-1', secrets: {} }]);
      expect(f.kube.callsTo('deletePersistentVolume')).toEqual([['pv-1', 'uid-1']]);
    });

    it('finishes a PV deleted before its claim without a second DELETE', async () => {
      const f = fixture(connection, [releasedVolume((pv) => (pv.metadata!.deletionTimestamp = new Date(0)))]);
      await f.controller.sync('pv-1');
      expect(deleteCalls()).toHaveLength(1);
      expect(f.kube.calls.map((c) => c.method)).toEqual(['removeVolumeFinalizer']);
    });

    it('records the deletion metrics with the class label', async () => {
      const f = fixture(connection, [releasedVolume()]);
      await f.controller.sync('pv-1');
      const text = await f.registry.metrics();
      expect(text).toContain('controller_persistentvolume_delete_total{class="fast"} 1');
      expect(text).toContain('controller_persistentvolume_delete_duration_seconds_count{class="fast"} 1');
      expect(text).not.toContain('controller_persistentvolume_delete_failed_total{');
    });
  });

  describe('leaves volumes alone that are not to be deleted', () => {
    it.each([
      ['reclaim policy Retain', releasedVolume((pv) => (pv.spec!.persistentVolumeReclaimPolicy = 'Retain'))],
      ['Bound', releasedVolume((pv) => (pv.status!.phase = 'Bound'))],
      [
        'provisioned by another driver',
        releasedVolume((pv) => (pv.metadata!.annotations![ANN_DYNAMICALLY_PROVISIONED] = 'other.csi.k8s.io')),
      ],
      [
        'a static PV of another driver',
        releasedVolume((pv) => {
          pv.metadata!.annotations = {};
          pv.spec!.csi!.driver = 'other.csi.k8s.io';
        }),
      ],
      [
        'already deleted (finalizer gone, deletionTimestamp set)',
        releasedVolume((pv) => {
          pv.metadata!.finalizers = [PROTECTION];
          pv.metadata!.deletionTimestamp = new Date(0);
        }),
      ],
    ])('%s: no DeleteVolume', async (_name, pv) => {
      const f = fixture(connection, [pv]);
      await f.controller.sync('pv-1');
      expect(deleteCalls()).toEqual([]);
      expect(f.kube.callsTo('deletePersistentVolume')).toEqual([]);
      expect(f.recorder.events).toEqual([]);
    });

    it('a PV gone from the cache: nothing to do', async () => {
      const f = fixture(connection, []);
      await f.controller.sync('pv-1');
      expect(deleteCalls()).toEqual([]);
      expect(f.kube.calls).toEqual([]);
    });
  });

  describe('finalizer upkeep', () => {
    it('adds the finalizer to a Bound Delete PV of the driver (static ones too)', async () => {
      const f = fixture(connection, [
        releasedVolume((pv) => {
          pv.metadata!.annotations = {};
          pv.metadata!.finalizers = [PROTECTION];
          pv.status!.phase = 'Bound';
        }),
      ]);
      await f.controller.sync('pv-1');
      expect(f.kube.callsTo('jsonPatchVolume')).toEqual([
        [
          'pv-1',
          [
            { op: 'test', path: '/metadata/uid', value: 'uid-1' },
            { op: 'test', path: '/metadata/finalizers', value: [PROTECTION] },
            { op: 'add', path: '/metadata/finalizers/-', value: FINALIZER_PV },
          ],
        ],
      ]);
      expect(deleteCalls()).toEqual([]);
    });

    it('removes the finalizer when the policy became Retain, without deleting anything', async () => {
      const f = fixture(connection, [releasedVolume((pv) => (pv.spec!.persistentVolumeReclaimPolicy = 'Retain'))]);
      await f.controller.sync('pv-1');
      expect(f.kube.callsTo('jsonPatchVolume')).toEqual([['pv-1', finalizerRemoval]]);
      expect(deleteCalls()).toEqual([]);
    });

    it('does not touch PVs of other drivers', async () => {
      const f = fixture(connection, [
        releasedVolume((pv) => {
          pv.metadata!.annotations![ANN_DYNAMICALLY_PROVISIONED] = 'other.csi.k8s.io';
          pv.status!.phase = 'Bound';
          pv.metadata!.finalizers = [];
        }),
      ]);
      await f.controller.sync('pv-1');
      expect(f.kube.calls).toEqual([]);
    });

    it('a failed finalizer patch is retried', async () => {
      const f = fixture(connection, [
        releasedVolume((pv) => {
          pv.status!.phase = 'Bound';
          pv.metadata!.finalizers = [PROTECTION];
        }),
      ]);
      f.kube.failNext('jsonPatchVolume', { status: 422, reason: 'Invalid', message: 'test operation failed' });
      await expect(f.controller.sync('pv-1')).rejects.toThrow(
        /^failed to modify finalizers on volume pv-1: .*test operation failed/,
      );
    });
  });

  describe('still attached', () => {
    it('does not call DeleteVolume while a VolumeAttachment names the PV, and deletes once it is gone', async () => {
      const f = fixture(connection, [releasedVolume()]);
      f.attachments.set({
        metadata: { name: 'csi-abc' },
        spec: { attacher: TEST_DRIVER_NAME, nodeName: 'node-1', source: { persistentVolumeName: 'pv-1' } },
      });
      f.attachments.set({
        metadata: { name: 'csi-other' },
        spec: { attacher: TEST_DRIVER_NAME, nodeName: 'node-2', source: { persistentVolumeName: 'pv-2' } },
      });

      await expect(f.controller.sync('pv-1')).rejects.toThrow('persistentvolume pv-1 is still attached to node node-1');
      expect(deleteCalls()).toEqual([]);
      expect(f.recorder.events).toMatchObject([
        {
          type: 'Warning',
          reason: EventReason.VolumeFailedDelete,
          message: 'persistentvolume pv-1 is still attached to node node-1',
          object: { kind: 'PersistentVolume', apiVersion: 'v1', name: 'pv-1', uid: 'uid-1' },
        },
      ]);

      f.attachments.delete('csi-abc');
      await f.controller.sync('pv-1');
      expect(deleteCalls()).toHaveLength(1);
    });

    it('is retried with backoff through the queue', async () => {
      const f = fixture(connection, [releasedVolume()]);
      f.attachments.set({
        metadata: { name: 'csi-abc' },
        spec: { attacher: TEST_DRIVER_NAME, nodeName: 'node-1', source: { persistentVolumeName: 'pv-1' } },
      });
      f.queue.add('pv-1');
      const next = await f.queue.get();
      expect(next).toEqual({ key: 'pv-1', shutdown: false });
      await reconcileKey({
        queue: f.queue,
        key: 'pv-1',
        sync: (key) => f.controller.sync(key),
        logger: discardLogger(),
        signal: new AbortController().signal,
      });
      expect(f.queue.numRequeues('pv-1')).toBe(1);
    });
  });

  describe('failures', () => {
    it('DeleteVolume failure: VolumeFailedDelete event, failed metric, the PV stays, retried', async () => {
      const f = fixture(connection, [releasedVolume()]);
      driver.fail('DeleteVolume', status.INTERNAL, 'backend unavailable');

      await expect(f.controller.sync('pv-1')).rejects.toThrow('rpc error: code = Internal desc = backend unavailable');
      expect(f.recorder.events).toMatchObject([
        {
          type: 'Warning',
          reason: 'VolumeFailedDelete',
          message: 'rpc error: code = Internal desc = backend unavailable',
        },
      ]);
      expect(f.kube.calls).toEqual([]);
      expect(await f.registry.metrics()).toContain('controller_persistentvolume_delete_failed_total{class="fast"} 1');

      await f.controller.sync('pv-1');
      expect(deleteCalls()).toHaveLength(2);
      expect(f.kube.callsTo('deletePersistentVolume')).toHaveLength(1);
    });

    it('NotFound from the driver is a failure, as upstream treats it (drivers must answer OK)', async () => {
      const f = fixture(connection, [releasedVolume()]);
      driver.fail('DeleteVolume', status.NOT_FOUND, 'no such volume');
      await expect(f.controller.sync('pv-1')).rejects.toThrow('code = NotFound');
      expect(f.kube.callsTo('deletePersistentVolume')).toEqual([]);
    });

    it('PV delete failure after DeleteVolume succeeded: retried without a second DeleteVolume', async () => {
      const f = fixture(connection, [releasedVolume()]);
      f.kube.failNext('deletePersistentVolume', { status: 500, reason: 'InternalError' });

      await expect(f.controller.sync('pv-1')).rejects.toThrow();
      expect(deleteCalls()).toHaveLength(1);
      expect(f.kube.callsTo('removeVolumeFinalizer')).toEqual([]);

      await f.controller.sync('pv-1');
      expect(deleteCalls()).toHaveLength(1);
      expect(f.kube.callsTo('deletePersistentVolume')).toEqual([
        ['pv-1', 'uid-1'],
        ['pv-1', 'uid-1'],
      ]);
      expect(f.kube.callsTo('removeVolumeFinalizer')).toEqual([['pv-1', 'uid-1', FINALIZER_PV]]);
    });

    it('finalizer removal failure: retried without a second DeleteVolume', async () => {
      const f = fixture(connection, [releasedVolume()]);
      f.kube.failNext('removeVolumeFinalizer', { status: 500, reason: 'InternalError' });

      await expect(f.controller.sync('pv-1')).rejects.toThrow('failed to remove finalizer from persistentvolume pv-1');
      // The cache now shows our DELETE; the retry only patches the finalizer away.
      f.volumes.set(releasedVolume((pv) => (pv.metadata!.deletionTimestamp = new Date(0))));
      await f.controller.sync('pv-1');

      expect(deleteCalls()).toHaveLength(1);
      expect(f.kube.callsTo('deletePersistentVolume')).toHaveLength(1);
      expect(f.kube.callsTo('removeVolumeFinalizer')).toEqual([
        ['pv-1', 'uid-1', FINALIZER_PV],
        ['pv-1', 'uid-1', FINALIZER_PV],
      ]);
    });

    it('a stale cache event after the deletion finished sends nothing (#1235)', async () => {
      const f = fixture(connection, [releasedVolume()]);
      await f.controller.sync('pv-1');
      f.volumes.set(releasedVolume((pv) => (pv.metadata!.deletionTimestamp = new Date(0))));
      await f.controller.sync('pv-1');

      expect(deleteCalls()).toHaveLength(1);
      expect(f.kube.calls).toHaveLength(2);
    });

    it('a stale cache event after the deletion finished is not counted again', async () => {
      const f = fixture(connection, [releasedVolume()]);
      await f.controller.sync('pv-1');
      f.volumes.set(releasedVolume((pv) => (pv.metadata!.deletionTimestamp = new Date(0))));
      await f.controller.sync('pv-1');
      const text = await f.registry.metrics();
      expect(text).toContain('controller_persistentvolume_delete_total{class="fast"} 1');
      expect(text).toContain('controller_persistentvolume_delete_duration_seconds_count{class="fast"} 1');
    });

    it('a PV re-created under the same name is deleted afresh', async () => {
      const f = fixture(connection, [releasedVolume()]);
      await f.controller.sync('pv-1');
      f.volumes.delete('pv-1');
      await f.controller.sync('pv-1');
      f.volumes.set(releasedVolume((pv) => (pv.metadata!.uid = 'uid-2')));
      await f.controller.sync('pv-1');
      expect(deleteCalls()).toHaveLength(2);
    });

    it('unreadable deletion secret: proceeds without secrets; a driver failure event names the secret', async () => {
      const f = fixture(connection, [
        releasedVolume((pv) => {
          pv.metadata!.annotations![ANN_DELETION_SECRET_NAME] = 'creds';
          pv.metadata!.annotations![ANN_DELETION_SECRET_NAMESPACE] = 'storage';
        }),
      ]);
      driver.fail('DeleteVolume', status.PERMISSION_DENIED, 'credentials required');

      await expect(f.controller.sync('pv-1')).rejects.toThrow();
      expect(deleteCalls()).toEqual([{ volumeId: 'vol-1', secrets: {} }]);
      expect(f.recorder.events).toHaveLength(1);
      const { message } = f.recorder.events[0];
      expect(message).toMatch(
        /^rpc error: code = PermissionDenied desc = credentials required \(deletion secret "storage\/creds" could not be read: .*secrets "creds" not found\)$/,
      );

      // Upstream behaviour: a driver that needs no secret deletes the volume anyway.
      await f.controller.sync('pv-1');
      expect(f.kube.callsTo('deletePersistentVolume')).toHaveLength(1);
    });

    it('unresolvable StorageClass secret template: event, no DeleteVolume', async () => {
      const f = fixture(connection, [
        releasedVolume((pv) => {
          pv.metadata!.annotations = { [ANN_DYNAMICALLY_PROVISIONED]: TEST_DRIVER_NAME };
        }),
      ]);
      f.classes.set({
        metadata: { name: 'fast' },
        provisioner: TEST_DRIVER_NAME,
        parameters: {
          'csi.storage.k8s.io/provisioner-secret-name': '${pvc.unknown}',
          'csi.storage.k8s.io/provisioner-secret-namespace': 'ns',
        },
      });
      await expect(f.controller.sync('pv-1')).rejects.toThrow('failed to get secretreference for volume pv-1');
      expect(f.recorder.events[0].reason).toBe('VolumeFailedDelete');
      expect(deleteCalls()).toEqual([]);
    });

    it('malformed PV without a CSI source: event and retry, no crash', async () => {
      const f = fixture(connection, [releasedVolume((pv) => delete pv.spec!.csi)]);
      await expect(f.controller.sync('pv-1')).rejects.toThrow(
        'invalid CSI PV: persistentvolume pv-1 has no spec.csi.volumeHandle',
      );
      expect(f.recorder.events).toMatchObject([{ reason: 'VolumeFailedDelete' }]);
      expect(deleteCalls()).toEqual([]);
    });
  });

  it.each([
    [{ controllerService: false, createDeleteVolume: true }, 'plugin CONTROLLER_SERVICE'],
    [{ controllerService: true, createDeleteVolume: false }, 'controller CREATE_DELETE_VOLUME'],
  ])('sends no DeleteVolume without %o and says why, as upstream', async (capabilities, missing) => {
    const f = fixture(connection, [releasedVolume()], capabilities);
    const message = `CSI driver does not support dynamic provisioning: ${missing} capability is not reported`;
    await expect(f.controller.sync('pv-1')).rejects.toThrow(message);
    expect(driver.callsTo('DeleteVolume')).toHaveLength(0);
    expect(f.kube.callsTo('deletePersistentVolume')).toHaveLength(0);
    expect(f.recorder.events.map((e) => [e.type, e.reason, e.message])).toEqual([
      ['Warning', EventReason.VolumeFailedDelete, message],
    ]);
  });
});

describe('VolumeController with a fake CsiCaller', () => {
  it('calls DeleteVolume with the configured operation timeout', async () => {
    const seen: (CsiCallOptions | undefined)[] = [];
    const csi: CsiCaller = {
      call: async (_method, _request, options) => {
        seen.push(options);
        return {} as never;
      },
    };
    const f = fixture(csi, [releasedVolume()]);
    await f.controller.sync('pv-1');
    expect(seen).toEqual([{ timeoutMs: TIMEOUT_MS }]);
  });

  it('enqueueVolume adds the PV name to the queue', () => {
    const f = fixture({ call: async () => ({}) as never }, []);
    f.controller.enqueueVolume(releasedVolume());
    f.controller.enqueueVolume({ metadata: {} });
    expect(f.queue.len()).toBe(1);
  });
});
