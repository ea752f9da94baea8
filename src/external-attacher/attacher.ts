import type { V1CSINode, V1PersistentVolume, V1VolumeAttachment } from '@kubernetes/client-node';
import {
  ControllerServiceCapability_RPC_Type as ControllerCapability,
  PluginCapability_Service_Type,
} from '../gen/csi.js';
import { realClock } from '../shared/clock/clock.js';
import { runController } from '../shared/controller/controller.js';
import { WorkQueueMetricsFactory } from '../shared/controller/metrics.js';
import { ItemExponentialRateLimiter } from '../shared/controller/rate-limiter.js';
import { WorkQueue } from '../shared/controller/work-queue.js';
import type { KubeObject } from '../shared/kube/cache.js';
import { Informer } from '../shared/kube/informer.js';
import type { Logger } from '../shared/log/logger.js';
import { runControllerSidecar } from '../shared/sidecar/controller-sidecar.js';
import type { ControllerSet, ControllerSidecarContext } from '../shared/sidecar/controller-sidecar.js';
import { sidecarVersion } from '../shared/version/version.js';
import { attacherKube } from './attacher-kube.js';
import { AttachmentBacklog } from './attachment-backlog.js';
import { AttachmentReconciler } from './attachment-reconciler.js';
import { CsiAttachHandler } from './csi-attach-handler.js';
import type { AttachHandler } from './csi-attach-handler.js';
import type { AttacherConfig } from './flags.js';
import { PV_QUEUE_NAME, VA_DETACH_QUEUE_NAME, VA_QUEUE_NAME, attacherLeaseName } from './keys.js';
import { TrivialAttachHandler } from './trivial-attach-handler.js';
import { VolumeAttachmentController } from './volume-attachment-controller.js';
import { VolumeFinalizerController } from './volume-finalizer-controller.js';

export interface RunAttacherOptions {
  config: AttacherConfig;
  logger: Logger;
  /** Aborted on SIGTERM/SIGINT. */
  signal: AbortSignal;
  exit: (code: number) => void;
}

/** upstream's csiTimeout: GetPluginInfo and the capability calls at start-up. */
const STARTUP_CALL_TIMEOUT_MS = 1_000;

/** csi-attacher's process on the shared controller-sidecar runtime. */
export async function runAttacher(options: RunAttacherOptions): Promise<void> {
  const { config, logger } = options;
  await runControllerSidecar({
    program: 'csi-attacher',
    config,
    leaseName: attacherLeaseName,
    discovery: { callTimeoutMs: STARTUP_CALL_TIMEOUT_MS, controllerCapabilitiesNeedService: true },
    maxGrpcLogLength: config.maxGrpcLogLength,
    releaseLeaderElectionOnExit: config.featureGates.ReleaseLeaderElectionOnExit,
    build: (context) => buildAttacher(config, context, logger),
    logger,
    signal: options.signal,
    exit: options.exit,
  });
}

function buildAttacher(config: AttacherConfig, context: ControllerSidecarContext, logger: Logger): ControllerSet {
  const { driver, conn, registry, client } = context;
  const controllerService = driver.plugin.has(PluginCapability_Service_Type.CONTROLLER_SERVICE);
  const publish = controllerService && driver.controller.has(ControllerCapability.PUBLISH_UNPUBLISH_VOLUME);
  const listPublished =
    controllerService &&
    driver.controller.has(ControllerCapability.LIST_VOLUMES) &&
    driver.controller.has(ControllerCapability.LIST_VOLUMES_PUBLISHED_NODES);
  logger.info('Starting csi-attacher', {
    version: sidecarVersion,
    driver: driver.name,
    handler: publish ? 'csi' : 'trivial',
    reconciler: publish && listPublished,
  });

  const informer = <T extends KubeObject>(path: string): Informer<T> =>
    new Informer<T>({
      transport: client,
      path,
      resyncPeriodMs: config.resyncMs,
      logger: logger.withValues({ resource: path }),
    });
  const attachments = informer<V1VolumeAttachment>('/apis/storage.k8s.io/v1/volumeattachments');
  const volumes = informer<V1PersistentVolume>('/api/v1/persistentvolumes');
  const csiNodes = informer<V1CSINode>('/apis/storage.k8s.io/v1/csinodes');

  const queueMetrics = WorkQueueMetricsFactory.forRegistry(registry);
  const queue = (name: string): WorkQueue<string> =>
    new WorkQueue<string>({
      name,
      rateLimiter: new ItemExponentialRateLimiter({
        baseDelayMs: config.retryIntervalStartMs,
        maxDelayMs: config.retryIntervalMaxMs,
      }),
      metrics: queueMetrics,
    });
  const kube = attacherKube(client);
  // Detaches and PV clean-up share --kube-api-qps with attaches, in a lane of their own (upstream #761).
  const detachKube = attacherKube(context.sharedBudgetClient(1));
  const csiHandler = publish
    ? new CsiAttachHandler({
        driverName: driver.name,
        volumes,
        csiNodes,
        kube,
        detachKube,
        csi: conn,
        supportsPublishReadOnly: driver.controller.has(ControllerCapability.PUBLISH_READONLY),
        supportsSingleNodeMultiWriter: driver.controller.has(ControllerCapability.SINGLE_NODE_MULTI_WRITER),
        defaultFsType: config.defaultFsType,
        timeoutMs: config.operationTimeoutMs,
        attachErrorCodes: config.featureGates.MutableCSINodeAllocatableCount,
        clock: realClock,
        logger,
      })
    : undefined;
  const handler: AttachHandler = csiHandler ?? new TrivialAttachHandler({ kube, logger });
  const attachmentController = new VolumeAttachmentController({
    driverName: driver.name,
    attachments,
    handler,
    attachQueue: queue(VA_QUEUE_NAME),
    detachQueue: queue(VA_DETACH_QUEUE_NAME),
    ...(config.volumeAttachmentEvents
      ? { recorder: context.broadcaster.newRecorder({ component: 'csi-attacher' }) }
      : {}),
    logger,
  });
  const backlog = new AttachmentBacklog({ driverName: driver.name, attachments, clock: realClock, logger, registry });
  const finalizerController = new VolumeFinalizerController({
    driverName: driver.name,
    volumes,
    attachments,
    kube: detachKube,
    queue: queue(PV_QUEUE_NAME),
    removesFinalizers: csiHandler !== undefined,
    logger,
  });
  const reconciler =
    csiHandler && listPublished
      ? new AttachmentReconciler({
          driverName: driver.name,
          attachments,
          handler: csiHandler,
          enqueue: (name) => attachmentController.enqueue(name),
          csi: conn,
          maxEntries: config.maxEntries,
          timeoutMs: config.operationTimeoutMs,
          periodMs: config.reconcileSyncMs,
          clock: realClock,
          logger,
        })
      : undefined;

  attachments.addEventHandler({
    add: (va) => attachmentController.attachmentAdded(va),
    update: (old, va) => attachmentController.attachmentUpdated(old, va),
    delete: (va) => {
      attachmentController.attachmentDeleted(va);
      finalizerController.attachmentDeleted(va);
    },
  });
  volumes.addEventHandler({
    add: (pv) => finalizerController.volumeChanged(pv),
    update: (_old, pv) => finalizerController.volumeChanged(pv),
  });

  return {
    // Upstream waits for the VolumeAttachment and PV caches; the CSINode informer starts but is not waited for.
    caches: [attachments, volumes],
    optionalCaches: [csiNodes],
    run: async (signal) => {
      const workers = { workers: config.workerThreads, logger, signal };
      await Promise.all([
        runController(attachmentController.attaching, workers),
        runController(attachmentController.detaching, workers),
        runController(finalizerController, workers),
        reconciler?.run(signal),
        backlog.run(config.backlogLogIntervalMs, signal),
      ]);
    },
  };
}
