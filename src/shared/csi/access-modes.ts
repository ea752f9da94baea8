import { VolumeCapability_AccessMode_Mode as AccessMode } from '../../gen/csi.js';

/**
 * csi-lib-utils `accessmodes.ToCSIAccessMode`: the one CSI access mode for a set of Kubernetes access modes. A
 * driver with SINGLE_NODE_MULTI_WRITER gets the finer single-node modes. Throws with upstream's texts for sets CSI
 * cannot express.
 */
export function toCsiAccessMode(accessModes: readonly string[], supportsSingleNodeMultiWriter: boolean): AccessMode {
  const modes = new Set(accessModes);
  if (modes.has('ReadWriteOncePod')) {
    if (modes.size > 1) {
      throw new Error(
        'Kubernetes does not support use of ReadWriteOncePod with other access modes on the same PersistentVolume',
      );
    }
    return supportsSingleNodeMultiWriter ? AccessMode.SINGLE_NODE_SINGLE_WRITER : AccessMode.SINGLE_NODE_WRITER;
  }
  if (modes.has('ReadWriteMany')) return AccessMode.MULTI_NODE_MULTI_WRITER;
  if (modes.has('ReadOnlyMany') && modes.has('ReadWriteOnce')) {
    throw new Error('CSI does not support ReadOnlyMany and ReadWriteOnce on the same PersistentVolume');
  }
  if (modes.has('ReadOnlyMany')) return AccessMode.MULTI_NODE_READER_ONLY;
  if (modes.has('ReadWriteOnce')) {
    return supportsSingleNodeMultiWriter ? AccessMode.SINGLE_NODE_MULTI_WRITER : AccessMode.SINGLE_NODE_WRITER;
  }
  // Go's %+v of the slice.
  throw new Error(`unsupported AccessMode combination: [${accessModes.join(' ')}]`);
}
