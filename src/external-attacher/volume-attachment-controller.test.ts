import type { V1VolumeAttachment } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { WorkQueue } from '../shared/controller/work-queue.js';
import { discardLogger } from '../shared/log/logger.js';
import { MemoryCache } from '../shared/testing/memory-cache.js';
import { RecordingRecorder } from '../shared/testing/recording-recorder.js';
import { DRIVER, VA_NAME, va } from './testing/attacher-fixture.js';
import type { AttachHandler } from './csi-attach-handler.js';
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
  const context = { signal: new AbortController().signal };

  function controller(attachments: V1VolumeAttachment[], handler?: AttachHandler) {
    const synced: V1VolumeAttachment[] = [];
    const attachQueue = new WorkQueue<string>({ name: 'attach' });
    const detachQueue = new WorkQueue<string>({ name: 'detach' });
    const recorder = new RecordingRecorder();
    const cache = new MemoryCache(attachments);
    const c = new VolumeAttachmentController({
      driverName: DRIVER,
      attachments: cache,
      handler: handler ?? { syncAttachment: async (obj) => void synced.push(obj) },
      attachQueue,
      detachQueue,
      recorder,
      logger: discardLogger(),
    });
    return { c, cache, attachQueue, detachQueue, synced, recorder };
  }

  const deleting = (): V1VolumeAttachment => {
    const obj = va();
    obj.metadata!.deletionTimestamp = new Date(0);
    return obj;
  };

  it('hands a VolumeAttachment of this driver to the handler', async () => {
    const { c, synced } = controller([va()]);
    await c.attaching.sync(VA_NAME, context);
    expect(synced).toEqual([va()]);
  });

  it('ignores a VolumeAttachment of another driver and one that is gone', async () => {
    const { c, synced } = controller([va({ attacher: 'other' })]);
    await c.attaching.sync(VA_NAME, context);
    await c.attaching.sync('gone', context);
    expect(synced).toEqual([]);
  });

  it('queues attaches and detaches apart, so detaches never hold an attach back (upstream #761)', () => {
    const { c, attachQueue, detachQueue } = controller([]);
    c.attachmentAdded(va());
    const leaving = deleting();
    leaving.metadata!.name = 'leaving';
    c.attachmentAdded(leaving);
    expect([attachQueue.len(), detachQueue.len()]).toEqual([1, 1]);
  });

  it('moves a VolumeAttachment deleted while it waited to be attached to the detach queue', async () => {
    const { c, cache, detachQueue, synced } = controller([va()]);
    c.attachmentAdded(va());
    cache.set(deleting());
    await c.attaching.sync(VA_NAME, context);
    expect(synced).toEqual([]);
    expect(detachQueue.len()).toBe(1);
    await c.detaching.sync(VA_NAME, context);
    expect(synced).toEqual([deleting()]);
  });

  it('syncs one VolumeAttachment on one worker at a time across both queues, and runs the waiting one after', async () => {
    let release: () => void = () => {};
    const calls: string[] = [];
    const handler: AttachHandler = {
      syncAttachment: async (obj) => {
        calls.push(obj.metadata?.deletionTimestamp ? 'detach' : 'attach');
        if (calls.length === 1) await new Promise<void>((resolve) => (release = resolve));
      },
    };
    const { c, cache, detachQueue } = controller([va()], handler);
    const attaching = c.attaching.sync(VA_NAME, context);
    cache.set(deleting());
    await c.detaching.sync(VA_NAME, context);
    expect(calls).toEqual(['attach']);
    expect(detachQueue.len()).toBe(0);
    release();
    await attaching;
    expect(detachQueue.len()).toBe(1);
    await c.detaching.sync(VA_NAME, context);
    expect(calls).toEqual(['attach', 'detach']);
  });

  it('queues on add and on a relevant update, not on an error-only update', () => {
    const { c, attachQueue } = controller([]);
    c.attachmentAdded(va());
    expect(attachQueue.len()).toBe(1);
    const q2 = controller([]);
    const failed = va();
    failed.status!.attachError = error('first');
    q2.c.attachmentUpdated(
      failed,
      changed(failed, (o) => (o.status!.attachError = error('second'))),
    );
    expect(q2.attachQueue.len()).toBe(0);
    q2.c.attachmentUpdated(
      failed,
      changed(failed, (o) => (o.status!.attached = true)),
    );
    expect(q2.attachQueue.len()).toBe(1);
  });

  it('propagates the handler error, so the queue retries with backoff, and records it as an event when asked', async () => {
    const { c, recorder } = controller(
      [va(), { ...deleting(), metadata: { ...deleting().metadata, name: 'leaving' } }],
      {
        syncAttachment: (obj) =>
          Promise.reject(new Error(`failed to ${obj.metadata?.deletionTimestamp ? 'detach' : 'attach'}: boom`)),
      },
    );
    await expect(c.attaching.sync(VA_NAME, context)).rejects.toThrow('failed to attach: boom');
    await expect(c.detaching.sync('leaving', context)).rejects.toThrow('failed to detach: boom');
    expect(recorder.events.map((e) => [e.type, e.reason, e.message, e.object.kind, e.object.name])).toEqual([
      ['Warning', 'FailedAttach', 'failed to attach: boom', 'VolumeAttachment', VA_NAME],
      ['Warning', 'FailedDetach', 'failed to detach: boom', 'VolumeAttachment', 'leaving'],
    ]);
  });

  it('records no event without a recorder (upstream writes none)', async () => {
    const c = new VolumeAttachmentController({
      driverName: DRIVER,
      attachments: new MemoryCache([va()]),
      handler: { syncAttachment: () => Promise.reject(new Error('failed to attach: boom')) },
      attachQueue: new WorkQueue<string>({ name: 'attach' }),
      detachQueue: new WorkQueue<string>({ name: 'detach' }),
      logger: discardLogger(),
    });
    await expect(c.attaching.sync(VA_NAME, context)).rejects.toThrow('failed to attach: boom');
  });
});
