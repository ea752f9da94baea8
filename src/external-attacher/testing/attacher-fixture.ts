import type {
  V1CSINode,
  V1PersistentVolume,
  V1PersistentVolumeSpec,
  V1VolumeAttachment,
  V1VolumeError,
} from '@kubernetes/client-node';
import type { VolumeCapability } from '../../gen/csi.js';
import { VolumeCapability_AccessMode_Mode as AccessMode } from '../../gen/csi.js';
import { WorkQueue } from '../../shared/controller/work-queue.js';
import type { CsiCaller } from '../../shared/csi/connection.js';
import type { CsiRequest } from '../../shared/csi/methods.js';
import { discardLogger, errorText } from '../../shared/log/logger.js';
import { FakeClock } from '../../shared/testing/fake-clock.js';
import { MemoryCache } from '../../shared/testing/memory-cache.js';
import { AttachmentReconciler } from '../attachment-reconciler.js';
import { CsiAttachHandler } from '../csi-attach-handler.js';
import type { AttachHandler, CsiAttachHandlerOptions } from '../csi-attach-handler.js';
import { PV_QUEUE_NAME, VA_DETACH_QUEUE_NAME, VA_NODE_ID_ANNOTATION, VA_QUEUE_NAME } from '../keys.js';
import { TrivialAttachHandler } from '../trivial-attach-handler.js';
import { VolumeAttachmentController } from '../volume-attachment-controller.js';
import { VolumeFinalizerController } from '../volume-finalizer-controller.js';
import { FakeAttacherKube, toJson } from './fake-attacher-kube.js';

// The objects of upstream's attacher tests: driver csi/test, PV pv1 (handle1, RWX), node node1 with nodeID1.
export const DRIVER = 'csi/test';
export const FIN = 'external-attacher/csi-test';
export const PV_NAME = 'pv1';
export const NODE = 'node1';
export const HANDLE = 'handle1';
export const NODE_ID = 'nodeID1';
export const VA_NAME = 'pv1-node1';
/** --default-fstype of the fixture (upstream's handler tests use ext4 too). */
export const DEFAULT_FS_TYPE = 'ext4';
/** The FakeClock's start, as metav1.Time in attachError/detachError. */
export const NOW = '2023-11-14T22:13:20.000Z';
/** A deletionTimestamp. */
export const DELETED_AT = new Date('2023-11-14T22:00:00Z');

export interface VaOptions {
  attached?: boolean;
  finalizers?: string[];
  annotations?: Record<string, string>;
  attacher?: string;
  deleted?: boolean;
}

/** The node-ID annotation the attacher writes. */
export const ANN = { [VA_NODE_ID_ANNOTATION]: NODE_ID };

/** VolumeAttachment pv1-node1 for pv1 on node1 (upstream's `va(attached, finalizers, annotations)`). */
export function va(options: VaOptions = {}): V1VolumeAttachment {
  const obj: V1VolumeAttachment = {
    metadata: { name: VA_NAME, resourceVersion: '1' },
    spec: { attacher: options.attacher ?? DRIVER, nodeName: NODE, source: { persistentVolumeName: PV_NAME } },
    status: { attached: options.attached ?? false },
  };
  if (options.finalizers) obj.metadata!.finalizers = options.finalizers;
  if (options.annotations) obj.metadata!.annotations = options.annotations;
  if (options.deleted) obj.metadata!.deletionTimestamp = DELETED_AT;
  return obj;
}

/** The inline volume spec the A/D controller fills in for a migrated in-line volume (RWO, handle1). */
export function inlineSpec(mutate: (spec: V1PersistentVolumeSpec) => void = () => {}): V1PersistentVolumeSpec {
  const spec: V1PersistentVolumeSpec = {
    accessModes: ['ReadWriteOnce'],
    csi: { driver: 'com.test.foo', volumeHandle: HANDLE },
  };
  mutate(spec);
  return spec;
}

/** A VolumeAttachment whose source is an inline spec instead of a PV. */
export function inlineVa(options: VaOptions = {}, spec = inlineSpec()): V1VolumeAttachment {
  const obj = va(options);
  obj.spec.source = { inlineVolumeSpec: spec };
  return obj;
}

/** PersistentVolume pv1 of driver csi/test, handle1, RWX; mutate to vary it. */
export function pv(mutate: (pv: V1PersistentVolume) => void = () => {}): V1PersistentVolume {
  const obj: V1PersistentVolume = {
    metadata: { name: PV_NAME, resourceVersion: '1' },
    spec: { csi: { driver: DRIVER, volumeHandle: HANDLE }, accessModes: ['ReadWriteMany'] },
  };
  mutate(obj);
  return obj;
}

/** pv1 with our finalizer (upstream's pvWithFinalizer). */
export function pvWithFinalizer(mutate: (pv: V1PersistentVolume) => void = () => {}): V1PersistentVolume {
  return pv((obj) => {
    obj.metadata!.finalizers = [FIN];
    mutate(obj);
  });
}

/** The same PV as an in-tree GCE PD volume (no spec.csi), as upstream's migration tests use. */
export function inTreePv(finalizers?: string[]): V1PersistentVolume {
  return {
    metadata: { name: PV_NAME, resourceVersion: '1', ...(finalizers ? { finalizers } : {}) },
    spec: { gcePersistentDisk: { pdName: 'testpd', fsType: 'ext4' }, accessModes: ['ReadWriteOnce'] },
  };
}

/** CSINode node1; by default it lists csi/test with nodeID1. */
export function csiNode(drivers = [{ name: DRIVER, nodeID: NODE_ID }]): V1CSINode {
  return { metadata: { name: NODE }, spec: { drivers } };
}

/** The merge patch that adds our finalizer and the node-ID annotation. */
export function finalizerPatch(nodeId = NODE_ID): object {
  return { metadata: { annotations: { [VA_NODE_ID_ANNOTATION]: nodeId }, finalizers: [FIN] } };
}

/** The merge patch that removes our (only) finalizer. */
export const finalizerRemovalPatch = { metadata: { finalizers: null } };

/** A VolumeError as the patch carries it (time as JSON); `at` defaults to the FakeClock's start. */
export function volumeError(message: string, errorCode?: number, at = NOW): V1VolumeError {
  return { message, time: at as unknown as Date, ...(errorCode === undefined ? {} : { errorCode }) };
}

export function attachErrorPatch(message: string, errorCode?: number, at = NOW): object {
  return { status: { attachError: volumeError(message, errorCode, at) } };
}

export function detachErrorPatch(message: string): object {
  return { status: { detachError: volumeError(message) } };
}

/** The mount capability of ControllerPublishVolume as the driver decodes it. */
export function mountCapability(
  mode: AccessMode,
  fsType = DEFAULT_FS_TYPE,
  mountFlags: string[] = [],
): VolumeCapability {
  return { accessType: { $case: 'mount', value: { fsType, mountFlags, volumeMountGroup: '' } }, accessMode: { mode } };
}

export function blockCapability(mode: AccessMode): VolumeCapability {
  return { accessType: { $case: 'block', value: {} }, accessMode: { mode } };
}

/** ControllerPublishVolume of pv1 (RWX) to nodeID1 as the driver receives it. */
export function publishRequest(
  overrides: Partial<CsiRequest<'ControllerPublishVolume'>> = {},
): CsiRequest<'ControllerPublishVolume'> {
  return {
    volumeId: HANDLE,
    nodeId: NODE_ID,
    volumeCapability: mountCapability(AccessMode.MULTI_NODE_MULTI_WRITER),
    readonly: false,
    secrets: {},
    volumeContext: {},
    ...overrides,
  };
}

/** The same for the inline spec (RWO). */
export function inlinePublishRequest(
  overrides: Partial<CsiRequest<'ControllerPublishVolume'>> = {},
): CsiRequest<'ControllerPublishVolume'> {
  return publishRequest({ volumeCapability: mountCapability(AccessMode.SINGLE_NODE_WRITER), ...overrides });
}

export function unpublishRequest(
  overrides: Partial<CsiRequest<'ControllerUnpublishVolume'>> = {},
): CsiRequest<'ControllerUnpublishVolume'> {
  return { volumeId: HANDLE, nodeId: NODE_ID, secrets: {}, ...overrides };
}

/** The CSI caller of a fixture without a driver: a test that reaches the driver is wrong. */
const noDriver: CsiCaller = {
  call: (method) => Promise.reject(new Error(`unexpected CSI call ${method}: this test has no driver`)),
};

export type HandlerSettings = Partial<
  Pick<
    CsiAttachHandlerOptions,
    'supportsPublishReadOnly' | 'supportsSingleNodeMultiWriter' | 'defaultFsType' | 'timeoutMs' | 'attachErrorCodes'
  >
>;

export interface AttacherFixtureOptions {
  /** The driver connection; without one, any CSI call fails the test. */
  csi?: CsiCaller;
  attachments?: V1VolumeAttachment[];
  volumes?: V1PersistentVolume[];
  csiNodes?: V1CSINode[];
  /** Secret data by `namespace/name`. */
  secrets?: Record<string, Record<string, string>>;
  /** Use the trivial handler (driver without PUBLISH_UNPUBLISH_VOLUME). */
  trivial?: boolean;
  handler?: HandlerSettings;
  /** Builds the ListVolumes reconciler too. */
  reconciler?: { maxEntries?: number; timeoutMs?: number };
}

/**
 * The attacher's controllers over a FakeAttacherKube, in-memory caches and the given CSI connection. Objects are
 * seeded into the fake server and the caches alike; after every sync the caches catch up with the server (an
 * informer that has seen all events), and a VolumeAttachment the server deleted fires the delete handler.
 */
export class AttacherFixture {
  readonly clock = new FakeClock();
  readonly kube = new FakeAttacherKube();
  readonly attachments = new MemoryCache<V1VolumeAttachment>();
  readonly volumes = new MemoryCache<V1PersistentVolume>();
  readonly csiNodes: MemoryCache<V1CSINode>;
  readonly attachQueue = new WorkQueue<string>({ name: VA_QUEUE_NAME, clock: this.clock });
  readonly detachQueue = new WorkQueue<string>({ name: VA_DETACH_QUEUE_NAME, clock: this.clock });
  private readonly syncContext = { signal: new AbortController().signal };
  readonly pvQueue = new WorkQueue<string>({ name: PV_QUEUE_NAME, clock: this.clock });
  readonly handler: AttachHandler;
  readonly csiHandler: CsiAttachHandler | undefined;
  readonly vaController: VolumeAttachmentController;
  readonly pvController: VolumeFinalizerController;
  readonly reconciler: AttachmentReconciler | undefined;

  constructor(options: AttacherFixtureOptions) {
    const logger = discardLogger();
    this.kube.seed({ attachments: options.attachments, volumes: options.volumes });
    for (const [key, data] of Object.entries(options.secrets ?? {})) this.kube.secrets.set(key, data);
    this.csiNodes = new MemoryCache((options.csiNodes ?? []).map(toJson));
    this.catchUp();
    const csi = options.csi ?? noDriver;
    this.csiHandler = options.trivial
      ? undefined
      : new CsiAttachHandler({
          driverName: DRIVER,
          volumes: this.volumes,
          csiNodes: this.csiNodes,
          kube: this.kube,
          csi,
          supportsPublishReadOnly: true,
          supportsSingleNodeMultiWriter: false,
          defaultFsType: DEFAULT_FS_TYPE,
          timeoutMs: 10_000,
          attachErrorCodes: true,
          clock: this.clock,
          logger,
          ...options.handler,
        });
    this.handler = this.csiHandler ?? new TrivialAttachHandler({ kube: this.kube, logger });
    this.vaController = new VolumeAttachmentController({
      driverName: DRIVER,
      attachments: this.attachments,
      handler: this.handler,
      attachQueue: this.attachQueue,
      detachQueue: this.detachQueue,
      logger,
    });
    this.pvController = new VolumeFinalizerController({
      driverName: DRIVER,
      volumes: this.volumes,
      attachments: this.attachments,
      kube: this.kube,
      queue: this.pvQueue,
      removesFinalizers: this.csiHandler !== undefined,
      logger,
    });
    this.reconciler =
      options.reconciler && this.csiHandler
        ? new AttachmentReconciler({
            driverName: DRIVER,
            attachments: this.attachments,
            handler: this.csiHandler,
            enqueue: (name) => this.vaController.enqueue(name),
            csi,
            maxEntries: options.reconciler.maxEntries ?? 0,
            timeoutMs: options.reconciler.timeoutMs ?? 10_000,
            periodMs: 60_000,
            clock: this.clock,
            logger,
          })
        : undefined;
  }

  /** Keys waiting in the attach and the detach queue together. */
  queuedAttachments(): number {
    return this.attachQueue.len() + this.detachQueue.len();
  }

  /** The cached VolumeAttachment pv1-node1 (or another by name). */
  cachedAttachment(name = VA_NAME): V1VolumeAttachment {
    const obj = this.attachments.get(name);
    if (!obj) throw new Error(`VolumeAttachment ${name} is not cached`);
    return obj;
  }

  /**
   * Syncs queued keys (VolumeAttachments first) until both queues are empty. A failed sync is queued again, up to
   * `retries` times in all (the rate-limited retry, without its delay; beforeRetry runs first). Returns the errors
   * the syncs threw.
   */
  async process(retries = 0, beforeRetry: () => void | Promise<void> = () => {}): Promise<string[]> {
    const errors: string[] = [];
    let budget = retries;
    for (;;) {
      const [queue, sync] =
        this.attachQueue.len() > 0
          ? [this.attachQueue, (key: string) => this.vaController.attaching.sync(key, this.syncContext)]
          : this.detachQueue.len() > 0
            ? [this.detachQueue, (key: string) => this.vaController.detaching.sync(key, this.syncContext)]
            : this.pvQueue.len() > 0
              ? [this.pvQueue, (key: string) => this.pvController.sync(key)]
              : [undefined, undefined];
      if (!queue) return errors;
      const next = await queue.get();
      if (next.shutdown) return errors;
      let failed = false;
      try {
        await sync(next.key);
      } catch (err) {
        errors.push(errorText(err));
        failed = true;
      } finally {
        queue.done(next.key);
      }
      this.catchUp();
      if (failed && budget-- > 0) {
        await beforeRetry();
        queue.add(next.key);
      }
    }
  }

  /** Makes the caches equal to the server's objects, firing the VolumeAttachment delete handler for deleted ones. */
  catchUp(): void {
    for (const cached of this.attachments.list()) {
      const name = cached.metadata?.name ?? '';
      if (this.kube.attachments.has(name)) continue;
      this.attachments.delete(name);
      this.pvController.attachmentDeleted(cached);
    }
    for (const obj of this.kube.attachments.values()) this.attachments.set(toJson(obj));
    for (const name of this.volumes.keys()) if (!this.kube.volumes.has(name)) this.volumes.delete(name);
    for (const obj of this.kube.volumes.values()) this.volumes.set(toJson(obj));
  }
}
