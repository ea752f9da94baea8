import { randomUUID } from 'node:crypto';
import type {
  V1CSINode,
  V1Node,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1StorageClass,
  V1VolumeAttachment,
} from '@kubernetes/client-node';
import { realClock } from '../shared/clock/clock.js';
import { runController } from '../shared/controller/controller.js';
import { WorkQueueMetricsFactory } from '../shared/controller/metrics.js';
import { ItemExponentialRateLimiter } from '../shared/controller/rate-limiter.js';
import { WorkQueue } from '../shared/controller/work-queue.js';
import type { KubeObject } from '../shared/kube/cache.js';
import type { KubeClient } from '../shared/kube/client.js';
import { Informer } from '../shared/kube/informer.js';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import { runControllerSidecar } from '../shared/sidecar/controller-sidecar.js';
import type { ControllerSet, ControllerSidecarContext } from '../shared/sidecar/controller-sidecar.js';
import { sidecarVersion } from '../shared/version/version.js';
import { cacheTransforms } from './cache-transforms.js';
import { ClaimController } from './claim-controller.js';
import { CloneProtectionController } from './clone-protection-controller.js';
import type { ProvisionerConfig } from './flags.js';
import { provisionerKube } from './kube-ports.js';
import { protectionKube } from './protection-ports.js';
import type { VolumeSnapshot } from './protection-ports.js';
import { REFERENCE_GRANTS_PATH } from './reference-grants.js';
import type { ReferenceGrant } from './reference-grants.js';
import { SnapshotFinalizerController } from './snapshot-finalizer-controller.js';
import {
  adjustVolumeAttributesClassGate,
  eventComponent,
  provisionerIdentity,
  provisioningDriverInfo,
  startupWarnings,
} from './startup.js';
import { VolumeController } from './volume-controller.js';

export interface RunProvisionerOptions {
  config: ProvisionerConfig;
  logger: Logger;
  /** Aborted on SIGTERM/SIGINT. */
  signal: AbortSignal;
  exit: (code: number) => void;
}

const RESYNC_MS = 15 * 60_000;

/** An informer whose cache keeps only what the controllers read (see cache-transforms.ts). */
function informer<T extends KubeObject>(
  client: KubeClient,
  path: string,
  logger: Logger,
  transform: (obj: T) => T,
): Informer<T> {
  return new Informer<T>({
    transport: client,
    path,
    transform,
    resyncPeriodMs: RESYNC_MS,
    logger: logger.withValues({ resource: path }),
  });
}

/**
 * csi-provisioner's process on the shared controller-sidecar runtime: the driver handshake, then (as leader, when
 * enabled) the claim, volume and source-protection controllers until the process ends.
 */
export async function runProvisioner(options: RunProvisionerOptions): Promise<void> {
  const { logger } = options;
  for (const warning of startupWarnings(options.config)) logger.warn(warning);
  await runControllerSidecar({
    program: 'csi-provisioner',
    config: options.config,
    // Upstream names the Lease after the driver alone.
    leaseName: (driverName) => driverName,
    releaseLeaderElectionOnExit: options.config.featureGates.ReleaseLeaderElectionOnExit,
    build: (context) => buildProvisioner(options.config, context, logger),
    logger,
    signal: options.signal,
    exit: options.exit,
  });
}

async function buildProvisioner(
  startConfig: ProvisionerConfig,
  context: ControllerSidecarContext,
  logger: Logger,
): Promise<ControllerSet> {
  const { conn, registry, client, broadcaster } = context;
  const driver = provisioningDriverInfo(context.driver);
  const identity = provisionerIdentity({ driverName: driver.name, now: Date.now() });
  const topology = driver.accessibilityConstraints && startConfig.featureGates.Topology;
  logger.info('Starting csi-provisioner', { version: sidecarVersion, driver: driver.name, identity, topology });
  const config = await adjustVolumeAttributesClassGate(startConfig, client, logger);
  const recorder = broadcaster.newRecorder({ component: eventComponent(driver.name, randomUUID()) });
  // Upstream's CSI provisioner code (not the provisioning library) emits some events under its own source.
  const provisionerRecorder = broadcaster.newRecorder({ component: 'external-provisioner' });

  const slim = cacheTransforms(driver.name);
  const claims = informer<V1PersistentVolumeClaim>(client, '/api/v1/persistentvolumeclaims', logger, slim.claims);
  const volumes = informer<V1PersistentVolume>(client, '/api/v1/persistentvolumes', logger, slim.volumes);
  const classes = informer<V1StorageClass>(client, '/apis/storage.k8s.io/v1/storageclasses', logger, slim.classes);
  const nodes = informer<V1Node>(client, '/api/v1/nodes', logger, slim.nodes);
  const csiNodes = informer<V1CSINode>(client, '/apis/storage.k8s.io/v1/csinodes', logger, slim.csiNodes);
  const attachments = informer<V1VolumeAttachment>(
    client,
    '/apis/storage.k8s.io/v1/volumeattachments',
    logger,
    slim.attachments,
  );
  // Only with the alpha gate, as upstream. It is not waited for: without the Gateway API CRD it never syncs, and
  // only cross-namespace claims need it (they are retried until it has).
  const referenceGrants = config.featureGates.CrossNamespaceVolumeDataSource
    ? informer<ReferenceGrant>(client, REFERENCE_GRANTS_PATH, logger, (grant) => grant)
    : undefined;

  const queueMetrics = WorkQueueMetricsFactory.forRegistry(registry);
  const limiter = (): ItemExponentialRateLimiter<string> =>
    new ItemExponentialRateLimiter({ baseDelayMs: config.retryIntervalStartMs, maxDelayMs: config.retryIntervalMaxMs });
  const claimQueue = new WorkQueue<string>({ name: 'claims', rateLimiter: limiter(), metrics: queueMetrics });
  const volumeQueue = new WorkQueue<string>({ name: 'volumes', rateLimiter: limiter(), metrics: queueMetrics });
  const kube = provisionerKube(client);
  const protection = protectionKube(client);

  const claimController = new ClaimController({
    claims,
    classes,
    volumes,
    nodes,
    csiNodes,
    kube,
    protection,
    ...(referenceGrants ? { referenceGrants } : {}),
    csi: conn,
    recorder,
    provisionerRecorder,
    config,
    driverName: driver.name,
    provisionerIdentity: identity,
    capabilities: {
      controllerService: driver.controllerService,
      createDeleteVolume: driver.createDeleteVolume,
      topology,
      singleNodeMultiWriter: driver.singleNodeMultiWriter,
      cloning: driver.cloning,
      snapshots: driver.snapshots,
      modifyVolume: driver.modifyVolume,
    },
    queue: claimQueue,
    clock: realClock,
    logger,
    registry,
  });
  const volumeController = new VolumeController({
    volumes,
    classes,
    volumeAttachments: attachments,
    kube,
    csi: conn,
    capabilities: driver,
    recorder,
    config,
    driverName: driver.name,
    queue: volumeQueue,
    clock: realClock,
    logger,
    registry,
  });
  claims.addEventHandler({
    add: (c) => claimController.enqueueClaim(c),
    update: (_old, c) => claimController.enqueueClaim(c),
    delete: (c) => claimController.enqueueClaim(c),
  });
  classes.addEventHandler({ add: (storageClass) => claimController.storageClassAdded(storageClass) });
  volumes.addEventHandler({
    add: (v) => {
      claimController.volumeAdded(v);
      volumeController.enqueueVolume(v);
    },
    update: (_old, v) => volumeController.enqueueVolume(v),
    // A sync that finds the PV gone drops what the controller remembered about it.
    delete: (v) => volumeController.enqueueVolume(v),
  });

  // Upstream's CloningProtectionController: only a driver that clones puts the finalizer on source claims.
  const cloneProtection = driver.cloning
    ? new CloneProtectionController({
        claims,
        kube: protection,
        // Upstream's second queue also named `claims` (its metrics add up with the provisioning queue's).
        queue: new WorkQueue<string>({ name: 'claims', rateLimiter: limiter(), metrics: queueMetrics }),
        logger,
      })
    : undefined;
  if (cloneProtection) {
    claims.addEventHandler({
      add: (c) => cloneProtection.enqueueClaim(c),
      update: (_old, c) => cloneProtection.enqueueClaim(c),
    });
  }

  // Upstream's SnapshotFinalizerController (orphan sweeper): needs CREATE_DELETE_SNAPSHOT, a positive
  // --snapshot-orphan-sweep-interval and a listable VolumeSnapshot API. The CRD or its RBAC is optional, so
  // without them the sweeper is skipped, never fatal.
  const runSnapshotFinalizer = async (runSignal: AbortSignal): Promise<void> => {
    if (!driver.snapshots || !(config.snapshotOrphanSweepIntervalMs > 0)) return;
    const snapshots = new Informer<VolumeSnapshot>({
      transport: client,
      path: '/apis/snapshot.storage.k8s.io/v1/volumesnapshots',
      resyncPeriodMs: RESYNC_MS,
      logger: logger.withValues({ resource: 'volumesnapshots' }),
    });
    const controller = new SnapshotFinalizerController({
      snapshots,
      claims,
      kube: protection,
      queue: new WorkQueue<string>({ name: 'snapshot-finalizer', rateLimiter: limiter(), metrics: queueMetrics }),
      sweepIntervalMs: config.snapshotOrphanSweepIntervalMs,
      clock: realClock,
      logger,
    });
    try {
      if (!(await controller.hasAccess())) return;
    } catch (err) {
      // NotFound: the snapshot CRDs are not installed.
      logger.info('VolumeSnapshot API not available, orphaned snapshot finalizers will not be removed', {
        err: errorText(err),
      });
      return;
    }
    snapshots.start(runSignal);
    if (!(await snapshots.waitForSync(runSignal))) return;
    await controller.run({ workers: 1, signal: runSignal });
  };

  return {
    caches: [
      claims,
      volumes,
      classes,
      ...(topology ? [nodes, csiNodes] : []),
      // Upstream watches VolumeAttachments only with PUBLISH_UNPUBLISH_VOLUME, but a driver without it still gets
      // them (external-attacher's trivial mode): the delete guard needs them for every driver.
      attachments,
    ],
    optionalCaches: referenceGrants ? [referenceGrants] : [],
    run: async (signal) => {
      const workers = { workers: config.workerThreads, logger, signal };
      await Promise.all([
        runController(claimController, workers),
        runController(volumeController, workers),
        cloneProtection && runController(cloneProtection, { workers: config.cloningProtectionThreads, logger, signal }),
        runSnapshotFinalizer(signal),
      ]);
    },
    // The PV save retries hold timers; the other controllers stop with the run signal.
    stop: () => claimController.stop(),
  };
}
