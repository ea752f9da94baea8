import { randomUUID } from 'node:crypto';
import { CoordinationV1Api, CoreV1Api } from '@kubernetes/client-node';
import type {
  V1CSINode,
  V1Node,
  V1PersistentVolume,
  V1PersistentVolumeClaim,
  V1StorageClass,
  V1VolumeAttachment,
} from '@kubernetes/client-node';
import type { Registry } from 'prom-client';
import { realClock } from '../shared/clock/clock.js';
import { ItemExponentialRateLimiter } from '../shared/controller/rate-limiter.js';
import { runWorkers } from '../shared/controller/controller.js';
import { WorkQueue } from '../shared/controller/work-queue.js';
import { WorkQueueMetricsFactory } from '../shared/controller/metrics.js';
import { CsiConnection, exitOnConnectionLoss } from '../shared/csi/connection.js';
import { discoverDriver } from '../shared/csi/driver-discovery.js';
import { CsiOperationMetrics } from '../shared/csi/metrics.js';
import { EventBroadcaster } from '../shared/events/event-broadcaster.js';
import { coreV1EventSink } from '../shared/events/event-sink.js';
import { objectReference } from '../shared/events/event-recorder.js';
import { DiagnosticsServer, metricsHandler } from '../shared/http/diagnostics-server.js';
import { leaderElectionHealthHandler } from '../shared/http/leader-election-health.js';
import type { KubeObject } from '../shared/kube/cache.js';
import { createKubeClient } from '../shared/kube/client.js';
import type { KubeClient } from '../shared/kube/client.js';
import { Informer } from '../shared/kube/informer.js';
import { loadKubeConfig } from '../shared/kube/kubeconfig.js';
import { coordinationLeaseClient } from '../shared/leader-election/lease-client.js';
import { leaseNamespace } from '../shared/leader-election/lease-config.js';
import {
  leaderElectionEventComponent,
  newSidecarLeaderElector,
} from '../shared/leader-election/sidecar-leader-election.js';
import { errorText } from '../shared/log/logger.js';
import type { Logger } from '../shared/log/logger.js';
import { createMetricsRegistry } from '../shared/metrics/registry.js';
import { sidecarVersion } from '../shared/version/version.js';
import { ClaimController } from './claim-controller.js';
import { CloneProtectionController } from './clone-protection-controller.js';
import { REFERENCE_GRANTS_PATH } from './reference-grants.js';
import type { ReferenceGrant } from './reference-grants.js';
import { cacheTransforms } from './cache-transforms.js';
import type { ProvisionerConfig } from './flags.js';
import { provisionerKube } from './kube-ports.js';
import { protectionKube } from './protection-ports.js';
import type { VolumeSnapshot } from './protection-ports.js';
import { SnapshotFinalizerController } from './snapshot-finalizer-controller.js';
import {
  adjustVolumeAttributesClassGate,
  provisioningDriverInfo,
  eventComponent,
  provisionerIdentity,
  runWorkersOrIdle,
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
 * csi-provisioner's process: connect to the driver and learn what it can do,
 * serve metrics on every replica, then (as leader, when enabled) run the
 * claim and volume controllers until the process ends.
 */
export async function runProvisioner(options: RunProvisionerOptions): Promise<void> {
  const { logger, signal, exit } = options;
  let config = options.config;
  for (const warning of startupWarnings(config)) logger.warn(warning);
  // Before the driver, as upstream: a bad kubeconfig fails at once instead of after a CSI connection timeout.
  const kubeConfig = loadKubeConfig({ kubeconfig: config.kubeconfig, master: config.master, environmentFirst: true });
  const registry: Registry = createMetricsRegistry();
  const csiMetrics = new CsiOperationMetrics({ registry });
  const conn = await CsiConnection.connect({
    address: config.csiAddress,
    logger,
    metrics: csiMetrics,
    onConnectionLoss: exitOnConnectionLoss({ logger }),
    signal,
  });
  const driver = provisioningDriverInfo(
    await discoverDriver({ conn, logger, timeoutMs: config.operationTimeoutMs, metrics: csiMetrics, signal }),
  );
  const identity = provisionerIdentity({ driverName: driver.name, now: Date.now() });
  const topology = driver.accessibilityConstraints && config.featureGates.Topology;
  logger.info('Starting csi-provisioner', { version: sidecarVersion, driver: driver.name, identity, topology });

  const userAgent = `csi-provisioner/${sidecarVersion}`;
  // Events and leader election get clients of their own (own token bucket) so volume work never waits behind them.
  const newClient = (): KubeClient =>
    createKubeClient({ kubeConfig, qps: config.kubeApiQps, burst: config.kubeApiBurst, userAgent, logger });
  const client = newClient();
  config = await adjustVolumeAttributesClassGate(config, client, logger);
  const eventClient = newClient();
  const broadcaster = new EventBroadcaster({
    sink: coreV1EventSink(eventClient.api(CoreV1Api)),
    clock: realClock,
    logger,
    // The same rate as upstream's shared client, in a bucket of its own: at high QPS events keep up with the claims.
    qps: config.kubeApiQps,
    burst: config.kubeApiBurst,
  });
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
  const started = [
    claims,
    volumes,
    classes,
    ...(topology ? [nodes, csiNodes] : []),
    // Upstream watches VolumeAttachments only with PUBLISH_UNPUBLISH_VOLUME, but a driver without it still gets
    // them (external-attacher's trivial mode): the delete guard needs them for every driver.
    attachments,
  ];

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

  const runControllers = async (runSignal: AbortSignal): Promise<void> => {
    try {
      for (const i of started) i.start(runSignal);
      referenceGrants?.start(runSignal);
      for (const i of started) {
        if (!(await i.waitForSync(runSignal))) return;
      }
      logger.info('Caches synced, starting workers', { workers: config.workerThreads });
      await Promise.all([
        runWorkersOrIdle(config.workerThreads, runSignal, () =>
          runWorkers({
            queue: claimQueue,
            workers: config.workerThreads,
            sync: (k) => claimController.sync(k),
            logger,
            signal: runSignal,
          }),
        ),
        runWorkersOrIdle(config.workerThreads, runSignal, () =>
          runWorkers({
            queue: volumeQueue,
            workers: config.workerThreads,
            sync: (k) => volumeController.sync(k),
            logger,
            signal: runSignal,
          }),
        ),
        cloneProtection &&
          runWorkersOrIdle(config.cloningProtectionThreads, runSignal, () =>
            cloneProtection.run({ workers: config.cloningProtectionThreads, signal: runSignal }),
          ),
        runSnapshotFinalizer(runSignal),
      ]);
    } finally {
      // The PV save retries hold timers; the other controllers stop with runSignal (no stop() of their own).
      claimController.stop();
    }
  };

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

  // client-go's LeaderElection events, from the source csi-lib-utils gives them.
  const leaderEvents = broadcaster.newRecorder({ component: leaderElectionEventComponent(driver.name) });
  const elector = config.leaderElection.enabled
    ? newSidecarLeaderElector({
        leaseClient: coordinationLeaseClient(newClient().api(CoordinationV1Api)),
        lockName: driver.name,
        namespace: leaseNamespace(config.leaderElection.namespace),
        leaseDurationMs: config.leaderElection.leaseDurationMs,
        renewDeadlineMs: config.leaderElection.renewDeadlineMs,
        retryPeriodMs: config.leaderElection.retryPeriodMs,
        labels: config.leaderElection.labels,
        releaseOnCancel: config.featureGates.ReleaseLeaderElectionOnExit,
        clock: realClock,
        logger,
        registry,
        run: runControllers,
        exit,
        recordEvent: (lease, message) => {
          const ref = objectReference(lease, 'coordination.k8s.io/v1', 'Lease');
          if (ref) leaderEvents.event(ref, 'Normal', 'LeaderElection', message);
        },
      })
    : undefined;

  // The HTTP server runs on every replica, leader or not.
  if (config.http.address !== undefined) {
    const server = new DiagnosticsServer({ address: config.http.address, logger });
    server.handle(config.http.metricsPath, metricsHandler(registry, { instrumented: true }));
    if (config.http.leaderElectionHealthz && elector) {
      server.handle('/healthz/leader-election', leaderElectionHealthHandler(elector));
    }
    await server.listen();
    signal.addEventListener('abort', () => void server.close(), { once: true });
  }

  if (!elector) {
    await runControllers(signal);
    return;
  }
  await elector.run(signal);
}
