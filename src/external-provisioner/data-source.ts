import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { SNAPSHOT_API_GROUP } from './snapshot-types.js';

/** Where a clone or restore reads from. */
export interface DataSourceObject {
  name: string;
  namespace: string;
}

export type DataSourceKind =
  | { kind: 'none' }
  /** A kind the provisioner does not know: an external volume populator fills the claim. */
  | ({ kind: 'populator' } & DataSourceObject)
  | ({ kind: 'snapshot' } & DataSourceObject)
  | ({ kind: 'clone' } & DataSourceObject)
  /** A data source that can never be provisioned as written (upstream: ProvisioningFinished). */
  | { kind: 'invalid'; message: string };

/**
 * Upstream's data-source normalisation (`dataSource` wins over `dataSourceRef`) and kind dispatch (prepareProvision).
 * `crossNamespace` is the CrossNamespaceVolumeDataSource gate.
 */
export function classifyDataSource(claim: V1PersistentVolumeClaim, crossNamespace = false): DataSourceKind {
  const claimNamespace = claim.metadata?.namespace ?? '';
  const spec = claim.spec;
  let source: { kind: string; name: string; apiGroup?: string; namespace: string };
  if (spec?.dataSource) {
    source = { ...spec.dataSource, namespace: claimNamespace };
  } else if (spec?.dataSourceRef) {
    const refNamespace = spec.dataSourceRef.namespace;
    if (refNamespace && !crossNamespace) {
      return {
        kind: 'invalid',
        message: 'dataSourceRef namespace specified but the CrossNamespaceVolumeDataSource feature is disabled',
      };
    }
    source = { ...spec.dataSourceRef, namespace: refNamespace || claimNamespace };
  } else {
    return { kind: 'none' };
  }
  if (!source.name)
    return { kind: 'invalid', message: `the PVC source not found for PVC ${claim.metadata?.name ?? ''}` };
  if (source.kind === 'VolumeSnapshot') {
    const group = source.apiGroup ?? '';
    if (group !== SNAPSHOT_API_GROUP) {
      return {
        kind: 'invalid',
        message: `the PVC source does not belong to the right APIGroup. Expected ${SNAPSHOT_API_GROUP}, Got ${group}`,
      };
    }
  } else if (source.kind !== 'PersistentVolumeClaim') {
    return { kind: 'populator', name: source.name, namespace: source.namespace };
  }
  const kind = source.kind === 'VolumeSnapshot' ? 'snapshot' : 'clone';
  return { kind, name: source.name, namespace: source.namespace };
}

/** The `source` label of the provisioning metrics. */
export function dataSourceLabel(claim: V1PersistentVolumeClaim): string {
  return claim.spec?.dataSource?.kind ?? '';
}
