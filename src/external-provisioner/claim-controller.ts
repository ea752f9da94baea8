import type {
  V1CSINode,
  V1Node,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1StorageClass,
} from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import type { Clock } from '../shared/clock/clock.js';
import type { SyncResult } from '../shared/controller/reconcile.js';
import type { WorkQueue } from '../shared/controller/work-queue.js';
import type { CsiCaller } from '../shared/csi/connection.js';
import type { EventRecorder } from '../shared/events/event-recorder.js';
import type { CacheReader } from '../shared/kube/cache.js';
import { isAlreadyExists } from '../shared/kube/errors.js';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import { ClaimMetrics } from './claim-metrics.js';
import { ClaimReporter, claimReference, metricLabels } from './claim-events.js';
import { ClaimRescheduler } from './claim-rescheduler.js';
import { InvalidClaimError, makeVolumeName } from './create-volume-request.js';
import { classifyDataSource } from './data-source.js';
import { ANN_IN_FLIGHT, DurableInFlight, hasInFlightFinalizer } from './durable-in-flight.js';
import type { RecoveryDeps } from './durable-in-flight.js';
import type { ProvisionerConfig } from './flags.js';
import { InFlightClaims, claimKey } from './in-flight.js';
import { claimStorageClassName } from './pv.js';
import { InfeasibleClaims } from './infeasible-claims.js';
import { ANN_MIGRATED_TO, EventReason } from './keys.js';
import type { ProvisionerKube } from './kube-ports.js';
import { finishOrphan } from './orphan-claims.js';
import type { ReferenceGrantReader } from './reference-grants.js';
import type { ProtectionKube } from './protection-ports.js';
import { buildVolume, checkReferenceGrant, createVolume, deleteVolume, prepareProvision } from './provision-claim.js';
import type { ClaimAttempt, PreparedProvision, ProvisionContext, ProvisionerCapabilities } from './provision-claim.js';
import { INFEASIBLE_MESSAGE_PREFIX, ProvisioningError, ProvisioningState } from './provisioning-errors.js';
import { shouldProvision } from './should-provision.js';
import { releaseSnapshotSource } from './source-protection.js';
import type { TopologyRetryRecord } from './topology.js';
import { SavedVolumes } from './saved-volumes.js';
import { UnsavedVolumes } from './unsaved-volumes.js';
import { WorkQueueMetricsFactory } from '../shared/controller/metrics.js';

export { SAVED_VOLUME_TTL_MS } from './saved-volumes.js';

export interface ClaimControllerOptions {
  claims: CacheReader<V1PersistentVolumeClaim>;
  classes: CacheReader<V1StorageClass>;
  volumes: CacheReader<V1PersistentVolume>;
  nodes: CacheReader<V1Node>;
  csiNodes: CacheReader<V1CSINode>;
  kube: ProvisionerKube;
  /** Data-source protection finalizers (clone source, restored snapshot); none without it. */
  protection?: ProtectionKube;
  /** ReferenceGrants for cross-namespace data sources (CrossNamespaceVolumeDataSource gate); none without it. */
  referenceGrants?: ReferenceGrantReader;
  csi: CsiCaller;
  recorder: EventRecorder;
  /**
   * Events upstream emits from the CSI provisioner code rather than the provisioning library, under source
   * component `external-provisioner` (the external-populator event); `recorder` without it.
   */
  provisionerRecorder?: EventRecorder;
  config: ProvisionerConfig;
  driverName: string;
  provisionerIdentity: string;
  capabilities: ProvisionerCapabilities;
  /** Keyed by claim `namespace/name`; its rate limiter gives the per-claim backoff (--retry-interval-start/max). */
  queue: WorkQueue<string>;
  clock: Clock;
  logger: Logger;
  /** Where the `controller_persistentvolumeclaim_provision_*` metrics go; none without it. */
  registry?: Registry;
}

/**
 * Provisions volumes for claims (the lib's claim worker plus the CSI provisioner's Provision): one attempt per
 * sync, every failure reported as a ProvisioningFailed event and retried with the queue's backoff.
 */
export class ClaimController {
  private readonly claims: CacheReader<V1PersistentVolumeClaim>;
  private readonly classes: CacheReader<V1StorageClass>;
  private readonly volumes: CacheReader<V1PersistentVolume>;
  private readonly recorder: EventRecorder;
  private readonly provisionerRecorder: EventRecorder;
  private readonly kube: ProvisionerKube;
  readonly queue: WorkQueue<string>;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly context: ProvisionContext;
  private readonly metrics: ClaimMetrics | undefined;
  private readonly reporter: ClaimReporter;
  private readonly inFlight = new InFlightClaims();
  private readonly infeasible: InfeasibleClaims;
  private readonly topologyRecords = new Map<string, TopologyRetryRecord>();
  private readonly rescheduler: ClaimRescheduler;
  private readonly unsaved: UnsavedVolumes;
  private readonly durable: DurableInFlight;
  /** ProvisionContext without data-source protection: recovery of a deleted claim must not protect sources. */
  private readonly recoveryContext: ProvisionContext;
  /** By claim UID: the claim as our in-flight mark wrote it (newer than the cache until the informer catches up). */
  private readonly markedClaims = new Map<string, V1PersistentVolumeClaim>();
  /**
   * PV name → monotonic expiry: PVs this process saved that the volumes cache may not show yet, so a claim
   * re-queued during CreateVolume is not provisioned a second time before the PV's watch event arrives.
   */
  private readonly savedVolumes: SavedVolumes;
  /** Claim key → UID last synced, so that a claim gone from the cache can drop what is kept by UID. */
  private readonly claimUids = new Map<string, string>();

  constructor(options: ClaimControllerOptions) {
    this.claims = options.claims;
    this.classes = options.classes;
    this.volumes = options.volumes;
    this.recorder = options.recorder;
    this.provisionerRecorder = options.provisionerRecorder ?? options.recorder;
    this.kube = options.kube;
    this.queue = options.queue;
    this.clock = options.clock;
    this.logger = options.logger;
    this.recoveryContext = {
      kube: options.kube,
      csi: options.csi,
      config: options.config,
      driverName: options.driverName,
      provisionerIdentity: options.provisionerIdentity,
      capabilities: options.capabilities,
      nodes: options.nodes,
      csiNodes: options.csiNodes,
      claims: options.claims,
      volumes: options.volumes,
      logger: options.logger,
      clock: options.clock,
      ...(options.referenceGrants ? { referenceGrants: options.referenceGrants } : {}),
    };
    this.context = {
      ...this.recoveryContext,
      ...(options.protection ? { protection: options.protection } : {}),
    };
    // Always constructed: with the flag off ('cleanup') nothing is marked, and markers left by an earlier run
    // with the flag on are still finished and removed.
    this.durable = new DurableInFlight({
      kube: options.kube,
      driverName: options.driverName,
      mode: options.config.durableInFlight ? 'durable' : 'cleanup',
      logger: options.logger,
      warn: (claim, reason, message) => this.recorder.event(claimReference(claim), 'Warning', reason, message),
    });
    this.metrics = options.registry ? new ClaimMetrics({ registry: options.registry }) : undefined;
    this.reporter = new ClaimReporter(this.recorder, this.metrics, options.logger);
    this.rescheduler = new ClaimRescheduler({
      kube: options.kube,
      reporter: this.reporter,
      logger: options.logger,
    });
    this.savedVolumes = new SavedVolumes(options.volumes, options.clock);
    this.infeasible = new InfeasibleClaims({ clock: options.clock });
    this.unsaved = new UnsavedVolumes({
      kube: options.kube,
      clock: options.clock,
      logger: options.logger,
      ...(options.registry ? { metrics: WorkQueueMetricsFactory.forRegistry(options.registry) } : {}),
      onSaved: (pv) => {
        this.savedVolumes.remember(pv);
        this.reporter.succeeded(pv, this.claimOf(pv));
        void this.clearAfterSave(pv);
      },
    });
  }

  /** For the claim informer's add, update and delete handlers (a deletion may leave an operation to finish). */
  enqueueClaim(claim: V1PersistentVolumeClaim): void {
    this.queue.add(claimKey(claim));
  }

  /**
   * For the StorageClass informer's add handler. Upstream's library watches no class, so a claim whose class is
   * created late waits for its backoff (up to --retry-interval-max); its unbound claims are tried at once instead.
   * A class's parameters are immutable, so an update changes no request and needs no handler.
   */
  storageClassAdded(storageClass: V1StorageClass): void {
    const name = storageClass.metadata?.name;
    for (const claim of this.claims.list()) {
      if (!claim.spec?.volumeName && claimStorageClassName(claim) === name) this.enqueueClaim(claim);
    }
  }

  /** For the volumes informer's add handler: the cache has the PV now, it need not be remembered. */
  volumeAdded(pv: V1PersistentVolume): void {
    const name = pv.metadata?.name;
    if (name) this.savedVolumes.forget(name);
  }

  /** Drops the PV save retries (shutdown). */
  stop(): void {
    this.unsaved.stop();
  }

  /** Sizes of the per-claim and per-volume bookkeeping (for tests and diagnostics). */
  get bookkeepingSizes(): Record<string, number> {
    return {
      infeasible: this.infeasible.size,
      topologyRecords: this.topologyRecords.size,
      markedClaims: this.markedClaims.size,
      claimUids: this.claimUids.size,
      savedVolumes: this.savedVolumes.size,
      rescheduled: this.rescheduler.size,
    };
  }

  /** Claims whose CreateVolume may still be running (for tests and diagnostics). */
  get inFlightCount(): number {
    return this.inFlight.size;
  }

  /** PVs whose volume exists but whose object is still being saved. */
  get unsavedCount(): number {
    return this.unsaved.size;
  }

  /** Throws to be retried with backoff; never for a claim that is simply not ours. */
  async sync(key: string): Promise<SyncResult | void> {
    const claim = this.claims.get(key);
    const liveUid = claim?.metadata?.uid;
    for (const [uid, operation] of this.inFlight.orphans(key, liveUid)) {
      await finishOrphan({
        context: this.context,
        logger: this.logger,
        uid,
        operation,
        forget: (done) => this.forgetClaim(done),
        save: (pv) => this.save(pv),
      });
    }
    const knownUid = this.claimUids.get(key);
    // Gone or re-created under another UID: what was kept for the old claim would otherwise stay forever.
    if (knownUid !== undefined && knownUid !== liveUid) this.dropClaimState(knownUid);
    if (!claim) {
      this.claimUids.delete(key);
      return;
    }
    const uid = liveUid ?? '';
    this.claimUids.set(key, uid);
    const terminating = Boolean(claim.metadata?.deletionTimestamp);
    if (hasInFlightFinalizer(claim) || claim.metadata?.annotations?.[ANN_IN_FLIGHT] !== undefined) {
      const outcome = await this.durable.reconcile(claim, this.recoveryDeps());
      if (outcome === 'recovered') {
        this.markedClaims.delete(uid);
        this.forgetClaim(uid);
        return;
      }
      if (outcome === 'cleared') {
        this.markedClaims.delete(uid);
        if (terminating) return;
      }
    }
    // Durable mode never provisions for a claim being deleted (#1469: a stale cache would create a second volume).
    if (this.durable.enabled && terminating) return;
    if (this.rescheduler.isStale(claim)) return;
    return this.syncClaim(claim);
  }

  private async syncClaim(claim: V1PersistentVolumeClaim): Promise<SyncResult | void> {
    // A name that cannot be made (bad --volume-name-* flags) fails in prepareProvision, as upstream: only for claims
    // this provisioner acts on, after their Provisioning event.
    let pvName: string | undefined;
    try {
      pvName = makeVolumeName({
        prefix: this.context.config.volumeNamePrefix,
        uid: claim.metadata?.uid ?? '',
        uuidLength: this.context.config.volumeNameUuidLength,
      });
    } catch (err) {
      if (!(err instanceof InvalidClaimError)) throw err;
    }
    const decision = shouldProvision({
      claim,
      driverName: this.context.driverName,
      classes: this.classes,
      volumes: this.volumes,
      pvName,
      isUnsaved: (name) => this.unsaved.has(name) || this.savedVolumes.has(name),
    });
    if (!decision.provision) {
      if ('error' in decision) {
        // Upstream's library only logs, counts and retries a missing StorageClass: no event.
        const error = new Error(decision.error);
        this.logger.error(error, 'Failed to get the StorageClass of claim', { pvc: claimKey(claim) });
        this.metrics?.failedAttempt(metricLabels(claim));
        throw error;
      }
      this.logger.v(5).info('Not provisioning claim', { pvc: claimKey(claim), reason: decision.reason });
      return;
    }
    const uid = claim.metadata?.uid ?? '';
    const waitMs = this.infeasible.remainingDelayMs(uid, decision.storageClass);
    // Polling at most every --retry-interval-max notices a recreated StorageClass before the five minutes are up.
    if (waitMs > 0) return { requeueAfterMs: Math.min(waitMs, this.context.config.retryIntervalMaxMs) };
    await this.provision({ claim, storageClass: decision.storageClass });
  }

  private async provision(attempt: ClaimAttempt): Promise<void> {
    const { claim, storageClass } = attempt;
    if (storageClass.provisioner !== this.context.driverName) return this.foreignClass(claim, storageClass);
    const ref = claimReference(claim);
    this.recorder.event(
      ref,
      'Normal',
      EventReason.Provisioning,
      `External provisioner is provisioning volume for claim "${claimKey(claim)}"`,
    );
    const dataSource = classifyDataSource(claim, this.context.config.featureGates.CrossNamespaceVolumeDataSource);
    if (dataSource.kind === 'populator') {
      try {
        checkReferenceGrant(this.context, claim, dataSource);
      } catch (err) {
        return this.attemptFailed(attempt, err);
      }
      this.provisionerRecorder.event(
        ref,
        'Normal',
        EventReason.Provisioning,
        'Assuming an external populator will provision the volume',
      );
      return;
    }
    const started = this.clock.monotonic();
    let result: { pv: V1PersistentVolume; prepared: PreparedProvision } | undefined;
    try {
      result = await this.attempt(attempt);
    } catch (err) {
      return this.attemptFailed(attempt, err);
    }
    // Durable mode: the claim is gone or being deleted, CreateVolume was not called.
    if (!result) return;
    const { pv, prepared } = result;
    await this.save(pv);
    // As upstream's library, the duration includes the first attempt to save the PV.
    this.metrics?.succeeded(metricLabels(claim), (this.clock.monotonic() - started) / 1000);
    // Upstream (pkg/controller/controller.go) releases the restored snapshot once the restore succeeded; a failed save is retried in the
    // background and never calls CreateVolume again, so the snapshot is no longer needed either way.
    if (prepared.protectedSnapshot && this.context.protection) {
      await releaseSnapshotSource({
        protection: this.context.protection,
        kube: this.kube,
        claims: this.claims,
        claim,
        snapshot: prepared.protectedSnapshot,
        logger: this.logger,
      });
    }
  }

  private async attempt(
    attempt: ClaimAttempt,
  ): Promise<{ pv: V1PersistentVolume; prepared: PreparedProvision } | undefined> {
    const uid = attempt.claim.metadata?.uid ?? '';
    let topologyRecord = this.topologyRecords.get(uid);
    if (!topologyRecord) {
      topologyRecord = {};
      this.topologyRecords.set(uid, topologyRecord);
    }
    const prepared = await prepareProvision(this.context, { ...attempt, topologyRecord });
    // A throw (API error) leaves the attempt NoChange; an existing marker stays.
    const marked = await this.durable.markInFlight(attempt.claim, {
      volumeName: prepared.pvName,
      storageClassName: attempt.storageClass.metadata?.name ?? '',
      storageClassUID: attempt.storageClass.metadata?.uid ?? '',
    });
    if (!marked) return undefined;
    if (this.durable.enabled) {
      this.markedClaims.set(uid, marked);
      // Later writes of this attempt (reschedule) start from the claim as written.
      attempt.claim = marked;
    }
    let created: Awaited<ReturnType<typeof createVolume>>;
    try {
      created = await this.createTracked({ ...attempt }, prepared);
    } catch (err) {
      // CreateVolume's final answer: nothing exists, the marker goes. InBackground/NoChange keep it.
      if (
        err instanceof ProvisioningError &&
        (err.state === ProvisioningState.Finished || err.state === ProvisioningState.Reschedule)
      ) {
        const cleared = await this.clearMarker(uid, attempt.claim);
        if (cleared) attempt.claim = cleared;
      }
      throw err;
    }
    this.forgetClaim(uid);
    return { pv: buildVolume(this.context, { ...attempt, prepared, created }), prepared };
  }

  /** CreateVolume with in-flight bookkeeping, so a claim deleted meanwhile is finished in the background. */
  private async createTracked(attempt: ClaimAttempt, prepared: PreparedProvision): ReturnType<typeof createVolume> {
    const { claim, storageClass } = attempt;
    const uid = claim.metadata?.uid ?? '';
    try {
      return await createVolume(this.context, prepared);
    } catch (err) {
      if (err instanceof ProvisioningError && err.state === ProvisioningState.InBackground) {
        this.inFlight.set(uid, { claim, storageClass, prepared });
      }
      throw err;
    }
  }

  private async attemptFailed(attempt: ClaimAttempt, err: unknown): Promise<never | void> {
    const { claim, storageClass } = attempt;
    const uid = claim.metadata?.uid ?? '';
    const error =
      err instanceof ProvisioningError
        ? err
        : new ProvisioningError({ message: errorText(err), state: ProvisioningState.NoChange, cause: err });
    // NoChange leaves whatever ran before in flight; InBackground was recorded around the call.
    if (error.state === ProvisioningState.Finished || error.state === ProvisioningState.Reschedule) {
      this.forgetClaim(uid);
    }
    if (error.infeasible) this.infeasible.add(uid, storageClass);
    // The event carries the error text unchanged, as upstream's newest library writes it.
    const message = error.message;
    const eventMessage = error.infeasible ? `${INFEASIBLE_MESSAGE_PREFIX} ${message}` : message;
    if (error.state === ProvisioningState.Reschedule) {
      return this.rescheduler.rescheduleOrFail(claim, message, eventMessage);
    }
    return this.reporter.fail(claim, message, eventMessage);
  }

  /**
   * A class of another provisioner. A migrated in-tree claim (migrated-to names us) gets an event, since CSI
   * translation is not implemented; otherwise the class changed after the claim was annotated, and upstream's
   * library stops without an event or a retry.
   */
  private foreignClass(claim: V1PersistentVolumeClaim, storageClass: V1StorageClass): void {
    if (claim.metadata?.annotations?.[ANN_MIGRATED_TO] === this.context.driverName) {
      const message = `provisioning for StorageClass provisioner "${storageClass.provisioner}" (CSI migration) is not supported yet by this provisioner`;
      return this.reporter.fail(claim, message);
    }
    this.logger.error(undefined, "Unknown provisioner requested in claim's StorageClass", {
      pvc: claimKey(claim),
      provisioner: storageClass.provisioner,
    });
  }

  private forgetClaim(uid: string): void {
    this.inFlight.delete(uid);
    this.topologyRecords.delete(uid);
  }

  /** A claim gone from the cache: everything kept by its UID except an in-flight CreateVolume (finishOrphan's). */
  private dropClaimState(uid: string): void {
    this.infeasible.delete(uid);
    this.rescheduler.forget(uid);
    this.topologyRecords.delete(uid);
    this.markedClaims.delete(uid);
  }

  private async save(pv: V1PersistentVolume): Promise<void> {
    try {
      await this.kube.createPersistentVolume(pv);
    } catch (err) {
      if (!isAlreadyExists(err)) {
        // The volume exists on the driver: keep the object and retry the save, never CreateVolume again.
        this.logger.error(err, 'Failed to save PersistentVolume, retrying in the background', {
          pv: pv.metadata?.name,
        });
        this.unsaved.add(pv);
        return;
      }
    }
    this.savedVolumes.remember(pv);
    this.reporter.succeeded(pv, this.claimOf(pv));
    await this.clearAfterSave(pv);
  }

  private claimOf(pv: V1PersistentVolume): V1PersistentVolumeClaim | undefined {
    const ref = pv.spec?.claimRef;
    return ref ? this.claims.get(`${ref.namespace ?? ''}/${ref.name ?? ''}`) : undefined;
  }

  /** Hook 3 of durable-in-flight.ts: the PV records the volume now, the claim's marker goes. */
  private async clearAfterSave(pv: V1PersistentVolume): Promise<void> {
    const ref = pv.spec?.claimRef;
    const uid = ref?.uid ?? '';
    const cached = this.claims.get(`${ref?.namespace ?? ''}/${ref?.name ?? ''}`);
    await this.clearMarker(uid, cached?.metadata?.uid === uid ? cached : undefined);
  }

  /**
   * Removes the in-flight marker (the claim as marked, else the given one); a failure is only logged, since
   * reconcile() clears a marker once the PV exists. Resolves to the claim as written, if anything was written.
   */
  private async clearMarker(
    uid: string,
    fallback: V1PersistentVolumeClaim | undefined,
  ): Promise<V1PersistentVolumeClaim | undefined> {
    const claim = this.markedClaims.get(uid) ?? fallback;
    if (!claim) return undefined;
    try {
      const written = await this.durable.clearInFlight(claim);
      this.markedClaims.delete(uid);
      return written;
    } catch (err) {
      this.logger.error(err, 'Failed to remove the in-flight marker of claim, retrying on its next sync', {
        pvc: claimKey(claim),
      });
      return undefined;
    }
  }

  /** What reconcile() needs to finish the CreateVolume of a claim deleted while it ran. */
  private recoveryDeps(): RecoveryDeps {
    return {
      volumeState: (name) =>
        this.volumes.get(name) || this.savedVolumes.has(name) ? 'saved' : this.unsaved.has(name) ? 'saving' : 'absent',
      storageClass: (name) => this.classes.get(name),
      rebuildProvision: ({ claim, storageClass }) =>
        prepareProvision(this.recoveryContext, { claim, storageClass, topologyRecord: {} }),
      createVolume: (prepared) =>
        createVolume(this.context, { request: prepared.request, requestedBytes: 0n, selectedNode: '' }),
      saveVolume: async (input) => {
        const pv = buildVolume(this.context, input);
        try {
          await this.kube.createPersistentVolume(pv);
        } catch (err) {
          if (!isAlreadyExists(err)) throw err;
        }
        this.savedVolumes.remember(pv);
      },
      deleteVolume: (volumeId, request) => deleteVolume(this.context, { volumeId, request }),
    };
  }
}
