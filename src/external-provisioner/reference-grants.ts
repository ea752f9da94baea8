import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';

/** gateway.networking.k8s.io/v1beta1 ReferenceGrant: the fields the cross-namespace check reads. */
export interface ReferenceGrant {
  apiVersion?: string;
  kind?: string;
  metadata?: { name?: string; namespace?: string; uid?: string; resourceVersion?: string };
  spec?: {
    from?: { group?: string; kind?: string; namespace?: string }[];
    to?: { group?: string; kind?: string; name?: string }[];
  };
}

export const REFERENCE_GRANTS_PATH = '/apis/gateway.networking.k8s.io/v1beta1/referencegrants';

/** The ReferenceGrant cache (an informer, started only with the CrossNamespaceVolumeDataSource gate). */
export interface ReferenceGrantReader {
  hasSynced(): boolean;
  list(): ReferenceGrant[];
}

/**
 * Why a claim may not use its cross-namespace `dataSourceRef`, or undefined when a ReferenceGrant in the source's
 * namespace trusts claims of the claim's namespace for that group and kind, and for that name or every name.
 */
export function crossNamespaceRefusal(claim: V1PersistentVolumeClaim, grants: ReferenceGrant[]): string | undefined {
  const ref = claim.spec?.dataSourceRef;
  const claimNamespace = claim.metadata?.namespace ?? '';
  const sourceNamespace = ref?.namespace ?? '';
  if (!ref || !sourceNamespace || sourceNamespace === claimNamespace) return undefined;
  const group = ref.apiGroup ?? '';
  const granted = grants.some(
    (grant) =>
      grant.metadata?.namespace === sourceNamespace &&
      (grant.spec?.from ?? []).some(
        (from) =>
          (from.group ?? '') === '' && from.kind === 'PersistentVolumeClaim' && from.namespace === claimNamespace,
      ) &&
      (grant.spec?.to ?? []).some(
        (to) => (to.group ?? '') === group && to.kind === ref.kind && (!to.name || to.name === ref.name),
      ),
  );
  if (granted) return undefined;
  // Upstream's wording, so alerts and runbooks keyed on it keep working.
  return `accessing ${sourceNamespace}/${ref.name} of ${ref.kind} dataSource from ${claimNamespace}/${claim.metadata?.name ?? ''} isn't allowed`;
}
