import { status } from '@grpc/grpc-js';
import type { V1CSINode, V1PersistentVolume, V1VolumeAttachment } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import {
  ControllerServiceCapability_RPC_Type as ControllerRpc,
  Volume,
  VolumeCapability_AccessMode_Mode as AccessMode,
} from '../gen/csi.js';
import { CsiConnection } from '../shared/csi/connection.js';
import { discardLogger } from '../shared/log/logger.js';
import { CsiTestDriver } from '../shared/testing/csi-test-driver.js';
import type { AttacherKube } from './attacher-kube.js';
import { CsiAttachHandler } from './csi-attach-handler.js';
import { VA_NODE_ID_ANNOTATION } from './keys.js';
import {
  ANN,
  AttacherFixture,
  DRIVER,
  FIN,
  HANDLE,
  NODE_ID,
  NOW,
  PV_NAME,
  VA_NAME,
  attachErrorPatch,
  csiNode,
  detachErrorPatch,
  finalizerPatch,
  finalizerRemovalPatch,
  inTreePv,
  inlinePublishRequest,
  inlineSpec,
  inlineVa,
  mountCapability,
  publishRequest,
  pv,
  pvWithFinalizer,
  unpublishRequest,
  va,
} from './testing/attacher-fixture.js';
import type { HandlerSettings } from './testing/attacher-fixture.js';

let driver: CsiTestDriver;
let connection: CsiConnection;

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

const PUBLISH = 'ControllerPublishVolume';
const UNPUBLISH = 'ControllerUnpublishVolume';
// Success writes always null the error field, whether the cached copy shows one or not (so a sync that started from
// a copy older than our last error write still clears it); upstream's patch has the null only when there was one.
const ATTACHED = { status: { attached: true, attachError: null } };
const DETACHED = { status: { attached: false, detachError: null } };

/** client-go's Forbidden text for the VolumeAttachment and the PV (apierrors.NewForbidden). */
const vaForbidden = (detail: string) => ({
  status: 403,
  reason: 'Forbidden',
  message: `volumeattachments.storage.k8s.io "${VA_NAME}" is forbidden: ${detail}`,
});
const pvForbidden = {
  status: 403,
  reason: 'Forbidden',
  message: `persistentvolume "${PV_NAME}" is forbidden: Mock error`,
};

/** A Go driver that returns a plain error answers with Unknown; the attacher writes grpc-go's status text. */
const MOCK_ERROR = 'rpc error: code = Unknown desc = mock error';
const DEADLINE = 'rpc error: code = DeadlineExceeded desc = context deadline exceeded';

const withSecret = (name: string) => (p: V1PersistentVolume) => {
  p.spec!.csi!.controllerPublishSecretRef = { name, namespace: 'default' };
};
const SECRETS = { 'default/secret': { foo: 'bar' }, 'default/emptySecret': {} };

interface Scenario {
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

async function run(scenario: Scenario): Promise<void> {
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

// Upstream TestCSIHandler (pkg/controller/csi_handler_test.go), attach part, scenarios 1–32.
const attachScenarios: Scenario[] = [
  {
    name: '#1 VA added → finalizer and node ID saved, published, marked attached',
    event: 'add',
    attachment: va(),
    volumes: [pvWithFinalizer()],
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, publishRequest()]],
    check: (f) => {
      expect(f.kube.attachments.get(VA_NAME)?.metadata).toMatchObject({ finalizers: [FIN], annotations: ANN });
      expect(f.kube.attachments.get(VA_NAME)?.status).toEqual({ attached: true });
    },
  },
  {
    name: '#2 VA with an inline volume spec → attached without touching any PV',
    event: 'add',
    attachment: inlineVa(),
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, inlinePublishRequest()]],
  },
  {
    name: '#3 read-only PV, driver with PUBLISH_READONLY → readonly=true',
    event: 'add',
    attachment: va(),
    volumes: [pvWithFinalizer((p) => (p.spec!.csi!.readOnly = true))],
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, publishRequest({ readonly: true })]],
  },
  {
    name: '#4 read-only inline spec, driver with PUBLISH_READONLY → readonly=true',
    event: 'add',
    attachment: inlineVa(
      {},
      inlineSpec((s) => (s.csi!.readOnly = true)),
    ),
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, inlinePublishRequest({ readonly: true })]],
  },
  {
    name: '#5 VA updated → attached',
    event: 'update',
    attachment: va(),
    volumes: [pvWithFinalizer()],
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, publishRequest()]],
  },
  {
    name: '#6 VA with an inline spec updated → attached',
    event: 'update',
    attachment: inlineVa(),
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, inlinePublishRequest()]],
  },
  {
    name: '#7 PV volumeAttributes → volume_context',
    event: 'update',
    attachment: va(),
    volumes: [pvWithFinalizer((p) => (p.spec!.csi!.volumeAttributes = { foo: 'bar' }))],
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, publishRequest({ volumeContext: { foo: 'bar' } })]],
  },
  {
    name: '#8 inline volumeAttributes → volume_context',
    event: 'update',
    attachment: inlineVa(
      {},
      inlineSpec((s) => (s.csi!.volumeAttributes = { foo: 'bar' })),
    ),
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, inlinePublishRequest({ volumeContext: { foo: 'bar' } })]],
  },
  {
    name: '#9 PV controllerPublishSecretRef → secret read live first, passed as secrets',
    event: 'update',
    attachment: va(),
    volumes: [pvWithFinalizer(withSecret('secret'))],
    api: [
      ['getSecretData', 'default', 'secret'],
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, publishRequest({ secrets: { foo: 'bar' } })]],
  },
  {
    name: '#10 inline controllerPublishSecretRef → secrets',
    event: 'update',
    attachment: inlineVa(
      {},
      inlineSpec((s) => (s.csi!.controllerPublishSecretRef = { name: 'secret', namespace: 'default' })),
    ),
    api: [
      ['getSecretData', 'default', 'secret'],
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, inlinePublishRequest({ secrets: { foo: 'bar' } })]],
  },
  {
    // Upstream's table says {} here; on the wire an empty map and none are the same.
    name: '#11 PV with an empty secret → empty secrets',
    event: 'update',
    attachment: va(),
    volumes: [pvWithFinalizer(withSecret('emptySecret'))],
    api: [
      ['getSecretData', 'default', 'emptySecret'],
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, publishRequest({ secrets: {} })]],
  },
  {
    name: '#12 inline spec with an empty secret → empty secrets',
    event: 'update',
    attachment: inlineVa(
      {},
      inlineSpec((s) => (s.csi!.controllerPublishSecretRef = { name: 'emptySecret', namespace: 'default' })),
    ),
    api: [
      ['getSecretData', 'default', 'emptySecret'],
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, inlinePublishRequest({ secrets: {} })]],
  },
  {
    name: '#13 missing secret → attachError, no VA finalizer, no CSI call',
    event: 'update',
    attachment: va(),
    volumes: [pvWithFinalizer(withSecret('unknownSecret'))],
    api: [
      ['getSecretData', 'default', 'unknownSecret'],
      [
        'patchAttachmentStatus',
        VA_NAME,
        attachErrorPatch('failed to load secret "default/unknownSecret": secrets "unknownSecret" not found'),
      ],
    ],
    csi: [],
    errors: ['failed to attach: failed to load secret "default/unknownSecret": secrets "unknownSecret" not found'],
  },
  {
    name: '#14 PV without our finalizer → PV JSON patch first, then VA finalizer, publish, attached',
    event: 'update',
    attachment: va(),
    volumes: [pv()],
    api: [
      [
        'jsonPatchVolume',
        PV_NAME,
        [
          { op: 'test', path: '/metadata/finalizers', value: null },
          { op: 'add', path: '/metadata/finalizers', value: [FIN] },
        ],
      ],
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, publishRequest()]],
    check: (f) => expect(f.kube.volumes.get(PV_NAME)?.metadata?.finalizers).toEqual([FIN]),
  },
  {
    name: '#15 PV finalizer patch fails once → error saved; the retry adds it, attaches and clears the error',
    event: 'update',
    attachment: va(),
    volumes: [pv()],
    setup: (f) => f.kube.failNext('jsonPatchVolume', pvForbidden),
    retries: 1,
    api: [
      [
        'jsonPatchVolume',
        PV_NAME,
        [
          { op: 'test', path: '/metadata/finalizers', value: null },
          { op: 'add', path: '/metadata/finalizers', value: [FIN] },
        ],
      ],
      [
        'patchAttachmentStatus',
        VA_NAME,
        attachErrorPatch('could not add PersistentVolume finalizer: persistentvolume "pv1" is forbidden: Mock error'),
      ],
      [
        'jsonPatchVolume',
        PV_NAME,
        [
          { op: 'test', path: '/metadata/finalizers', value: null },
          { op: 'add', path: '/metadata/finalizers', value: [FIN] },
        ],
      ],
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, publishRequest()]],
    errors: [
      'failed to attach: could not add PersistentVolume finalizer: persistentvolume "pv1" is forbidden: Mock error',
    ],
  },
  {
    name: '#16 already attached VA → nothing',
    event: 'update',
    attachment: va({ attached: true, finalizers: [FIN], annotations: ANN }),
    volumes: [pvWithFinalizer()],
    api: [],
    csi: [],
  },
  {
    name: '#17 PV with deletionTimestamp → attachError, no CSI call',
    event: 'update',
    attachment: va({ finalizers: [FIN], annotations: ANN }),
    volumes: [pv((p) => (p.metadata!.deletionTimestamp = new Date('2023-11-14T00:00:00Z')))],
    api: [['patchAttachmentStatus', VA_NAME, attachErrorPatch('PersistentVolume "pv1" is marked for deletion')]],
    csi: [],
    errors: ['failed to attach: PersistentVolume "pv1" is marked for deletion'],
  },
  {
    name: '#18 publish_context → attachmentMetadata',
    event: 'add',
    attachment: va(),
    volumes: [pvWithFinalizer()],
    setup: () => driver.enqueue(PUBLISH, { publishContext: { foo: 'bar' } }),
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      [
        'patchAttachmentStatus',
        VA_NAME,
        { status: { attached: true, attachmentMetadata: { foo: 'bar' }, attachError: null } },
      ],
    ],
    csi: [[PUBLISH, publishRequest()]],
  },
  {
    name: '#19 VA of another attacher → nothing',
    event: 'add',
    attachment: va({ attacher: 'unknownDriver' }),
    volumes: [pvWithFinalizer()],
    api: [],
    csi: [],
  },
  {
    name: '#20 unknown PV → attachError',
    event: 'add',
    attachment: va({ finalizers: [FIN], annotations: ANN }),
    api: [['patchAttachmentStatus', VA_NAME, attachErrorPatch('persistentvolume "pv1" not found')]],
    csi: [],
    errors: ['failed to attach: persistentvolume "pv1" not found'],
  },
  {
    name: '#21 unknown PV and saving the error fails twice → three identical status patches',
    event: 'add',
    attachment: va({ finalizers: [FIN], annotations: ANN }),
    setup: (f) => f.kube.failNext('patchAttachmentStatus', vaForbidden('Mock error'), 2),
    retries: 2,
    api: [
      ['patchAttachmentStatus', VA_NAME, attachErrorPatch('persistentvolume "pv1" not found')],
      ['patchAttachmentStatus', VA_NAME, attachErrorPatch('persistentvolume "pv1" not found')],
      ['patchAttachmentStatus', VA_NAME, attachErrorPatch('persistentvolume "pv1" not found')],
    ],
    csi: [],
    errors: Array(3).fill('failed to attach: persistentvolume "pv1" not found'),
  },
  {
    name: '#22 neither PV nor inline spec → attachError',
    event: 'add',
    attachment: withSource(va({ finalizers: [FIN], annotations: ANN }), {}),
    volumes: [pvWithFinalizer()],
    api: [
      [
        'patchAttachmentStatus',
        VA_NAME,
        attachErrorPatch('neither InlineCSIVolumeSource nor PersistentVolumeName specified in VA source'),
      ],
    ],
    csi: [],
    errors: ['failed to attach: neither InlineCSIVolumeSource nor PersistentVolumeName specified in VA source'],
  },
  {
    name: '#23 both PV and inline spec → attachError',
    event: 'add',
    attachment: withSource(va({ finalizers: [FIN], annotations: ANN }), {
      persistentVolumeName: PV_NAME,
      inlineVolumeSpec: inlineSpec(),
    }),
    volumes: [pvWithFinalizer()],
    api: [
      [
        'patchAttachmentStatus',
        VA_NAME,
        attachErrorPatch('both InlineCSIVolumeSource and PersistentVolumeName specified in VA source'),
      ],
    ],
    csi: [],
    errors: ['failed to attach: both InlineCSIVolumeSource and PersistentVolumeName specified in VA source'],
  },
  {
    name: '#24 no CSINode → attachError',
    event: 'add',
    attachment: va({ finalizers: [FIN], annotations: ANN }),
    volumes: [pvWithFinalizer()],
    csiNodes: [],
    api: [['patchAttachmentStatus', VA_NAME, attachErrorPatch('csinode.storage.k8s.io "node1" not found')]],
    csi: [],
    errors: ['failed to attach: csinode.storage.k8s.io "node1" not found'],
  },
  {
    // Upstream's reactor fails the first two VA patches: the finalizer patch and the error save.
    name: '#25 VA finalizer patch and the error save fail → the retry saves the finalizer and attaches, one publish',
    event: 'add',
    attachment: va(),
    volumes: [pvWithFinalizer()],
    setup: (f) => {
      f.kube.failNext('patchAttachment', vaForbidden('Mock error'));
      f.kube.failNext('patchAttachmentStatus', vaForbidden('Mock error'));
    },
    retries: 1,
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      [
        'patchAttachmentStatus',
        VA_NAME,
        attachErrorPatch(
          'could not save VolumeAttachment: volumeattachments.storage.k8s.io "pv1-node1" is forbidden: Mock error',
        ),
      ],
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, publishRequest()]],
    errors: [
      'failed to attach: could not save VolumeAttachment: volumeattachments.storage.k8s.io "pv1-node1" is forbidden: Mock error',
    ],
  },
  {
    // Upstream's fake informer never sees the finalizer patch, so its retry patches the finalizer again; ours has
    // caught up and only publishes and writes the status again.
    name: '#26 attached=true status patch fails once → publish called twice',
    event: 'add',
    attachment: va(),
    volumes: [pvWithFinalizer()],
    setup: (f) => f.kube.failNext('patchAttachmentStatus', vaForbidden('mock error')),
    retries: 1,
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [
      [PUBLISH, publishRequest()],
      [PUBLISH, publishRequest()],
    ],
    errors: ['failed to mark as attached: volumeattachments.storage.k8s.io "pv1-node1" is forbidden: mock error'],
  },
  {
    // Upstream's fake attacher returns the bare "mock error"; through gRPC a plain driver error is Unknown.
    name: '#27 publish fails → attachError with the gRPC text; the retry attaches and clears it',
    event: 'add',
    attachment: va(),
    volumes: [pvWithFinalizer()],
    setup: () => driver.fail(PUBLISH, status.UNKNOWN, 'mock error'),
    retries: 1,
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, attachErrorPatch(MOCK_ERROR, status.UNKNOWN)],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [
      [PUBLISH, publishRequest()],
      [PUBLISH, publishRequest()],
    ],
    errors: [`failed to attach: ${MOCK_ERROR}`],
  },
  {
    // Upstream's fake attacher returns ctx.Err() ("context deadline exceeded"); our real gRPC call fails with the
    // DeadlineExceeded status, as the Go binary's does, so the text is grpc-go's and the errorCode is 4.
    name: '#28 publish times out → attachError DeadlineExceeded; the retry attaches',
    event: 'add',
    attachment: va(),
    volumes: [pvWithFinalizer()],
    handler: { timeoutMs: 100 },
    setup: () => driver.setDelay(PUBLISH, 5_000),
    beforeRetry: () => void driver.setDelay(PUBLISH, undefined),
    retries: 1,
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, attachErrorPatch(DEADLINE, status.DEADLINE_EXCEEDED)],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [
      [PUBLISH, publishRequest()],
      [PUBLISH, publishRequest()],
    ],
    errors: [`failed to attach: ${DEADLINE}`],
  },
  {
    // The attacher has no Node informer: a Node without a CSINode is just a missing CSINode.
    name: '#29 Node but no CSINode → attachError',
    event: 'add',
    attachment: va({ finalizers: [FIN], annotations: ANN }),
    volumes: [pvWithFinalizer()],
    csiNodes: [],
    api: [['patchAttachmentStatus', VA_NAME, attachErrorPatch('csinode.storage.k8s.io "node1" not found')]],
    csi: [],
    errors: ['failed to attach: csinode.storage.k8s.io "node1" not found'],
  },
  {
    name: '#30 CSINode without the driver → attachError (attach never falls back to the annotation)',
    event: 'add',
    attachment: va({ finalizers: [FIN], annotations: ANN }),
    volumes: [pvWithFinalizer()],
    csiNodes: [csiNode([])],
    api: [['patchAttachmentStatus', VA_NAME, attachErrorPatch('CSINode node1 does not contain driver csi/test')]],
    csi: [],
    errors: ['failed to attach: CSINode node1 does not contain driver csi/test'],
  },
  {
    name: '#31 CSINode with the driver, Node without annotations → attached (no Node lookup)',
    event: 'add',
    attachment: va(),
    volumes: [pvWithFinalizer()],
    api: [
      ['patchAttachment', VA_NAME, finalizerPatch()],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, publishRequest()]],
  },
  {
    // #32 (in-tree GCE PD translated to CSI) is CSI migration, which this implementation does not do. Upstream adds
    // the PV finalizer before looking at the source; a PV without spec.csi then fails with upstream's text.
    name: '#32 in-tree PV (not migrated) → PV finalizer added, then attachError, no CSI call',
    event: 'add',
    attachment: va(),
    volumes: [inTreePv()],
    api: [
      [
        'jsonPatchVolume',
        PV_NAME,
        [
          { op: 'test', path: '/metadata/finalizers', value: null },
          { op: 'add', path: '/metadata/finalizers', value: [FIN] },
        ],
      ],
      ['patchAttachmentStatus', VA_NAME, attachErrorPatch('pv spec contained non-csi source that was not migrated')],
    ],
    csi: [],
    errors: ['failed to attach: pv spec contained non-csi source that was not migrated'],
  },
  {
    name: 'inline spec without a CSI source → attachError',
    event: 'add',
    attachment: inlineVa({}, { accessModes: ['ReadWriteOnce'] }),
    api: [['patchAttachmentStatus', VA_NAME, attachErrorPatch('inline volume spec contains nil CSI source')]],
    csi: [],
    errors: ['failed to attach: inline volume spec contains nil CSI source'],
  },
  {
    name: 'access modes CSI cannot express → attachError, the VA stays without finalizer',
    event: 'add',
    attachment: va(),
    volumes: [pvWithFinalizer((p) => (p.spec!.accessModes = ['ReadOnlyMany', 'ReadWriteOnce']))],
    api: [
      [
        'patchAttachmentStatus',
        VA_NAME,
        attachErrorPatch('CSI does not support ReadOnlyMany and ReadWriteOnce on the same PersistentVolume'),
      ],
    ],
    csi: [],
    errors: ['failed to attach: CSI does not support ReadOnlyMany and ReadWriteOnce on the same PersistentVolume'],
  },
  {
    name: 'existing finalizers and annotations are kept; the patch carries the whole finalizer list',
    event: 'add',
    attachment: va({ finalizers: ['other/finalizer'], annotations: { keep: 'me' } }),
    volumes: [pvWithFinalizer()],
    api: [
      [
        'patchAttachment',
        VA_NAME,
        { metadata: { annotations: { [VA_NODE_ID_ANNOTATION]: NODE_ID }, finalizers: ['other/finalizer', FIN] } },
      ],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, publishRequest()]],
  },
  {
    name: 'a stale node-ID annotation is replaced before publishing',
    event: 'add',
    attachment: va({ finalizers: [FIN], annotations: { [VA_NODE_ID_ANNOTATION]: 'oldNodeID' } }),
    volumes: [pvWithFinalizer()],
    api: [
      ['patchAttachment', VA_NAME, { metadata: { annotations: { [VA_NODE_ID_ANNOTATION]: NODE_ID } } }],
      ['patchAttachmentStatus', VA_NAME, ATTACHED],
    ],
    csi: [[PUBLISH, publishRequest()]],
  },
];

function withSource(obj: V1VolumeAttachment, source: V1VolumeAttachment['spec']['source']): V1VolumeAttachment {
  obj.spec.source = source;
  return obj;
}

describe('CsiAttachHandler: attach (upstream TestCSIHandler 1–32)', () => {
  it.each(attachScenarios.map((s) => [s.name ?? '', s] as const))('%s', async (_name, scenario) => {
    await run(scenario);
  });
});

const deletedVa = (annotations: Record<string, string> = ANN) =>
  va({ attached: true, finalizers: [FIN], annotations, deleted: true });
const deletedInlineVa = (spec = inlineSpec()) =>
  inlineVa({ attached: true, finalizers: [FIN], annotations: ANN, deleted: true }, spec);
const inlineWithSecret = (name: string) =>
  inlineSpec((s) => (s.csi!.controllerPublishSecretRef = { name, namespace: 'default' }));

// Upstream TestCSIHandler (pkg/controller/csi_handler_test.go), detach part, scenarios 33–50.
const detachScenarios: Scenario[] = [
  {
    // Removing the last finalizer of a VA being deleted deletes it, so no attached=false write follows (upstream
    // sends one and gets 404).
    name: '#33 deleted VA → unpublish, finalizer removed (the VA goes with it)',
    event: 'add',
    attachment: deletedVa(),
    volumes: [pvWithFinalizer()],
    api: [['patchAttachment', VA_NAME, finalizerRemovalPatch]],
    csi: [[UNPUBLISH, unpublishRequest()]],
    check: (f) => expect(f.kube.attachments.has(VA_NAME)).toBe(false),
  },
  {
    name: '#34 deleted VA with an inline spec → detached',
    event: 'add',
    attachment: deletedInlineVa(),
    api: [['patchAttachment', VA_NAME, finalizerRemovalPatch]],
    csi: [[UNPUBLISH, unpublishRequest()]],
  },
  {
    // Upstream's case has no CSINode: the node ID comes from the annotation.
    name: '#35 PV with a secret → secret read, passed to unpublish',
    event: 'add',
    attachment: deletedVa(),
    volumes: [pvWithFinalizer(withSecret('secret'))],
    csiNodes: [],
    api: [
      ['getSecretData', 'default', 'secret'],
      ['patchAttachment', VA_NAME, finalizerRemovalPatch],
    ],
    csi: [[UNPUBLISH, unpublishRequest({ secrets: { foo: 'bar' } })]],
  },
  {
    name: '#36 inline spec with a secret → secrets passed',
    event: 'add',
    attachment: deletedInlineVa(inlineWithSecret('secret')),
    csiNodes: [],
    api: [
      ['getSecretData', 'default', 'secret'],
      ['patchAttachment', VA_NAME, finalizerRemovalPatch],
    ],
    csi: [[UNPUBLISH, unpublishRequest({ secrets: { foo: 'bar' } })]],
  },
  {
    name: '#37 PV with an empty secret → empty secrets',
    event: 'add',
    attachment: deletedVa(),
    volumes: [pvWithFinalizer(withSecret('emptySecret'))],
    csiNodes: [],
    api: [
      ['getSecretData', 'default', 'emptySecret'],
      ['patchAttachment', VA_NAME, finalizerRemovalPatch],
    ],
    csi: [[UNPUBLISH, unpublishRequest({ secrets: {} })]],
  },
  {
    name: '#38 inline spec with an empty secret → empty secrets',
    event: 'add',
    attachment: deletedInlineVa(inlineWithSecret('emptySecret')),
    csiNodes: [],
    api: [
      ['getSecretData', 'default', 'emptySecret'],
      ['patchAttachment', VA_NAME, finalizerRemovalPatch],
    ],
    csi: [[UNPUBLISH, unpublishRequest({ secrets: {} })]],
  },
  {
    name: '#39 missing secret → detachError, no CSI call',
    event: 'add',
    attachment: deletedVa(),
    volumes: [pvWithFinalizer(withSecret('unknownSecret'))],
    api: [
      ['getSecretData', 'default', 'unknownSecret'],
      [
        'patchAttachmentStatus',
        VA_NAME,
        detachErrorPatch('failed to load secret "default/unknownSecret": secrets "unknownSecret" not found'),
      ],
    ],
    csi: [],
    errors: ['failed to detach: failed to load secret "default/unknownSecret": secrets "unknownSecret" not found'],
    check: (f) => expect(f.kube.attachments.get(VA_NAME)?.status?.attached).toBe(true),
  },
  {
    name: '#40 unpublish fails → detachError (no errorCode); the retry detaches and clears it',
    event: 'add',
    attachment: deletedVa(),
    volumes: [pvWithFinalizer()],
    setup: () => driver.fail(UNPUBLISH, status.UNKNOWN, 'mock error'),
    retries: 1,
    api: [
      ['patchAttachmentStatus', VA_NAME, detachErrorPatch(MOCK_ERROR)],
      ['patchAttachment', VA_NAME, finalizerRemovalPatch],
    ],
    csi: [
      [UNPUBLISH, unpublishRequest()],
      [UNPUBLISH, unpublishRequest()],
    ],
    errors: [`failed to detach: ${MOCK_ERROR}`],
  },
  {
    // As #28: the real gRPC deadline gives grpc-go's DeadlineExceeded text, not the bare context error.
    name: '#41 unpublish times out → detachError; the retry detaches',
    event: 'add',
    attachment: deletedVa(),
    volumes: [pvWithFinalizer()],
    handler: { timeoutMs: 100 },
    setup: () => driver.setDelay(UNPUBLISH, 5_000),
    beforeRetry: () => void driver.setDelay(UNPUBLISH, undefined),
    retries: 1,
    api: [
      ['patchAttachmentStatus', VA_NAME, detachErrorPatch(DEADLINE)],
      ['patchAttachment', VA_NAME, finalizerRemovalPatch],
    ],
    csi: [
      [UNPUBLISH, unpublishRequest()],
      [UNPUBLISH, unpublishRequest()],
    ],
    errors: [`failed to detach: ${DEADLINE}`],
  },
  {
    // Upstream pkg/attacher's Detach test: NotFound from ControllerUnpublishVolume is an error like any other.
    name: 'unpublish answers NotFound → detachError, finalizer kept (not taken as detached)',
    event: 'add',
    attachment: deletedVa(),
    volumes: [pvWithFinalizer()],
    setup: () => driver.fail(UNPUBLISH, status.NOT_FOUND, 'volume not found'),
    api: [['patchAttachmentStatus', VA_NAME, detachErrorPatch('rpc error: code = NotFound desc = volume not found')]],
    csi: [[UNPUBLISH, unpublishRequest()]],
    errors: ['failed to detach: rpc error: code = NotFound desc = volume not found'],
    check: (f) => expect(f.kube.attachments.get(VA_NAME)?.metadata?.finalizers).toEqual([FIN]),
  },
  {
    name: '#42 deleted VA without our finalizer → already detached, nothing',
    event: 'update',
    attachment: va({ deleted: true, finalizers: ['other/finalizer'] }),
    volumes: [pvWithFinalizer()],
    api: [],
    csi: [],
  },
  {
    // The second identical failure is not written again (saveError's deliberate difference).
    name: '#43 unknown PV → detachError once, the retry writes nothing',
    event: 'add',
    attachment: deletedVa(),
    retries: 1,
    api: [['patchAttachmentStatus', VA_NAME, detachErrorPatch('persistentvolume "pv1" not found')]],
    csi: [],
    errors: Array(2).fill('failed to detach: persistentvolume "pv1" not found'),
  },
  {
    name: '#44 unknown PV and saving the error fails twice → three identical writes, then none',
    event: 'add',
    attachment: deletedVa(),
    setup: (f) => f.kube.failNext('patchAttachmentStatus', vaForbidden('Mock error'), 2),
    retries: 3,
    api: Array(3).fill(['patchAttachmentStatus', VA_NAME, detachErrorPatch('persistentvolume "pv1" not found')]),
    csi: [],
    errors: Array(4).fill('failed to detach: persistentvolume "pv1" not found'),
  },
  {
    name: '#45 deleted VA with neither PV nor inline spec → detachError',
    event: 'add',
    attachment: withSource(deletedVa(), {}),
    volumes: [pvWithFinalizer()],
    api: [
      [
        'patchAttachmentStatus',
        VA_NAME,
        detachErrorPatch('neither InlineCSIVolumeSource nor PersistentVolumeName specified in VA source'),
      ],
    ],
    csi: [],
    errors: ['failed to detach: neither InlineCSIVolumeSource nor PersistentVolumeName specified in VA source'],
  },
  {
    name: '#46 deleted VA with both PV and inline spec → detachError',
    event: 'add',
    attachment: withSource(deletedVa(), { persistentVolumeName: PV_NAME, inlineVolumeSpec: inlineSpec() }),
    volumes: [pvWithFinalizer()],
    api: [
      [
        'patchAttachmentStatus',
        VA_NAME,
        detachErrorPatch('both InlineCSIVolumeSource and PersistentVolumeName specified in VA source'),
      ],
    ],
    csi: [],
    errors: ['failed to detach: both InlineCSIVolumeSource and PersistentVolumeName specified in VA source'],
  },
  {
    name: '#47 no CSINode and no node-ID annotation → detachError',
    event: 'add',
    attachment: va({ attached: true, finalizers: [FIN], deleted: true }),
    volumes: [pvWithFinalizer()],
    csiNodes: [],
    api: [['patchAttachmentStatus', VA_NAME, detachErrorPatch('csinode.storage.k8s.io "node1" not found')]],
    csi: [],
    errors: ['failed to detach: csinode.storage.k8s.io "node1" not found'],
  },
  {
    name: '#48 no CSINode, annotation annotatedNodeID → unpublished from annotatedNodeID',
    event: 'add',
    attachment: deletedVa({ [VA_NODE_ID_ANNOTATION]: 'annotatedNodeID' }),
    volumes: [pvWithFinalizer()],
    csiNodes: [],
    api: [['patchAttachment', VA_NAME, finalizerRemovalPatch]],
    csi: [[UNPUBLISH, unpublishRequest({ nodeId: 'annotatedNodeID' })]],
  },
  {
    name: 'CSINode without the driver (node shut down), annotation present → unpublished from the annotation',
    event: 'add',
    attachment: deletedVa({ [VA_NODE_ID_ANNOTATION]: 'annotatedNodeID' }),
    volumes: [pvWithFinalizer()],
    csiNodes: [csiNode([])],
    api: [['patchAttachment', VA_NAME, finalizerRemovalPatch]],
    csi: [[UNPUBLISH, unpublishRequest({ nodeId: 'annotatedNodeID' })]],
  },
  {
    name: '#49 finalizer removal fails once → detachError "could not mark as detached"; unpublish called twice',
    event: 'add',
    attachment: deletedVa(),
    volumes: [pvWithFinalizer()],
    setup: (f) => f.kube.failNext('patchAttachment', vaForbidden('mock error')),
    retries: 1,
    api: [
      ['patchAttachment', VA_NAME, finalizerRemovalPatch],
      [
        'patchAttachmentStatus',
        VA_NAME,
        detachErrorPatch(
          'could not mark as detached: volumeattachments.storage.k8s.io "pv1-node1" is forbidden: mock error',
        ),
      ],
      ['patchAttachment', VA_NAME, finalizerRemovalPatch],
    ],
    csi: [
      [UNPUBLISH, unpublishRequest()],
      [UNPUBLISH, unpublishRequest()],
    ],
    errors: [
      'failed to detach: could not mark as detached: volumeattachments.storage.k8s.io "pv1-node1" is forbidden: mock error',
    ],
  },
  {
    // #50 (GCE PD translated to CSI) is CSI migration; without it an in-tree PV cannot be unpublished.
    name: '#50 in-tree PV (not migrated) → detachError, no CSI call',
    event: 'add',
    attachment: deletedVa(),
    volumes: [inTreePv([FIN])],
    api: [
      ['patchAttachmentStatus', VA_NAME, detachErrorPatch('pv spec contained non-csi source that was not migrated')],
    ],
    csi: [],
    errors: ['failed to detach: pv spec contained non-csi source that was not migrated'],
  },
  {
    name: 'other finalizers stay: only ours is removed, and the VA (still there) is marked detached',
    event: 'add',
    attachment: va({ attached: true, finalizers: ['other/finalizer', FIN], annotations: ANN, deleted: true }),
    volumes: [pvWithFinalizer()],
    api: [
      ['patchAttachment', VA_NAME, { metadata: { finalizers: ['other/finalizer'] } }],
      ['patchAttachmentStatus', VA_NAME, DETACHED],
    ],
    csi: [[UNPUBLISH, unpublishRequest()]],
    check: (f) => {
      expect(f.kube.attachments.get(VA_NAME)?.metadata?.finalizers).toEqual(['other/finalizer']);
      expect(f.kube.attachments.get(VA_NAME)?.status).toEqual({ attached: false });
    },
  },
];

describe('CsiAttachHandler: detach (upstream TestCSIHandler 33–50)', () => {
  it.each(detachScenarios.map((s) => [s.name ?? '', s] as const))('%s', async (_name, scenario) => {
    await run(scenario);
  });
});

describe('CsiAttachHandler: readonly gating (upstream TestCSIHandlerReadOnly)', () => {
  it.each([
    ['read-write PV', false],
    ['read-only PV', true],
  ])('driver without PUBLISH_READONLY: %s is published read-write', async (_name, readOnly) => {
    await run({
      event: 'add',
      attachment: va(),
      volumes: [pvWithFinalizer((p) => (p.spec!.csi!.readOnly = readOnly))],
      handler: { supportsPublishReadOnly: false },
      api: [
        ['patchAttachment', VA_NAME, finalizerPatch()],
        ['patchAttachmentStatus', VA_NAME, ATTACHED],
      ],
      csi: [[PUBLISH, publishRequest({ readonly: false })]],
    });
  });
});

describe('CsiAttachHandler: the volume capability on the wire', () => {
  it('uses the PV fsType over --default-fstype, its mount options, and SINGLE_NODE_MULTI_WRITER when supported', async () => {
    await run({
      event: 'add',
      attachment: va(),
      volumes: [
        pvWithFinalizer((p) => {
          p.spec!.csi!.fsType = 'xfs';
          p.spec!.mountOptions = ['first', 'second'];
          p.spec!.accessModes = ['ReadWriteOnce'];
        }),
      ],
      handler: { supportsSingleNodeMultiWriter: true, defaultFsType: 'ext3' },
      api: [
        ['patchAttachment', VA_NAME, finalizerPatch()],
        ['patchAttachmentStatus', VA_NAME, ATTACHED],
      ],
      csi: [
        [
          PUBLISH,
          publishRequest({
            volumeCapability: mountCapability(AccessMode.SINGLE_NODE_MULTI_WRITER, 'xfs', ['first', 'second']),
          }),
        ],
      ],
    });
  });

  it('sends --default-fstype when the PV names no fsType, and nothing when that is empty', async () => {
    await run({
      event: 'add',
      attachment: va(),
      volumes: [pvWithFinalizer()],
      handler: { defaultFsType: '' },
      api: [
        ['patchAttachment', VA_NAME, finalizerPatch()],
        ['patchAttachmentStatus', VA_NAME, ATTACHED],
      ],
      csi: [[PUBLISH, publishRequest({ volumeCapability: mountCapability(AccessMode.MULTI_NODE_MULTI_WRITER, '') })]],
    });
  });

  it('sends a block capability for a Block PV', async () => {
    await run({
      event: 'add',
      attachment: va(),
      volumes: [pvWithFinalizer((p) => (p.spec!.volumeMode = 'Block'))],
      api: [
        ['patchAttachment', VA_NAME, finalizerPatch()],
        ['patchAttachmentStatus', VA_NAME, ATTACHED],
      ],
      csi: [
        [
          PUBLISH,
          publishRequest({
            volumeCapability: {
              accessType: { $case: 'block', value: {} },
              accessMode: { mode: AccessMode.MULTI_NODE_MULTI_WRITER },
            },
          }),
        ],
      ],
    });
  });
});

const RESOURCE_EXHAUSTED = 'rpc error: code = ResourceExhausted desc = mock rpc error';

describe('CsiAttachHandler: errorCode (upstream TestVolumeAttachmentWithErrorCode)', () => {
  it('writes the gRPC code of a failed publish into attachError (ResourceExhausted → 8), cleared on success', async () => {
    await run({
      event: 'add',
      attachment: va(),
      volumes: [pvWithFinalizer()],
      setup: () => driver.fail(PUBLISH, status.RESOURCE_EXHAUSTED, 'mock rpc error'),
      retries: 1,
      api: [
        ['patchAttachment', VA_NAME, finalizerPatch()],
        ['patchAttachmentStatus', VA_NAME, attachErrorPatch(RESOURCE_EXHAUSTED, 8)],
        ['patchAttachmentStatus', VA_NAME, ATTACHED],
      ],
      csi: [
        [PUBLISH, publishRequest()],
        [PUBLISH, publishRequest()],
      ],
      errors: [`failed to attach: ${RESOURCE_EXHAUSTED}`],
    });
  });

  it('writes no errorCode when the MutableCSINodeAllocatableCount gate is off', async () => {
    await run({
      event: 'add',
      attachment: va({ finalizers: [FIN], annotations: ANN }),
      volumes: [pvWithFinalizer()],
      handler: { attachErrorCodes: false },
      setup: () => driver.fail(PUBLISH, status.RESOURCE_EXHAUSTED, 'mock rpc error'),
      api: [['patchAttachmentStatus', VA_NAME, attachErrorPatch(RESOURCE_EXHAUSTED)]],
      csi: [[PUBLISH, publishRequest()]],
      errors: [`failed to attach: ${RESOURCE_EXHAUSTED}`],
    });
  });

  it('writes no errorCode for a Kubernetes-side failure (a failed VA patch)', async () => {
    const message =
      'could not save VolumeAttachment: volumeattachments.storage.k8s.io "pv1-node1" is forbidden: Mock error';
    await run({
      event: 'add',
      attachment: va(),
      volumes: [pvWithFinalizer()],
      setup: (f) => f.kube.failNext('patchAttachment', vaForbidden('Mock error')),
      api: [
        ['patchAttachment', VA_NAME, finalizerPatch()],
        ['patchAttachmentStatus', VA_NAME, attachErrorPatch(message)],
      ],
      csi: [],
      errors: [`failed to attach: ${message}`],
    });
  });

  it('never writes an errorCode into detachError', async () => {
    await run({
      event: 'add',
      attachment: deletedVa(),
      volumes: [pvWithFinalizer()],
      setup: () => driver.fail(UNPUBLISH, status.RESOURCE_EXHAUSTED, 'mock rpc error'),
      api: [['patchAttachmentStatus', VA_NAME, detachErrorPatch(RESOURCE_EXHAUSTED)]],
      csi: [[UNPUBLISH, unpublishRequest()]],
      errors: [`failed to detach: ${RESOURCE_EXHAUSTED}`],
    });
  });
});

describe('CsiAttachHandler: a repeated failure is written once (our difference from upstream)', () => {
  it('makes no status write for the same message and errorCode again, but writes a different one', async () => {
    const unavailable = 'rpc error: code = Unavailable desc = backend down';
    await run({
      event: 'add',
      attachment: va(),
      volumes: [pvWithFinalizer()],
      setup: () => {
        driver.fail(PUBLISH, status.RESOURCE_EXHAUSTED, 'mock rpc error', 2);
        driver.fail(PUBLISH, status.UNAVAILABLE, 'backend down');
      },
      // Each retry a second later, so a new error also has a new time.
      beforeRetry: (f) => f.clock.advance(1_000),
      retries: 3,
      api: [
        ['patchAttachment', VA_NAME, finalizerPatch()],
        ['patchAttachmentStatus', VA_NAME, attachErrorPatch(RESOURCE_EXHAUSTED, 8)],
        // The second ResourceExhausted, a second later: no write.
        ['patchAttachmentStatus', VA_NAME, attachErrorPatch(unavailable, 14, '2023-11-14T22:13:22.000Z')],
        ['patchAttachmentStatus', VA_NAME, ATTACHED],
      ],
      csi: Array(4).fill([PUBLISH, publishRequest()]),
      errors: [
        `failed to attach: ${RESOURCE_EXHAUSTED}`,
        `failed to attach: ${RESOURCE_EXHAUSTED}`,
        `failed to attach: ${unavailable}`,
      ],
    });
  });

  it('writes the same message again when only the errorCode differs', async () => {
    // A Kubernetes-side failure with the text a gRPC failure wrote before: same message, no code.
    const previous = va({ finalizers: [FIN], annotations: ANN });
    previous.status!.attachError = { message: 'persistentvolume "pv1" not found', errorCode: 5 };
    const f = new AttacherFixture({ csi: connection, attachments: [previous], csiNodes: [csiNode()] });
    f.vaController.attachmentAdded(f.cachedAttachment());
    expect(await f.process()).toEqual(['failed to attach: persistentvolume "pv1" not found']);
    expect(f.kube.log()).toEqual([
      ['patchAttachmentStatus', VA_NAME, { status: { attachError: { time: NOW, errorCode: null } } }],
    ]);
  });
});

describe('CsiAttachHandler: reconciler force sync', () => {
  it('publishes an attached VA again once, when forced', async () => {
    const f = new AttacherFixture({
      csi: connection,
      attachments: [va({ attached: true, finalizers: [FIN], annotations: ANN })],
      volumes: [pvWithFinalizer()],
      csiNodes: [csiNode()],
    });
    f.csiHandler!.forceNextSync(VA_NAME);
    await f.csiHandler!.syncAttachment(f.cachedAttachment());
    await f.csiHandler!.syncAttachment(f.cachedAttachment());
    expect(driver.callsTo(PUBLISH)).toEqual([publishRequest()]);
    // Nothing changed in the status, so nothing is written (upstream sends an empty status patch).
    expect(f.kube.log()).toEqual([]);
  });

  it('unpublishes a deleted VA without our finalizer once, when forced, with no API write', async () => {
    const f = new AttacherFixture({
      csi: connection,
      attachments: [va({ deleted: true, finalizers: ['other/finalizer'], annotations: ANN })],
      volumes: [pvWithFinalizer()],
      csiNodes: [csiNode()],
    });
    f.csiHandler!.forceNextSync(VA_NAME);
    await f.csiHandler!.syncAttachment(f.cachedAttachment());
    await f.csiHandler!.syncAttachment(f.cachedAttachment());
    expect(driver.callsTo(UNPUBLISH)).toEqual([unpublishRequest()]);
    expect(f.kube.log()).toEqual([]);
  });
});

describe('CsiAttachHandler: a cached copy older than our own last write (our difference from upstream)', () => {
  it('skips it, without a second publish or write, and asks to look again shortly', async () => {
    const f = new AttacherFixture({
      csi: connection,
      attachments: [va()],
      volumes: [pvWithFinalizer()],
      csiNodes: [csiNode()],
    });
    const stale = f.cachedAttachment();
    await f.csiHandler!.syncAttachment(stale);
    const writes = f.kube.log().length;
    // Our metadata patch queued the VA again before the watch brought the status write: upstream publishes twice.
    expect(await f.csiHandler!.syncAttachment(stale)).toEqual({ requeueAfterMs: 100 });
    expect(driver.callsTo(PUBLISH)).toHaveLength(1);
    expect(f.kube.log()).toHaveLength(writes);
    f.catchUp();
    await expect(f.csiHandler!.syncAttachment(f.cachedAttachment())).resolves.toBeUndefined();
    expect(driver.callsTo(PUBLISH)).toHaveLength(1);
  });

  it('does not skip a forced sync (the reconciler), and forgets a deleted VolumeAttachment', async () => {
    const f = new AttacherFixture({
      csi: connection,
      attachments: [va()],
      volumes: [pvWithFinalizer()],
      csiNodes: [csiNode()],
    });
    const stale = f.cachedAttachment();
    await f.csiHandler!.syncAttachment(stale);
    f.csiHandler!.forceNextSync(VA_NAME);
    await f.csiHandler!.syncAttachment(stale);
    expect(driver.callsTo(PUBLISH)).toHaveLength(2);
    f.csiHandler!.forget(VA_NAME);
    await f.csiHandler!.syncAttachment(stale);
    expect(driver.callsTo(PUBLISH)).toHaveLength(3);
  });
});

describe('CsiAttachHandler: detaches on their own lane of the request budget (upstream #761)', () => {
  it('sends the API calls of a detach through detachKube and those of an attach through kube', async () => {
    const leaving = va({ deleted: true, attached: true, finalizers: [FIN], annotations: ANN });
    leaving.metadata!.name = 'leaving';
    const f = new AttacherFixture({
      csi: connection,
      attachments: [va(), leaving],
      volumes: [pvWithFinalizer()],
      csiNodes: [csiNode()],
    });
    const lanes: string[] = [];
    const through = (lane: string): AttacherKube => ({
      patchAttachment: (name, patch) => (
        lanes.push(`${lane} patchAttachment ${name}`),
        f.kube.patchAttachment(name, patch)
      ),
      patchAttachmentStatus: (name, patch) => (
        lanes.push(`${lane} patchAttachmentStatus ${name}`),
        f.kube.patchAttachmentStatus(name, patch)
      ),
      jsonPatchVolume: (name, ops) => (
        lanes.push(`${lane} jsonPatchVolume ${name}`),
        f.kube.jsonPatchVolume(name, ops)
      ),
      getSecretData: (namespace, name) => (lanes.push(`${lane} getSecretData`), f.kube.getSecretData(namespace, name)),
    });
    const handler = new CsiAttachHandler({
      driverName: DRIVER,
      volumes: f.volumes,
      csiNodes: f.csiNodes,
      kube: through('attach'),
      detachKube: through('detach'),
      csi: connection,
      supportsPublishReadOnly: false,
      supportsSingleNodeMultiWriter: false,
      defaultFsType: '',
      timeoutMs: 10_000,
      attachErrorCodes: true,
      clock: f.clock,
      logger: discardLogger(),
    });
    await handler.syncAttachment(f.cachedAttachment(VA_NAME));
    await handler.syncAttachment(f.cachedAttachment('leaving'));
    expect(lanes).toEqual([
      `attach patchAttachment ${VA_NAME}`,
      `attach patchAttachmentStatus ${VA_NAME}`,
      'detach patchAttachment leaving',
    ]);
  });
});
