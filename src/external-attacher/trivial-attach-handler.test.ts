import { describe, expect, it } from 'vitest';
import { AttacherFixture, VA_NAME, va } from './testing/attacher-fixture.js';

const ATTACHED = { status: { attached: true } };
const forbidden = {
  status: 403,
  reason: 'Forbidden',
  message: `volumeattachments.storage.k8s.io "${VA_NAME}" is forbidden: Mock error`,
};

// Upstream TestTrivialHandler: no CSI call, no finalizer, just attached=true.
describe('TrivialAttachHandler', () => {
  it('VA added → status patch attached=true, nothing else', async () => {
    const f = new AttacherFixture({ trivial: true, attachments: [va()] });
    f.vaController.attachmentAdded(f.cachedAttachment());
    expect(await f.process()).toEqual([]);
    expect(f.kube.log()).toEqual([['patchAttachmentStatus', VA_NAME, ATTACHED]]);
    expect(f.kube.attachments.get(VA_NAME)?.metadata?.finalizers).toBeUndefined();
  });

  it('VA updated → attached=true', async () => {
    const f = new AttacherFixture({ trivial: true, attachments: [va()] });
    f.vaController.attachmentUpdated(f.cachedAttachment(), f.cachedAttachment());
    await f.process();
    expect(f.kube.log()).toEqual([['patchAttachmentStatus', VA_NAME, ATTACHED]]);
  });

  it('VA of another driver → ignored', async () => {
    const f = new AttacherFixture({ trivial: true, attachments: [va({ attacher: 'unknownDriver' })] });
    f.vaController.attachmentAdded(f.cachedAttachment());
    await f.process();
    expect(f.kube.log()).toEqual([]);
  });

  it('failed write → retried: three identical patches for two failures', async () => {
    const f = new AttacherFixture({ trivial: true, attachments: [va()] });
    f.kube.failNext('patchAttachmentStatus', forbidden, 2);
    f.vaController.attachmentAdded(f.cachedAttachment());
    const errors = await f.process(2);
    expect(errors).toHaveLength(2);
    expect(errors[0]).toContain('is forbidden: Mock error');
    expect(f.kube.log()).toEqual(Array(3).fill(['patchAttachmentStatus', VA_NAME, ATTACHED]));
    expect(f.kube.attachments.get(VA_NAME)?.status).toEqual({ attached: true });
  });

  it('already attached VA → nothing', async () => {
    const f = new AttacherFixture({ trivial: true, attachments: [va({ attached: true })] });
    f.vaController.attachmentAdded(f.cachedAttachment());
    await f.process();
    expect(f.kube.log()).toEqual([]);
  });

  it('does not look at deletionTimestamp: a VA being deleted with attached=false is still marked attached', async () => {
    const f = new AttacherFixture({ trivial: true, attachments: [va({ deleted: true, finalizers: ['other/x'] })] });
    f.vaController.attachmentAdded(f.cachedAttachment());
    await f.process();
    expect(f.kube.log()).toEqual([['patchAttachmentStatus', VA_NAME, ATTACHED]]);
  });
});
