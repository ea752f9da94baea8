import type { V1VolumeAttachment } from '@kubernetes/client-node';
import { Registry } from 'prom-client';
import { describe, expect, it } from 'vitest';
import { Logger } from '../shared/log/logger.js';
import { FakeClock } from '../shared/testing/fake-clock.js';
import { AttachmentBacklog } from './attachment-backlog.js';

const DRIVER = 'csi.example.com';
const FINALIZER = 'external-attacher/csi-example-com';

function va(
  name: string,
  fields: Partial<{ attached: boolean; created: number; deleted: number; finalizer: boolean; attacher: string }>,
): V1VolumeAttachment {
  return {
    metadata: {
      name,
      creationTimestamp: new Date(fields.created ?? 0),
      ...(fields.deleted !== undefined ? { deletionTimestamp: new Date(fields.deleted) } : {}),
      ...(fields.finalizer ? { finalizers: [FINALIZER] } : {}),
    },
    spec: { attacher: fields.attacher ?? DRIVER, nodeName: 'n', source: { persistentVolumeName: name } },
    status: { attached: fields.attached ?? false },
  };
}

function setup(items: V1VolumeAttachment[]) {
  const clock = new FakeClock();
  const lines: string[] = [];
  const registry = new Registry();
  const backlog = new AttachmentBacklog({
    driverName: DRIVER,
    attachments: {
      get: (k) => items.find((i) => i.metadata?.name === k),
      list: () => items,
      keys: () => [],
      byIndex: () => [],
    },
    clock,
    logger: new Logger({ sink: (line) => lines.push(line) }),
    registry,
  });
  return { clock, lines, registry, backlog };
}

describe('AttachmentBacklog', () => {
  it('counts what waits to attach and to detach, and the oldest wait of each, for this driver only', async () => {
    const { clock, registry, backlog } = setup([]);
    const now = clock.now();
    const items = [
      va('new', { created: now - 30_000 }),
      va('older', { created: now - 90_000 }),
      va('done', { created: now - 500_000, attached: true }),
      va('leaving', { attached: true, deleted: now - 12_000, finalizer: true }),
      va('gone-soon', { deleted: now - 1_000 }),
      va('other', { created: now - 999_000, attacher: 'other.example.com' }),
    ];
    const second = setup(items);
    expect(second.backlog.current()).toEqual({
      attach: { count: 2, oldestSeconds: 90 },
      detach: { count: 1, oldestSeconds: 12 },
    });
    const text = await second.registry.metrics();
    expect(text).toContain('csi_attacher_volumeattachments_pending{operation="attach"} 2');
    expect(text).toContain('csi_attacher_volumeattachments_pending{operation="detach"} 1');
    expect(text).toContain('csi_attacher_volumeattachment_oldest_pending_seconds{operation="attach"} 90');
    expect(await registry.metrics()).toContain('csi_attacher_volumeattachments_pending{operation="attach"} 0');
    expect(backlog.current().attach).toEqual({ count: 0, oldestSeconds: 0 });
  });

  it('logs the backlog each interval while it is not empty', async () => {
    const items: V1VolumeAttachment[] = [];
    const { clock, lines, backlog } = setup(items);
    const abort = new AbortController();
    const running = backlog.run(60_000, abort.signal);
    await clock.advance(60_000);
    expect(lines).toEqual([]);
    items.push(va('waiting', { created: clock.now() }));
    await clock.advance(60_000);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(
      /"VolumeAttachments waiting" attach=1 oldestAttachSeconds=60 detach=0 oldestDetachSeconds=0/,
    );
    abort.abort();
    await running;
  });
});
