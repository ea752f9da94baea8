import type { V1CSIPersistentVolumeSource, V1PersistentVolumeSpec } from '@kubernetes/client-node';
import type { VolumeCapability } from '../gen/csi.js';
import { toCsiAccessMode } from '../shared/csi/access-modes.js';

export interface VolumeCapabilityOptions {
  supportsSingleNodeMultiWriter: boolean;
  /** `--default-fstype`, for a PV that names none. */
  defaultFsType: string;
}

/**
 * The one VolumeCapability of ControllerPublishVolume: block or mount (the PV's fsType, else --default-fstype, and
 * its mount options) with the access mode of the PV's whole access-mode set.
 */
export function publishVolumeCapability(
  spec: V1PersistentVolumeSpec,
  options: VolumeCapabilityOptions,
): VolumeCapability {
  if (!spec.csi) throw new Error('CSI volume source was nil');
  const mode = toCsiAccessMode(spec.accessModes ?? [], options.supportsSingleNodeMultiWriter);
  if (spec.volumeMode === 'Block') return { accessType: { $case: 'block', value: {} }, accessMode: { mode } };
  return {
    accessType: {
      $case: 'mount',
      value: {
        fsType: spec.csi.fsType || options.defaultFsType,
        mountFlags: [...(spec.mountOptions ?? [])],
        volumeMountGroup: '',
      },
    },
    accessMode: { mode },
  };
}

/** The CSI source of the volume a VolumeAttachment names. */
export function csiSourceOf(spec: V1PersistentVolumeSpec): V1CSIPersistentVolumeSource {
  if (!spec.csi) throw new Error('pv spec contained non-csi source that was not migrated');
  return spec.csi;
}
