import type { V1VolumeAttachment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../shared/controller/work-queue.js';
import { discardLogger } from '../shared/log/logger.js';
import { MemoryCache } from '../shared/testing/memory-cache.js';
import { DRIVER, VA_NAME, va } from './testing/attacher-fixture.js';
import { VolumeAttachmentController, shouldEnqueueAttachmentChange } from './volume-attachment-controller.js';

function attachment(mutate: (obj: V1VolumeAttachment) => void = () => {}): V1VolumeAttachment {
  const obj: V1VolumeAttachment = {
    metadata: { name: 'foo', resourceVersion: '1' },
    spec: { attacher: 'one', nodeName: 'node1', source: { persistentVolumeName: 'pv1' } },
    status: { attached: false },
  };
  mutate(obj);
  return obj;
}

const error = (message: string) => ({ message, time: new Date(0) });
const nextVersion = (obj: V1VolumeAttachment) => (obj.metadata!.resourceVersion = '2');

const bothErrors = attachment((o) => {
  o.status!.attachError = error('first attach error');
  o.status!.detachError = error('first detach error');
});
const noErrors = attachment();
const attachErrorOnly = attachment((o) => (o.status!.attachError = error('first attach error')));

const changed = (base: V1VolumeAttachment, mutate: (obj: V1VolumeAttachment) => void) => {
  const obj = structuredClone(base);
  nextVersion(obj);
  mutate(obj);
  return obj;
};

// Upstream TestShouldEnqueueVAChange, plus the edges of our comparison.
const cases: [string, V1VolumeAttachment, V1VolumeAttachment, boolean][] = [
  ['resync: same resourceVersion', bothErrors, bothErrors, true],
  ['spec changed', bothErrors, changed(bothErrors, (o) => (o.spec.attacher = 'two')), true],
  ['metadata changed', bothErrors, changed(bothErrors, (o) => (o.metadata!.annotations = { foo: 'bar' })), true],
  [
    'another attachError while errors are present',
    bothErrors,
    changed(bothErrors, (o) => (o.status!.attachError = error('second'))),
    false,
  ],
  [
    'another detachError while errors are present',
    bothErrors,
    changed(bothErrors, (o) => (o.status!.detachError = error('second'))),
    false,
  ],
  [
    'attachError added where there was none',
    noErrors,
    changed(noErrors, (o) => (o.status!.attachError = error('second'))),
    false,
  ],
  [
    'detachError added next to an attachError',
    attachErrorOnly,
    changed(attachErrorOnly, (o) => (o.status!.detachError = error('second'))),
    false,
  ],
  ['attachError removed', attachErrorOnly, changed(attachErrorOnly, (o) => delete o.status!.attachError), false],
  [
    'only managedFields appended, errors present',
    bothErrors,
    changed(bothErrors, (o) => (o.metadata!.managedFields = [{ manager: 'csi-attacher', operation: 'Update' }])),
    false,
  ],
  [
    'only managedFields appended, no errors anywhere',
    noErrors,
    changed(noErrors, (o) => (o.metadata!.managedFields = [{ manager: 'csi-attacher', operation: 'Update' }])),
    true,
  ],
  [
    'error changed together with attached',
    attachErrorOnly,
    changed(attachErrorOnly, (o) => {
      o.status!.attachError = error('second');
      o.status!.attached = true;
    }),
    true,
  ],
  [
    'error changed together with the deletionTimestamp',
    attachErrorOnly,
    changed(attachErrorOnly, (o) => {
      o.status!.attachError = error('second');
      o.metadata!.deletionTimestamp = new Date(1);
    }),
    true,
  ],
  [
    'a missing status equals attached=false',
    attachment((o) => {
      delete o.status;
    }),
    changed(noErrors, (o) => (o.status!.attachError = error('x'))),
    false,
  ],
];

describe('shouldEnqueueAttachmentChange (upstream TestShouldEnqueueVAChange)', () => {
  it.each(cases)('%s → %s', (_name, old, updated, expected) => {
    expect(shouldEnqueueAttachmentChange(old, updated)).toBe(expected);
  });
});

describe('VolumeAttachmentController', () => {
  function controller(attachments: V1VolumeAttachment[]) {
    const synced: V1VolumeAttachment[] = [];
    const queue = new WorkQueue<string>({ name: 'va' });
    const c = new VolumeAttachmentController({
      driverName: DRIVER,
      attachments: new MemoryCache(attachments),
      handler: { syncAttachment: async (obj) => void synced.push(obj) },
      queue,
      logger: discardLogger(),
    });
    return { c, queue, synced };
  }

  it('hands a VolumeAttachment of this driver to the handler', async () => {
    const { c, synced } = controller([va()]);
    await c.sync(VA_NAME);
    expect(synced).toEqual([va()]);
  });

  it('ignores a VolumeAttachment of another driver and one that is gone', async () => {
    const { c, synced } = controller([va({ attacher: 'other' })]);
    await c.sync(VA_NAME);
    await c.sync('gone');
    expect(synced).toEqual([]);
  });

  it('queues on add and on a relevant update, not on an error-only update', () => {
    const { c, queue } = controller([]);
    c.attachmentAdded(va());
    expect(queue.len()).toBe(1);
    const q2 = controller([]);
    const failed = va();
    failed.status!.attachError = error('first');
    q2.c.attachmentUpdated(
      failed,
      changed(failed, (o) => (o.status!.attachError = error('second'))),
    );
    expect(q2.queue.len()).toBe(0);
    q2.c.attachmentUpdated(
      failed,
      changed(failed, (o) => (o.status!.attached = true)),
    );
    expect(q2.queue.len()).toBe(1);
  });

  it('propagates the handler error, so the queue retries with backoff', async () => {
    const queue = new WorkQueue<string>({ name: 'va' });
    const c = new VolumeAttachmentController({
      driverName: DRIVER,
      attachments: new MemoryCache([va()]),
      handler: { syncAttachment: () => Promise.reject(new Error('failed to attach: boom')) },
      queue,
      logger: discardLogger(),
    });
    await expect(c.sync(VA_NAME)).rejects.toThrow('failed to attach: boom');
  });
});
