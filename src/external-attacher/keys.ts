/** Written by the attacher on a VolumeAttachment: the node ID it attached to, read back on detach. */
export const VA_NODE_ID_ANNOTATION = 'csi.alpha.kubernetes.io/node-id';

/** Every character outside [a-zA-Z0-9-] becomes '-', and a trailing '-' gets an 'X' (upstream's rule). */
export function sanitizeDriverName(driverName: string): string {
  const name = driverName.replace(/[^a-zA-Z0-9-]/g, '-');
  return name.endsWith('-') ? `${name}X` : name;
}

/** The finalizer on VolumeAttachments and PersistentVolumes: `external-attacher/<sanitised driver>`. */
export function attacherFinalizer(driverName: string): string {
  return `external-attacher/${sanitizeDriverName(driverName)}`;
}

/** The Lease name before the leader elector's own sanitising. */
export function attacherLeaseName(driverName: string): string {
  return `external-attacher-leader-${driverName}`;
}

/** Work queue names, the `name` label of the workqueue_* metrics. */
export const VA_QUEUE_NAME = 'csi-attacher-va';
/** Not upstream's: VolumeAttachments being deleted have a queue of their own (upstream #761). */
export const VA_DETACH_QUEUE_NAME = 'csi-attacher-va-detach';
export const PV_QUEUE_NAME = 'csi-attacher-pv';
