import type { V1PersistentVolume, V1StorageClass, V1VolumeAttachment } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { WorkQueue } from '../../shared/controller/work-queue.js';
import type { CsiCaller } from '../../shared/csi/connection.js';
import { discardLogger } from '../../shared/log/logger.js';
import { TEST_DRIVER_NAME } from '../../shared/testing/csi-test-driver.js';
import { FakeClock } from '../../shared/testing/fake-clock.js';
import { MemoryCache } from '../../shared/testing/memory-cache.js';
import { RecordingRecorder } from '../../shared/testing/recording-recorder.js';
import type { ProvisioningCapabilities } from '../driver-capabilities.js';
import {
  ANN_DELETION_SECRET_NAME,
  ANN_DELETION_SECRET_NAMESPACE,
  ANN_DYNAMICALLY_PROVISIONED,
  FINALIZER_PV,
} from '../keys.js';
import { VolumeController } from '../volume-controller.js';
import { FakeProvisionerKube } from './fake-provisioner-kube.js';

/** VolumeController over in-memory caches, a fake kube and the given CSI caller, for the volume-controller tests. */
export const PROTECTION = 'kubernetes.io/pv-protection';
export const TIMEOUT_MS = 10_000;

/** A Released, dynamically provisioned PV with reclaim policy Delete and its finalizers; mutate to vary it. */
export function releasedVolume(mutate: (pv: V1PersistentVolume) => void = () => {}): V1PersistentVolume {
  const pv: V1PersistentVolume = {
    metadata: {
      name: 'pv-1',
      uid: 'uid-1',
      resourceVersion: '5',
      annotations: {
        [ANN_DYNAMICALLY_PROVISIONED]: TEST_DRIVER_NAME,
        [ANN_DELETION_SECRET_NAME]: '',
        [ANN_DELETION_SECRET_NAMESPACE]: '',
      },
      finalizers: [PROTECTION, FINALIZER_PV],
    },
    spec: {
      csi: { driver: TEST_DRIVER_NAME, volumeHandle: 'vol-1' },
      persistentVolumeReclaimPolicy: 'Delete',
      storageClassName: 'fast',
      claimRef: { name: 'data', namespace: 'apps', uid: 'claim-uid' },
    },
    status: { phase: 'Released' },
  };
  mutate(pv);
  return pv;
}

export const finalizerRemoval = [
  { op: 'test', path: '/metadata/uid', value: 'uid-1' },
  { op: 'test', path: '/metadata/finalizers', value: [PROTECTION, FINALIZER_PV] },
  { op: 'remove', path: '/metadata/finalizers/1' },
];

export interface Fixture {
  controller: VolumeController;
  volumes: MemoryCache<V1PersistentVolume>;
  classes: MemoryCache<V1StorageClass>;
  attachments: MemoryCache<V1VolumeAttachment>;
  kube: FakeProvisionerKube;
  recorder: RecordingRecorder;
  queue: WorkQueue<string>;
  registry: Registry;
}

export function fixture(
  csi: CsiCaller,
  pvs: V1PersistentVolume[],
  capabilities: ProvisioningCapabilities = { controllerService: true, createDeleteVolume: true },
): Fixture {
  const clock = new FakeClock();
  const f = {
    volumes: new MemoryCache(pvs),
    classes: new MemoryCache<V1StorageClass>(),
    attachments: new MemoryCache<V1VolumeAttachment>(),
    kube: new FakeProvisionerKube(),
    recorder: new RecordingRecorder(),
    queue: new WorkQueue<string>({ name: 'volumes', clock }),
    registry: new Registry(),
  };
  const controller = new VolumeController({
    volumes: f.volumes,
    classes: f.classes,
    volumeAttachments: f.attachments,
    kube: f.kube,
    csi,
    capabilities,
    recorder: f.recorder,
    config: { operationTimeoutMs: TIMEOUT_MS },
    driverName: TEST_DRIVER_NAME,
    queue: f.queue,
    clock,
    logger: discardLogger(),
    registry: f.registry,
  });
  return { ...f, controller };
}
