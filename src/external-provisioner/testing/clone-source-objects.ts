import type { V1ObjectMeta, V1PersistentVolume, V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { TEST_DRIVER_NAME } from '../../shared/testing/csi-test-driver.js';

/** The bound source claim default/src (volume pv-src) of a clone; `metadata` adds fields such as resourceVersion. */
export function sourceClaim(metadata: Partial<V1ObjectMeta> = {}): V1PersistentVolumeClaim {
  return {
    metadata: { name: 'src', namespace: 'default', uid: 'src-uid', ...metadata },
    spec: {
      accessModes: ['ReadWriteOnce'],
      resources: { requests: { storage: '1Gi' } },
      storageClassName: 'sc',
      volumeName: 'pv-src',
    },
    status: { phase: 'Bound' },
  };
}

/** The CSI volume pv-src bound to the source claim default/src. */
export function sourceVolume(): V1PersistentVolume {
  return {
    metadata: { name: 'pv-src' },
    spec: {
      csi: { driver: TEST_DRIVER_NAME, volumeHandle: 'src-handle' },
      claimRef: { namespace: 'default', name: 'src', uid: 'src-uid' },
    },
    status: { phase: 'Bound' },
  };
}
