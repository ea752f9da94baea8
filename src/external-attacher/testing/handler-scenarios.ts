import type { V1CSINode, V1PersistentVolume, V1VolumeAttachment } from '@kubernetes/client-node';
import { afterEach, beforeEach, expect } from 'vitest';
import { ControllerServiceCapability_RPC_Type as ControllerRpc, Volume } from '../../gen/csi.js';
import { CsiConnection } from '../../shared/csi/connection.js';
import { discardLogger } from '../../shared/log/logger.js';
import { CsiTestDriver } from '../../shared/testing/csi-test-driver.js';
import {
  ANN,
  AttacherFixture,
  FIN,
  HANDLE,
  PV_NAME,
  VA_NAME,
  csiNode,
  inlineSpec,
  inlineVa,
  va,
} from './attacher-fixture.js';
import type { HandlerSettings } from './attacher-fixture.js';

/** The shared harness of the CsiAttachHandler tests: upstream's fixture driver, the scenario table runner, helpers. */

export let driver: CsiTestDriver;
export let connection: CsiConnection;

/** Registers the test file's driver (PUBLISH_UNPUBLISH_VOLUME, PUBLISH_READONLY, volume handle1) and connection. */
export function useHandlerDriver(): void {
  beforeEach(async () => {
    driver = await CsiTestDriver.start({
      controllerCapabilities: [ControllerRpc.PUBLISH_UNPUBLISH_VOLUME, ControllerRpc.PUBLISH_READONLY],
    });
    // The default ControllerPublishVolume only publishes volumes the driver knows.
    driver.volumes.set(HANDLE, Volume.fromPartial({ volumeId: HANDLE }));
    connection = await CsiConnection.connect({ address: driver.address, logger: discardLogger() });
  });

  afterEach(async () => {
    connection.close();
    await driver.stop();
  });
}

export const PUBLISH = 'ControllerPublishVolume';
export const UNPUBLISH = 'ControllerUnpublishVolume';
// Success writes always null the error field, whether the cached copy shows one or not (so a sync that started from
// a copy older than our last error write still clears it); upstream's patch has the null only when there was one.
export const ATTACHED = { status: { attached: true, attachError: null } };
export const DETACHED = { status: { attached: false, detachError: null } };

/** client-go's Forbidden text for the VolumeAttachment and the PV (apierrors.NewForbidden). */
export const vaForbidden = (detail: string) => ({
  status: 403,
  reason: 'Forbidden',
  message: `volumeattachments.storage.k8s.io "${VA_NAME}" is forbidden: ${detail}`,
});
export const pvForbidden = {
  status: 403,
  reason: 'Forbidden',
  message: `persistentvolume "${PV_NAME}" is forbidden: Mock error`,
};

/** A Go driver that returns a plain error answers with Unknown; the attacher writes grpc-go's status text. */
export const MOCK_ERROR = 'rpc error: code = Unknown desc = mock error';
export const DEADLINE = 'rpc error: code = DeadlineExceeded desc = context deadline exceeded';

export const withSecret = (name: string) => (p: V1PersistentVolume) => {
  p.spec!.csi!.controllerPublishSecretRef = { name, namespace: 'default' };
};
export const SECRETS = { 'default/secret': { foo: 'bar' }, 'default/emptySecret': {} };

export interface Scenario {
  /** The test title (table rows only). */
  name?: string;
  /** The event that queues the VolumeAttachment; the object is in the caches and on the server. */
  event: 'add' | 'update';
  attachment: V1VolumeAttachment;
  volumes?: V1PersistentVolume[];
  /** Default: CSINode node1 with csi/test → nodeID1. */
  csiNodes?: V1CSINode[];
  handler?: HandlerSettings;
  /** Scripts failures before the first sync. */
  setup?: (f: AttacherFixture) => void;
  /** Runs before each retry. */
  beforeRetry?: (f: AttacherFixture) => void | Promise<void>;
  retries?: number;
  /** Every AttacherKube call: [method, ...args]. */
  api: unknown[][];
  /** ControllerPublish/Unpublish calls: [method, request]. */
  csi: unknown[][];
  /** What the syncs threw (the text logged before the retry). */
  errors?: string[];
  check?: (f: AttacherFixture) => void;
}

export async function run(scenario: Scenario): Promise<void> {
  const f = new AttacherFixture({
    csi: connection,
    attachments: [scenario.attachment],
    volumes: scenario.volumes ?? [],
    csiNodes: scenario.csiNodes ?? [csiNode()],
    secrets: SECRETS,
    handler: scenario.handler,
  });
  scenario.setup?.(f);
  const cached = f.cachedAttachment(scenario.attachment.metadata?.name);
  if (scenario.event === 'add') f.vaController.attachmentAdded(cached);
  // Upstream's "updated" event: old and new are the same object (a resync).
  else f.vaController.attachmentUpdated(cached, cached);
  const errors = await f.process(scenario.retries ?? 0, () => scenario.beforeRetry?.(f));

  expect(f.kube.log()).toEqual(scenario.api);
  expect(
    driver.calls.filter((c) => c.method === PUBLISH || c.method === UNPUBLISH).map((c) => [c.method, c.request]),
  ).toEqual(scenario.csi);
  expect(errors).toEqual(scenario.errors ?? []);
  scenario.check?.(f);
}

export function withSource(obj: V1VolumeAttachment, source: V1VolumeAttachment['spec']['source']): V1VolumeAttachment {
  obj.spec.source = source;
  return obj;
}

/** pv1-node1 being deleted while attached, with our finalizer and the node-ID annotation. */
export const deletedVa = (annotations: Record<string, string> = ANN) =>
  va({ attached: true, finalizers: [FIN], annotations, deleted: true });
export const deletedInlineVa = (spec = inlineSpec()) =>
  inlineVa({ attached: true, finalizers: [FIN], annotations: ANN, deleted: true }, spec);
export const inlineWithSecret = (name: string) =>
  inlineSpec((s) => (s.csi!.controllerPublishSecretRef = { name, namespace: 'default' }));
