import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import type { CacheReader } from '../shared/kube/cache.js';
import { isConflict, isForbidden, isNotFound, statusMessage } from '../shared/kube/errors.js';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import type { DataSourceKind } from './data-source.js';
import { FINALIZER_CLONE_PROTECTION, FINALIZER_SNAPSHOT_SOURCE_PROTECTION } from './keys.js';
import type { ProvisionerKube } from './kube-ports.js';
import { withFinalizer, withoutFinalizer } from './protection-finalizers.js';
import type { ProtectionKube } from './protection-ports.js';
import { ProvisioningError, ProvisioningState } from './provisioning-errors.js';
import { pendingSnapshotKeys } from './snapshot-finalizer-controller.js';
import type { VolumeSnapshot } from './snapshot-types.js';

// The provisioning half of the data-source protections (upstream's setCloneFinalizer
// and setSnapshotFinalizer): the clone source claim and the restored VolumeSnapshot get their
// finalizer before CreateVolume, so neither can disappear while the driver
// copies from it. The clone-protection controller and the snapshot sweeper
// take the finalizers off again.

export interface ProtectSourceInput {
  protection: ProtectionKube;
  /** The claim cache; the clone source is taken from it, as cloneContentSource did. */
  claims: CacheReader<V1PersistentVolumeClaim>;
  dataSource: DataSourceKind;
  /** The VolumeSnapshot snapshotSource just read (restore only). */
  snapshot?: VolumeSnapshot;
  logger: Logger;
}

/**
 * Adds the source's protection finalizer (an update: RBAC grants no patch).
 * Returns the restored snapshot as written, for releaseSnapshotSource, or
 * undefined when there is no snapshot finalizer to release. Throws a NoChange
 * ProvisioningError, so the claim is retried without calling CreateVolume.
 */
export async function protectDataSource(input: ProtectSourceInput): Promise<VolumeSnapshot | undefined> {
  const { dataSource } = input;
  if (dataSource.kind === 'clone') {
    await protectCloneSource(input, `${dataSource.namespace}/${dataSource.name}`);
    return undefined;
  }
  if (dataSource.kind !== 'snapshot' || !input.snapshot) return undefined;
  const key = `${dataSource.namespace}/${dataSource.name}`;
  const updated = withFinalizer(input.snapshot, FINALIZER_SNAPSHOT_SOURCE_PROTECTION);
  if (!updated) return input.snapshot;
  try {
    return await input.protection.updateVolumeSnapshot(updated);
  } catch (err) {
    if (isForbidden(err)) {
      // Upstream keeps the VolumeSnapshot update optional in its RBAC: restore unprotected rather than not at all.
      input.logger.v(2).info('Not allowed to add the source protection finalizer to the VolumeSnapshot', {
        snapshot: key,
        err: errorText(err),
      });
      return undefined;
    }
    throw noChange(`failed to add finalizer to VolumeSnapshot ${key}`, err);
  }
}

async function protectCloneSource(input: ProtectSourceInput, key: string): Promise<void> {
  const source = input.claims.get(key);
  // cloneContentSource found it a moment ago; gone since means deleted, which the next attempt reports.
  if (!source) throw noChange(`failed to add clone protection finalizer to PVC ${key}: not found`);
  // A copy of the cached claim; its resourceVersion turns a concurrent write into a Conflict (retried).
  const updated = withFinalizer(source, FINALIZER_CLONE_PROTECTION);
  if (!updated) return;
  try {
    await input.protection.updateClaim(updated);
  } catch (err) {
    throw noChange(`failed to add clone protection finalizer to PVC ${key}`, err);
  }
}

export interface ReleaseSnapshotInput {
  protection: ProtectionKube;
  kube: Pick<ProvisionerKube, 'getVolumeSnapshot'>;
  claims: CacheReader<V1PersistentVolumeClaim>;
  /** The claim just provisioned from the snapshot. */
  claim: V1PersistentVolumeClaim;
  /** The snapshot as protectDataSource left it. */
  snapshot: VolumeSnapshot;
  logger: Logger;
}

/**
 * Upstream removes the snapshot's finalizer once the restore succeeded (best
 * effort: failures are only logged, the sweeper catches what is left). Unlike
 * upstream, a snapshot that another claim is still restoring from keeps it:
 * that restore added it too and relies on it.
 */
export async function releaseSnapshotSource(input: ReleaseSnapshotInput): Promise<void> {
  const namespace = input.snapshot.metadata?.namespace ?? '';
  const name = input.snapshot.metadata?.name ?? '';
  const key = `${namespace}/${name}`;
  const logger = input.logger.withValues({ snapshot: key });
  const uid = input.claim.metadata?.uid;
  const others = input.claims.list().filter((c) => c.metadata?.uid !== uid);
  if (pendingSnapshotKeys(others).has(key)) {
    logger.v(4).info('VolumeSnapshot still a source of another provisioning claim, keeping its finalizer');
    return;
  }
  try {
    await removeSnapshotFinalizer(input.protection, input.snapshot);
    return;
  } catch (err) {
    if (!isConflict(err)) return logReleaseFailure(logger, err);
  }
  // Changed since the protection was added (the snapshot controller writes it too): once more on a fresh read.
  try {
    await removeSnapshotFinalizer(input.protection, await input.kube.getVolumeSnapshot(namespace, name));
  } catch (err) {
    logReleaseFailure(logger, err);
  }
}

/** A snapshot deleted meanwhile (NotFound) needs no removal. */
async function removeSnapshotFinalizer(protection: ProtectionKube, snapshot: VolumeSnapshot): Promise<void> {
  const updated = withoutFinalizer(snapshot, FINALIZER_SNAPSHOT_SOURCE_PROTECTION);
  if (!updated) return;
  try {
    await protection.updateVolumeSnapshot(updated);
  } catch (err) {
    if (!isNotFound(err)) throw err;
  }
}

function logReleaseFailure(logger: Logger, err: unknown): void {
  if (isNotFound(err)) return;
  logger.v(isForbidden(err) ? 3 : 0).info('Failed to remove the source protection finalizer from the VolumeSnapshot', {
    err: errorText(err),
  });
}

function noChange(message: string, cause?: unknown): ProvisioningError {
  const text = cause === undefined ? message : `${message}: ${statusMessage(cause) ?? errorText(cause)}`;
  return new ProvisioningError({ message: text, state: ProvisioningState.NoChange, cause });
}
