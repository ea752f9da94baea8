import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { VA_NODE_ID_ANNOTATION } from './keys.js';
import {
  ANN,
  FIN,
  PV_NAME,
  VA_NAME,
  csiNode,
  detachErrorPatch,
  finalizerRemovalPatch,
  inTreePv,
  inlineSpec,
  pvWithFinalizer,
  unpublishRequest,
  va,
} from './testing/attacher-fixture.js';
import {
  DEADLINE,
  deletedInlineVa,
  deletedVa,
  DETACHED,
  driver,
  inlineWithSecret,
  MOCK_ERROR,
  run,
  UNPUBLISH,
  useHandlerDriver,
  vaForbidden,
  withSecret,
  withSource,
} from './testing/handler-scenarios.js';
import type { Scenario } from './testing/handler-scenarios.js';

useHandlerDriver();

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
