import { describe, expect, it } from 'vitest';
import * as keys from './keys.js';

// The strings are a contract with other components and existing clusters; pin every one of them.
describe('provisioner keys', () => {
  it('match upstream byte for byte', () => {
    expect({ ...keys }).toStrictEqual({
      ANN_STORAGE_PROVISIONER: 'volume.kubernetes.io/storage-provisioner',
      ANN_BETA_STORAGE_PROVISIONER: 'volume.beta.kubernetes.io/storage-provisioner',
      ANN_MIGRATED_TO: 'pv.kubernetes.io/migrated-to',
      ANN_SELECTED_NODE: 'volume.kubernetes.io/selected-node',
      ANN_ALPHA_SELECTED_NODE: 'volume.alpha.kubernetes.io/selected-node',
      ANN_BETA_STORAGE_CLASS: 'volume.beta.kubernetes.io/storage-class',
      ANN_DYNAMICALLY_PROVISIONED: 'pv.kubernetes.io/provisioned-by',
      ANN_DELETION_SECRET_NAME: 'volume.kubernetes.io/provisioner-deletion-secret-name',
      ANN_DELETION_SECRET_NAMESPACE: 'volume.kubernetes.io/provisioner-deletion-secret-namespace',
      ANN_MODIFY_SECRET_NAME: 'volume.kubernetes.io/controller-modify-secret-name',
      ANN_MODIFY_SECRET_NAMESPACE: 'volume.kubernetes.io/controller-modify-secret-namespace',
      VOLUME_ATTRIBUTE_PROVISIONER_IDENTITY: 'storage.kubernetes.io/csiProvisionerIdentity',
      FINALIZER_PV: 'external-provisioner.volume.kubernetes.io/finalizer',
      FINALIZER_CLONE_PROTECTION: 'provisioner.storage.kubernetes.io/cloning-protection',
      FINALIZER_SNAPSHOT_SOURCE_PROTECTION: 'provisioner.storage.kubernetes.io/volumesnapshot-as-source-protection',
      ANN_ALLOW_VOLUME_MODE_CHANGE: 'snapshot.storage.kubernetes.io/allow-volume-mode-change',
      PARAM_PVC_NAME: 'csi.storage.k8s.io/pvc/name',
      PARAM_PVC_NAMESPACE: 'csi.storage.k8s.io/pvc/namespace',
      PARAM_PV_NAME: 'csi.storage.k8s.io/pv/name',
      LABEL_CAPACITY_DRIVER_NAME: 'csi.storage.k8s.io/drivername',
      LABEL_CAPACITY_MANAGED_BY: 'csi.storage.k8s.io/managed-by',
      CAPACITY_MANAGED_BY_VALUE: 'external-provisioner',
      CAPACITY_GENERATE_NAME: 'csisc-',
      EventReason: {
        Provisioning: 'Provisioning',
        ProvisioningFailed: 'ProvisioningFailed',
        ProvisioningSucceeded: 'ProvisioningSucceeded',
        VolumeFailedDelete: 'VolumeFailedDelete',
        ProvisioningCleanupFailed: 'ProvisioningCleanupFailed',
      },
    });
  });
});
