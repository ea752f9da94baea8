import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';

const SNAPSHOT_API_GROUP = 'snapshot.storage.k8s.io';

export type DataSourceKind =
  | { kind: 'none' }
  /** A kind the provisioner does not know: an external volume populator fills the claim. */
  | { kind: 'populator' }
  /** A snapshot or PVC source: provisioning from it is not implemented yet. */
  | { kind: 'unsupported'; message: string };

/** Upstream's data-source normalisation (`dataSource` wins over `dataSourceRef`) and kind dispatch (§4.2 1 and 3). */
export function classifyDataSource(claim: V1PersistentVolumeClaim): DataSourceKind {
  const source = claim.spec?.dataSource ?? claim.spec?.dataSourceRef;
  if (!source) return { kind: 'none' };
  const group = source.apiGroup ?? '';
  const isSnapshot = source.kind === 'VolumeSnapshot' && group === SNAPSHOT_API_GROUP;
  const isClaim = source.kind === 'PersistentVolumeClaim' && group === '';
  if (!isSnapshot && !isClaim) return { kind: 'populator' };
  // Never provision an empty volume in place of the requested content.
  return {
    kind: 'unsupported',
    message: `provisioning from a ${source.kind} data source ("${source.name}") is not supported yet by this provisioner`,
  };
}

/** The `source` label of the provisioning metrics. */
export function dataSourceLabel(claim: V1PersistentVolumeClaim): string {
  return claim.spec?.dataSource?.kind ?? '';
}
