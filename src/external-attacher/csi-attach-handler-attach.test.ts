import { describe, expect, it } from 'vitest';
import {
  ANN,
  FIN,
  PV_NAME,
  VA_NAME,
  attachErrorPatch,
  finalizerPatch,
  inlinePublishRequest,
  inlineSpec,
  inlineVa,
  publishRequest,
  pv,
  pvWithFinalizer,
  va,
} from './testing/attacher-fixture.js';
import { ATTACHED, PUBLISH, pvForbidden, run, useHandlerDriver, withSecret } from './testing/handler-scenarios.js';
import type { Scenario } from './testing/handler-scenarios.js';

useHandlerDriver();

// Upstream TestCSIHandler (pkg/controller/csi_handler_test.go), attach part, scenarios 1–16.
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
];

describe('CsiAttachHandler: attach (upstream TestCSIHandler 1–16)', () => {
  it.each(attachScenarios.map((s) => [s.name ?? '', s] as const))('%s', async (_name, scenario) => {
    await run(scenario);
  });
});
