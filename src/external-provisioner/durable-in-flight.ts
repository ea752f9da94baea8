/**
 * Durable in-flight provisioning (opt-in, `--durable-in-flight`): closes the leak of
 * kubernetes-csi/external-provisioner#486 (restart while CreateVolume runs, claim deleted meanwhile) and the
 * stale-cache second CreateVolume of #1469.
 *
 * Design
 * - Before the first CreateVolume of a claim, ONE update (PUT of a deep copy with its resourceVersion, like
 *   every other claim write of the provisioner) adds the finalizer FINALIZER_IN_FLIGHT and the annotation
 *   ANN_IN_FLIGHT (JSON `{"volumeName","storageClassName","storageClassUID","driver"}`; names only, never
 *   secrets). A concurrent change (or a re-created claim) fails with 409 Conflict: the claim is read again
 *   (uncached GET), the copy recomputed from it and written once more; a second failure is thrown. A claim that is gone (NotFound) or already terminating is never marked, and then CreateVolume must not be
 *   called: the apiserver rejects new finalizers on a terminating object, and provisioning for a deleted claim
 *   from a stale cache is exactly #1469.
 * - When the PV is saved, or CreateVolume itself gave a final answer (nothing exists), ONE update removes both.
 *   Finalizer errors before the call (Finished from prepareProvision) must NOT clear an existing marker: an
 *   earlier InBackground call may still have created the volume.
 * - `reconcile()` is the single recovery entry point, called for every synced claim that carries the marker
 *   (hence at start-up too, since the informer lists every claim): PV saved → clear; claim terminating and no
 *   PV → CreateVolume again with the recorded name (request rebuilt from the recorded StorageClass, secrets read
 *   again), DeleteVolume of the returned id, then clear so the claim goes away.
 * - A crash between DeleteVolume and the clear just repeats create+delete on restart (drivers are idempotent);
 *   a crash between the PV save and the clear leaves a marker that reconcile clears because the PV exists.
 * - StorageClass deleted meanwhile: the request cannot be rebuilt. We keep the finalizer, emit a Warning
 *   `ProvisioningCleanupFailed` event naming the volume and the two ways out (re-create the class, or delete the
 *   backend volume and remove the finalizer by hand), and retry with the queue's backoff; we never give up on our
 *   own. Why: a claim stuck in Terminating is visible and blocks only its namespace's deletion; a leaked volume
 *   is invisible and costs money, and leaking silently is what this mode exists to prevent. The same applies to
 *   ALREADY_EXISTS from the repeated CreateVolume (the volume exists with other parameters, its id is unknown).
 *   A re-created class (other UID) is used anyway: drivers usually return the existing volume by name.
 * - RBAC: the writes are HTTP PUT, covered by the shipped `persistentvolumeclaims: update` (upstream grants no
 *   `patch` on claims); the uncached read after a conflict needs `get` (already granted).
 * - Turning the flag off: construct with `mode: 'cleanup'`. reconcile() then still recovers terminating marked
 *   claims (so nothing protected before leaks) and clears markers of live claims (the in-memory path of
 *   upstream takes over). No RBAC change either way.
 *
 * Controller hook points (ClaimController)
 * 1. sync(): for a claim with hasInFlightFinalizer() or ANN_IN_FLIGHT, `await reconcile(claim, deps)` first;
 *    'recovered' → forgetClaim(uid) and return; 'cleared' on a terminating claim → return; otherwise continue.
 *    Terminating claims must not reach provision() in durable mode.
 * 2. attempt(): after prepareProvision, before createTracked: `claim = await markInFlight(claim, record)`;
 *    undefined → return without CreateVolume (claim gone or terminating); a throw → NoChange.
 * 3. save() success or AlreadyExists, and UnsavedVolumes onSaved: `clearInFlight(claim)` (the claim as the mark
 *    wrote it, else the cached claim by claimRef with the same UID); a failure is only logged, reconcile() clears
 *    it later since the PV then exists.
 * 4. Finished or Reschedule thrown BY CreateVolume (createTracked, caught in attempt()) → `clearInFlight(claim)`;
 *    the cleared claim becomes the attempt's claim, so attemptFailed()'s reschedule update is not a conflict.
 * 5. Start-up needs nothing extra: the informer's initial list enqueues every claim, so hook 1 runs for all.
 */
import type { V1PersistentVolumeClaim, V1StorageClass } from '@kubernetes/client-node';
import { status } from '@grpc/grpc-js';
import type { CreateVolumeRequest } from '../gen/csi.js';
import { grpcCode } from '../shared/csi/status.js';
import { isConflict, isNotFound } from '../shared/kube/errors.js';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import { claimKey } from './in-flight.js';
import type { ClaimAttempt, CreatedVolume, PreparedProvision } from './provision-claim.js';
import { EventReason } from './keys.js';
import { ProvisioningError, ProvisioningState, createVolumeErrorState } from './provisioning-errors.js';

/** PVC finalizer while a CreateVolume for it may have created a volume that no PV records yet. */
export const FINALIZER_IN_FLIGHT = 'external-provisioner.volume.kubernetes.io/provisioning-in-flight';
/** PVC annotation with the InFlightRecord (JSON) needed to finish the operation after a restart. */
export const ANN_IN_FLIGHT = 'external-provisioner.volume.kubernetes.io/provisioning-in-flight';

/** What recovery needs besides the claim itself; names only, never secret material. */
export interface InFlightRecord {
  /** The CreateVolume name, which is also the PV name. */
  volumeName: string;
  storageClassName: string;
  /** Lets recovery notice (and log) a class re-created under the same name. */
  storageClassUID: string;
  /** The driver that owns the marker; other provisioners sharing the finalizer name leave it alone. */
  driver: string;
}

/** The claim write and the uncached read this module needs (a subset of ProvisionerKube). */
export interface ClaimWritePort {
  /** PUT with the claim's resourceVersion; a concurrent change fails with 409 Conflict. */
  updateClaim(claim: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim>;
  /** Uncached GET; throws an error with isNotFound() true when the claim is gone. */
  readClaim(namespace: string, name: string): Promise<V1PersistentVolumeClaim>;
}

/** Warning events on the claim (the controller adapts its EventRecorder). */
export type ClaimEventSink = (claim: V1PersistentVolumeClaim, reason: string, message: string) => void;

export interface DurableInFlightOptions {
  kube: ClaimWritePort;
  driverName: string;
  /** 'durable': the flag is on. 'cleanup': the flag is off, existing markers are finished and removed. */
  mode: 'durable' | 'cleanup';
  logger: Logger;
  warn: ClaimEventSink;
}

/** Where the PV of a recorded volume stands, as the controller knows it. */
export type VolumeObjectState = 'saved' | 'saving' | 'absent';

/** Callbacks into the provisioner, so recovery is testable without the controller. */
export interface RecoveryDeps {
  /** 'saved' when a PV of this name is in the cache, 'saving' while the unsaved-PV store retries it. */
  volumeState(volumeName: string): VolumeObjectState;
  storageClass(name: string): V1StorageClass | undefined;
  /** The provisioning as it would be prepared now (CreateVolumeRequest, secrets read again). */
  rebuildProvision(input: {
    claim: V1PersistentVolumeClaim;
    storageClass: V1StorageClass;
    volumeName: string;
  }): Promise<PreparedProvision>;
  /** CreateVolume. Errors: a ProvisioningError or a raw gRPC error. */
  createVolume(prepared: PreparedProvision): Promise<CreatedVolume>;
  /** DeleteVolume with the request's secrets. */
  deleteVolume(volumeId: string, request: CreateVolumeRequest): Promise<void>;
  /** Creates the PV of a volume (AlreadyExists counts as created); throws when it could not be written. */
  saveVolume(input: ClaimAttempt & { prepared: PreparedProvision; created: CreatedVolume }): Promise<void>;
}

export type DurableFailureReason =
  | 'RecordUnreadable'
  | 'PersistentVolumeSaving'
  | 'StorageClassMissing'
  | 'RebuildFailed'
  | 'CreateVolumeInProgress'
  | 'VolumeNameTaken'
  | 'DeleteVolumeFailed';

/** Recovery could not finish yet; thrown so the claim queue retries with backoff. The finalizer stays. */
export class DurableInFlightError extends Error {
  override readonly name = 'DurableInFlightError';
  readonly reason: DurableFailureReason;

  constructor(reason: DurableFailureReason, message: string, cause?: unknown) {
    super(message, { cause });
    this.reason = reason;
  }
}

/** What reconcile() did with a claim. */
export type ReconcileOutcome =
  /** No marker of ours. */
  | 'unmarked'
  /** Live claim, operation still in flight: normal provisioning continues. */
  | 'in-flight'
  /** Marker removed (PV saved, or cleanup mode on a live claim). */
  | 'cleared'
  /** Terminating claim: the volume was deleted (or never created) and the finalizer removed. */
  | 'recovered';

export function hasInFlightFinalizer(claim: V1PersistentVolumeClaim): boolean {
  return claim.metadata?.finalizers?.includes(FINALIZER_IN_FLIGHT) ?? false;
}

function isTerminating(claim: V1PersistentVolumeClaim): boolean {
  return Boolean(claim.metadata?.deletionTimestamp);
}

/** The record on a claim; undefined when absent or not valid JSON of the expected shape. */
export function recordOf(claim: V1PersistentVolumeClaim): InFlightRecord | undefined {
  const text = claim.metadata?.annotations?.[ANN_IN_FLIGHT];
  if (text === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return undefined;
  }
  if (typeof parsed !== 'object' || parsed === null) return undefined;
  const fields = parsed as Record<string, unknown>;
  const field = (key: keyof InFlightRecord): string | undefined =>
    typeof fields[key] === 'string' ? (fields[key] as string) : undefined;
  const volumeName = field('volumeName');
  const storageClassName = field('storageClassName');
  const storageClassUID = field('storageClassUID');
  const driver = field('driver');
  if (!volumeName || storageClassName === undefined || storageClassUID === undefined || driver === undefined) {
    return undefined;
  }
  return { volumeName, storageClassName, storageClassUID, driver };
}

/** Fixed key order, so an identical record is recognised as already written. */
export function serializeRecord(record: InFlightRecord): string {
  const { volumeName, storageClassName, storageClassUID, driver } = record;
  return JSON.stringify({ volumeName, storageClassName, storageClassUID, driver });
}

/**
 * A deep copy of the claim with the finalizer appended and the record set (the cached object is shared with the
 * informer); undefined when both are already there with this record.
 */
export function markedClaim(
  claim: V1PersistentVolumeClaim,
  record: InFlightRecord,
): V1PersistentVolumeClaim | undefined {
  const value = serializeRecord(record);
  const needsFinalizer = !hasInFlightFinalizer(claim);
  const needsRecord = claim.metadata?.annotations?.[ANN_IN_FLIGHT] !== value;
  if (!needsFinalizer && !needsRecord) return undefined;
  const copy = structuredClone(claim);
  const meta = (copy.metadata ??= {});
  if (needsFinalizer) meta.finalizers = [...(meta.finalizers ?? []), FINALIZER_IN_FLIGHT];
  if (needsRecord) meta.annotations = { ...meta.annotations, [ANN_IN_FLIGHT]: value };
  return copy;
}

/** A deep copy without any copy of the finalizer and without the record; undefined when neither is there. */
export function clearedClaim(claim: V1PersistentVolumeClaim): V1PersistentVolumeClaim | undefined {
  const hasRecord = claim.metadata?.annotations?.[ANN_IN_FLIGHT] !== undefined;
  if (!hasInFlightFinalizer(claim) && !hasRecord) return undefined;
  const copy = structuredClone(claim);
  const meta = (copy.metadata ??= {});
  if (meta.finalizers) meta.finalizers = meta.finalizers.filter((f) => f !== FINALIZER_IN_FLIGHT);
  if (hasRecord && meta.annotations) delete meta.annotations[ANN_IN_FLIGHT];
  return copy;
}

/**
 * The durable in-flight marker of claims: mark before CreateVolume, clear after the PV is saved or a final
 * CreateVolume error, recover terminating claims. See the file comment for the design.
 */
export class DurableInFlight {
  private readonly kube: ClaimWritePort;
  private readonly driverName: string;
  private readonly mode: 'durable' | 'cleanup';
  private readonly logger: Logger;
  private readonly warn: ClaimEventSink;

  constructor(options: DurableInFlightOptions) {
    this.kube = options.kube;
    this.driverName = options.driverName;
    this.mode = options.mode;
    this.logger = options.logger;
    this.warn = options.warn;
  }

  get enabled(): boolean {
    return this.mode === 'durable';
  }

  /** The record of a claim this provisioner marked; undefined when unmarked or owned by another driver. */
  recordOf(claim: V1PersistentVolumeClaim): InFlightRecord | undefined {
    const record = recordOf(claim);
    return record?.driver === this.driverName ? record : undefined;
  }

  /**
   * Marks the claim before CreateVolume. Resolves to the claim as written (use it for later writes), or to
   * undefined when the claim is gone or terminating: then CreateVolume must NOT be called. In cleanup mode it
   * writes nothing and returns the claim. Throws on API errors (the attempt is retried, NoChange).
   */
  async markInFlight(
    claim: V1PersistentVolumeClaim,
    record: Omit<InFlightRecord, 'driver'>,
  ): Promise<V1PersistentVolumeClaim | undefined> {
    if (!this.enabled) return claim;
    const full: InFlightRecord = { ...record, driver: this.driverName };
    const written = await this.updateWithRefresh(claim, (current) => {
      // A terminating claim cannot get a new finalizer, and a marked one is reconcile()'s to finish.
      if (isTerminating(current)) return 'stop';
      return markedClaim(current, full);
    });
    if (written === undefined) {
      this.logger.v(4).info('Not marking claim in flight: gone or terminating', { pvc: claimKey(claim) });
    }
    return written;
  }

  /**
   * Removes the marker; a no-op (no API call) when absent, and when the claim is gone. Resolves to the claim as
   * written (or the input when nothing changed), undefined when it is gone. Throws on API errors.
   */
  async clearInFlight(claim: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim | undefined> {
    return this.updateWithRefresh(claim, (current) => clearedClaim(current));
  }

  /**
   * Settles a claim carrying the marker: call it for every synced claim before provisioning. Throws
   * DurableInFlightError (or an API error) to be retried with backoff; the finalizer then stays.
   */
  async reconcile(claim: V1PersistentVolumeClaim, deps: RecoveryDeps): Promise<ReconcileOutcome> {
    if (!hasInFlightFinalizer(claim) && claim.metadata?.annotations?.[ANN_IN_FLIGHT] === undefined) return 'unmarked';
    const raw = recordOf(claim);
    if (raw && raw.driver !== this.driverName) return 'unmarked';
    if (!raw) {
      // A live claim gets its record rewritten by the next markInFlight; only a terminating one is stuck.
      if (isTerminating(claim)) return this.unreadable(claim);
      return this.enabled ? 'in-flight' : this.cleared(claim);
    }
    // The PV owns the volume now; its reclaim policy decides what happens to it.
    if (deps.volumeState(raw.volumeName) === 'saved') return this.cleared(claim);
    if (!isTerminating(claim)) return this.enabled ? 'in-flight' : this.cleared(claim);
    await this.recoverDeletedClaim(claim, raw, deps);
    return 'recovered';
  }

  /**
   * A terminating claim whose volume may exist without a PV: CreateVolume again with the recorded name, delete
   * what it returns, then release the claim.
   */
  async recoverDeletedClaim(claim: V1PersistentVolumeClaim, record: InFlightRecord, deps: RecoveryDeps): Promise<void> {
    if (deps.volumeState(record.volumeName) === 'saving') {
      throw new DurableInFlightError(
        'PersistentVolumeSaving',
        `PersistentVolume ${record.volumeName} is still being saved; the claim is released once it exists`,
      );
    }
    const { storageClass, prepared } = await this.rebuild(claim, record, deps);
    const created = await this.createAgain(claim, record, prepared, deps);
    const volumeId = created?.volume.volumeId;
    if (created && storageClass.reclaimPolicy === 'Retain') {
      await this.saveRetained({ claim, storageClass, prepared, created }, deps);
    } else if (volumeId !== undefined) {
      await this.deleteCreated(claim, volumeId, prepared.request, deps);
    }
    await this.clearInFlight(claim);
    this.logger.info('Released claim deleted during provisioning', {
      pvc: claimKey(claim),
      volumeName: record.volumeName,
      volumeId,
      kept: storageClass.reclaimPolicy === 'Retain',
    });
  }

  /** A Retain class keeps the volume, as upstream does: its PV is saved with the deleted claim in claimRef. */
  private async saveRetained(
    input: ClaimAttempt & { prepared: PreparedProvision; created: CreatedVolume },
    deps: RecoveryDeps,
  ): Promise<void> {
    try {
      await deps.saveVolume(input);
    } catch (err) {
      this.stuck(
        input.claim,
        'PersistentVolumeSaving',
        `failed to save PersistentVolume ${input.prepared.pvName} for the retained volume of deleted claim: ${errorText(err)}`,
        err,
      );
    }
  }

  private async rebuild(
    claim: V1PersistentVolumeClaim,
    record: InFlightRecord,
    deps: RecoveryDeps,
  ): Promise<{ storageClass: V1StorageClass; prepared: PreparedProvision }> {
    const storageClass = deps.storageClass(record.storageClassName);
    if (!storageClass) {
      return this.stuck(
        claim,
        'StorageClassMissing',
        `cannot finish provisioning of volume ${record.volumeName} for deleted claim: StorageClass "${record.storageClassName}" not found. ` +
          `Re-create the StorageClass to let the provisioner delete the volume, or delete volume ${record.volumeName} on the storage backend ` +
          `and remove finalizer ${FINALIZER_IN_FLIGHT} from the claim`,
      );
    }
    if (storageClass.metadata?.uid !== record.storageClassUID) {
      this.logger.warn('StorageClass was re-created since provisioning started; rebuilding the request from it', {
        pvc: claimKey(claim),
        storageClass: record.storageClassName,
      });
    }
    let prepared: PreparedProvision;
    try {
      prepared = await deps.rebuildProvision({ claim, storageClass, volumeName: record.volumeName });
    } catch (err) {
      const message = err instanceof ProvisioningError ? err.message : errorText(err);
      return this.stuck(claim, 'RebuildFailed', `cannot rebuild CreateVolume for deleted claim: ${message}`, err);
    }
    if (prepared.request.name !== record.volumeName) {
      // A changed --volume-name-prefix would otherwise create (and delete) a different volume than the lost one.
      return this.stuck(
        claim,
        'RebuildFailed',
        `rebuilt CreateVolume name ${prepared.request.name} differs from the recorded ${record.volumeName}`,
      );
    }
    return { storageClass, prepared };
  }

  /** The volume, or undefined when the driver's final answer says nothing was created. */
  private async createAgain(
    claim: V1PersistentVolumeClaim,
    record: InFlightRecord,
    prepared: PreparedProvision,
    deps: RecoveryDeps,
  ): Promise<CreatedVolume | undefined> {
    try {
      return await deps.createVolume(prepared);
    } catch (err) {
      const code = grpcCode(err instanceof ProvisioningError ? err.cause : err);
      if (code === status.ALREADY_EXISTS) {
        return this.stuck(
          claim,
          'VolumeNameTaken',
          `volume ${record.volumeName} exists with other parameters and its id is unknown; delete it on the storage backend ` +
            `and remove finalizer ${FINALIZER_IN_FLIGHT} from the claim`,
          err,
        );
      }
      const state =
        err instanceof ProvisioningError ? err.state : createVolumeErrorState({ error: err, mayReschedule: false });
      if (state === ProvisioningState.InBackground) {
        throw new DurableInFlightError(
          'CreateVolumeInProgress',
          `CreateVolume for deleted claim still in progress: ${errorText(err)}`,
          err,
        );
      }
      this.logger.v(2).info('CreateVolume of a deleted claim ended without a volume', {
        pvc: claimKey(claim),
        error: errorText(err),
      });
      return undefined;
    }
  }

  private async deleteCreated(
    claim: V1PersistentVolumeClaim,
    volumeId: string,
    request: CreateVolumeRequest,
    deps: RecoveryDeps,
  ): Promise<void> {
    try {
      await deps.deleteVolume(volumeId, request);
    } catch (err) {
      this.stuck(
        claim,
        'DeleteVolumeFailed',
        `failed to delete volume ${volumeId} of deleted claim: ${errorText(err)}`,
        err,
      );
    }
  }

  private async cleared(claim: V1PersistentVolumeClaim): Promise<'cleared'> {
    await this.clearInFlight(claim);
    return 'cleared';
  }

  private unreadable(claim: V1PersistentVolumeClaim): never {
    return this.stuck(
      claim,
      'RecordUnreadable',
      `annotation ${ANN_IN_FLIGHT} is missing or invalid; cannot tell which volume to delete. Check the storage backend ` +
        `and remove finalizer ${FINALIZER_IN_FLIGHT} from the claim by hand`,
    );
  }

  /** Warns on the claim and throws, so the queue retries with backoff while the finalizer keeps the claim. */
  private stuck(claim: V1PersistentVolumeClaim, reason: DurableFailureReason, message: string, cause?: unknown): never {
    this.warn(claim, EventReason.ProvisioningCleanupFailed, message);
    throw new DurableInFlightError(reason, message, cause);
  }

  /**
   * Writes the copy computed from claim (PUT); on a conflict (stale claim) reads the claim again and retries
   * once. Resolves to the written claim, to the current one when nothing had to change, or to undefined when the
   * claim is gone (or re-created) or `compute` said stop.
   */
  private async updateWithRefresh(
    claim: V1PersistentVolumeClaim,
    compute: (current: V1PersistentVolumeClaim) => V1PersistentVolumeClaim | undefined | 'stop',
  ): Promise<V1PersistentVolumeClaim | undefined> {
    let current = claim;
    for (let attempt = 0; ; attempt++) {
      const updated = compute(current);
      if (updated === 'stop') return undefined;
      if (updated === undefined) return current;
      try {
        return await this.kube.updateClaim(updated);
      } catch (err) {
        if (isNotFound(err)) return undefined;
        if (attempt > 0 || !isConflict(err)) throw err;
        const fresh = await this.readSame(current);
        if (!fresh) return undefined;
        current = fresh;
      }
    }
  }

  /** The claim as stored now; undefined when it is gone or was re-created (another UID). */
  private async readSame(claim: V1PersistentVolumeClaim): Promise<V1PersistentVolumeClaim | undefined> {
    try {
      const fresh = await this.kube.readClaim(claim.metadata?.namespace ?? '', claim.metadata?.name ?? '');
      return fresh.metadata?.uid === claim.metadata?.uid ? fresh : undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }
}
