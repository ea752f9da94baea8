// Every annotation, label, finalizer, volume attribute and event reason the provisioner reads or writes. The strings
// are part of the contract with the KCM, the scheduler, external-resizer and existing clusters, so they must stay
// byte-identical to upstream external-provisioner.

/** PVC: driver name the KCM PV controller asks to provision the claim (falls back to the beta key). */
export const ANN_STORAGE_PROVISIONER = 'volume.kubernetes.io/storage-provisioner';
/** PVC: legacy spelling of ANN_STORAGE_PROVISIONER. */
export const ANN_BETA_STORAGE_PROVISIONER = 'volume.beta.kubernetes.io/storage-provisioner';
/** PVC and PV: CSI migration target; a claim or volume is ours when this equals the driver name. */
export const ANN_MIGRATED_TO = 'pv.kubernetes.io/migrated-to';
/** PVC: node chosen by the scheduler (WaitForFirstConsumer); removed to ask for rescheduling. */
export const ANN_SELECTED_NODE = 'volume.kubernetes.io/selected-node';
/** PVC: legacy selected-node key, read only for the node name. */
export const ANN_ALPHA_SELECTED_NODE = 'volume.alpha.kubernetes.io/selected-node';
/** PVC and PV: legacy class annotation, takes precedence over `spec.storageClassName`. */
export const ANN_BETA_STORAGE_CLASS = 'volume.beta.kubernetes.io/storage-class';

/** PV: marks a dynamically provisioned volume; value is the StorageClass provisioner. */
export const ANN_DYNAMICALLY_PROVISIONED = 'pv.kubernetes.io/provisioned-by';
/** PV: provisioner secret to use at DeleteVolume time (written even when empty). */
export const ANN_DELETION_SECRET_NAME = 'volume.kubernetes.io/provisioner-deletion-secret-name';
export const ANN_DELETION_SECRET_NAMESPACE = 'volume.kubernetes.io/provisioner-deletion-secret-namespace';
/** PV: controller-modify secret, consumed by external-resizer for ControllerModifyVolume. */
export const ANN_MODIFY_SECRET_NAME = 'volume.kubernetes.io/controller-modify-secret-name';
export const ANN_MODIFY_SECRET_NAMESPACE = 'volume.kubernetes.io/controller-modify-secret-namespace';
/** PV `spec.csi.volumeAttributes` key holding the provisioner identity string. */
export const VOLUME_ATTRIBUTE_PROVISIONER_IDENTITY = 'storage.kubernetes.io/csiProvisionerIdentity';

/** PV finalizer: keeps the PV object until DeleteVolume succeeded. */
export const FINALIZER_PV = 'external-provisioner.volume.kubernetes.io/finalizer';
/** Source-PVC finalizer while a clone from it is being provisioned. */
export const FINALIZER_CLONE_PROTECTION = 'provisioner.storage.kubernetes.io/cloning-protection';
/** VolumeSnapshot finalizer while a restore from it is being provisioned (not the snapshotter's own key). */
export const FINALIZER_SNAPSHOT_SOURCE_PROTECTION =
  'provisioner.storage.kubernetes.io/volumesnapshot-as-source-protection';

/** VolumeSnapshotContent: `"true"` allows restoring into a different volumeMode. */
export const ANN_ALLOW_VOLUME_MODE_CHANGE = 'snapshot.storage.kubernetes.io/allow-volume-mode-change';

/** CreateVolume parameters added by `--extra-create-metadata`. */
export const PARAM_PVC_NAME = 'csi.storage.k8s.io/pvc/name';
export const PARAM_PVC_NAMESPACE = 'csi.storage.k8s.io/pvc/namespace';
export const PARAM_PV_NAME = 'csi.storage.k8s.io/pv/name';

/** CSIStorageCapacity labels and naming. */
export const LABEL_CAPACITY_DRIVER_NAME = 'csi.storage.k8s.io/drivername';
export const LABEL_CAPACITY_MANAGED_BY = 'csi.storage.k8s.io/managed-by';
export const CAPACITY_MANAGED_BY_VALUE = 'external-provisioner';
export const CAPACITY_GENERATE_NAME = 'csisc-';

/** Event reasons, as shown by `kubectl describe`. */
export const EventReason = {
  Provisioning: 'Provisioning',
  ProvisioningFailed: 'ProvisioningFailed',
  ProvisioningSucceeded: 'ProvisioningSucceeded',
  VolumeFailedDelete: 'VolumeFailedDelete',
  ProvisioningCleanupFailed: 'ProvisioningCleanupFailed',
} as const;
export type EventReason = (typeof EventReason)[keyof typeof EventReason];
