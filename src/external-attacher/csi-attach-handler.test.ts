import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { VolumeCapability_AccessMode_Mode as AccessMode } from '../gen/csi.js';
import { discardLogger } from '../shared/log/logger.js';
import type { AttacherKube } from './attacher-kube.js';
import { CsiAttachHandler } from './csi-attach-handler.js';
import {
  ANN,
  AttacherFixture,
  DRIVER,
  FIN,
  NOW,
  VA_NAME,
  attachErrorPatch,
  csiNode,
  detachErrorPatch,
  finalizerPatch,
  mountCapability,
  publishRequest,
  pvWithFinalizer,
  unpublishRequest,
  va,
} from './testing/attacher-fixture.js';
import {
  ATTACHED,
  connection,
  deletedVa,
  driver,
  PUBLISH,
  run,
  UNPUBLISH,
  useHandlerDriver,
  vaForbidden,
} from './testing/handler-scenarios.js';

useHandlerDriver();

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
