import { status } from '@grpc/grpc-js';
import { describe, it } from 'vitest';
import { VA_NODE_ID_ANNOTATION } from './keys.js';
import {
  ANN,
  FIN,
  NODE_ID,
  PV_NAME,
  VA_NAME,
  attachErrorPatch,
  csiNode,
  finalizerPatch,
  inTreePv,
  inlineSpec,
  inlineVa,
  publishRequest,
  pv,
  pvWithFinalizer,
  va,
} from './testing/attacher-fixture.js';
import {
  ATTACHED,
  DEADLINE,
  driver,
  MOCK_ERROR,
  PUBLISH,
  run,
  useHandlerDriver,
  vaForbidden,
  withSource,
} from './testing/handler-scenarios.js';
import type { Scenario } from './testing/handler-scenarios.js';

useHandlerDriver();

// Upstream TestCSIHandler (pkg/controller/csi_handler_test.go), attach part, scenarios 17–32: failures and retries.
const attachFailureScenarios: Scenario[] = [
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

describe('CsiAttachHandler: attach failures (upstream TestCSIHandler 17–32)', () => {
  it.each(attachFailureScenarios.map((s) => [s.name ?? '', s] as const))('%s', async (_name, scenario) => {
    await run(scenario);
  });
});
