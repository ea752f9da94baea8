import type { V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import type { PreparedProvision } from './provision-claim.js';

/** A CreateVolume whose outcome is unknown (upstream `claimsInProgress`). */
export interface InFlightOperation {
  /** The claim as last seen, kept so the operation can be finished after the claim is gone. */
  claim: V1PersistentVolumeClaim;
  /** Its class as of the request: a Retain class keeps the volume of a deleted claim. */
  storageClass: V1StorageClass;
  /** What was last sent, secrets included: a deleted claim's volume is deleted with the same secrets. */
  prepared: PreparedProvision;
  /** Set once CreateVolume succeeded for a deleted claim and only the DeleteVolume is left to do. */
  createdVolumeId?: string;
}

/**
 * Claims whose CreateVolume may still run on the driver, by PVC UID. Only in memory, like upstream: a restart in
 * this window and a deleted claim leak the volume (kubernetes-csi/external-provisioner#486).
 */
export class InFlightClaims {
  private readonly byUid = new Map<string, InFlightOperation>();

  get(uid: string): InFlightOperation | undefined {
    return this.byUid.get(uid);
  }

  set(uid: string, operation: InFlightOperation): void {
    this.byUid.set(uid, operation);
  }

  delete(uid: string): void {
    this.byUid.delete(uid);
  }

  get size(): number {
    return this.byUid.size;
  }

  /** Operations of claims under this queue key that are no longer the live claim (deleted, or re-created). */
  orphans(key: string, liveUid: string | undefined): [uid: string, operation: InFlightOperation][] {
    return [...this.byUid].filter(([uid, op]) => uid !== liveUid && claimKey(op.claim) === key);
  }
}

/** The claim's queue key, `namespace/name` (client-go's MetaNamespaceKeyFunc). */
export function claimKey(claim: { metadata?: { namespace?: string; name?: string } }): string {
  return `${claim.metadata?.namespace ?? ''}/${claim.metadata?.name ?? ''}`;
}
