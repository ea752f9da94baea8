import { describe, expect, it } from 'vitest';
import type { KubernetesObject } from '@kubernetes/client-node';
import { Logger } from '../log/logger.js';
import { FakeClock } from '../testing/fake-clock.js';
import { EventBroadcaster } from './event-broadcaster.js';
import type { EventBroadcasterOptions } from './event-broadcaster.js';
import type { EventType } from './event-recorder.js';
import { eventApiError, FakeEventSink } from './fake-event-sink.js';

const START = 1_700_000_000_250;

const claim: KubernetesObject = {
  apiVersion: 'v1',
  kind: 'PersistentVolumeClaim',
  metadata: { name: 'claim-1', namespace: 'apps', uid: 'uid-1', resourceVersion: '42', labels: { a: 'b' } },
};

function setup(options: Partial<EventBroadcasterOptions> = {}, host?: string) {
  const clock = new FakeClock(START);
  const sink = new FakeEventSink();
  const lines: string[] = [];
  const broadcaster = new EventBroadcaster({
    sink,
    clock,
    logger: new Logger({ verbosity: 5, sink: (line) => void lines.push(line) }),
    random: () => 0.5,
    // Most tests look at correlation, not at the writer's own budget.
    qps: 1_000,
    burst: 1_000,
    ...options,
  });
  const recorder = broadcaster.newRecorder({ component: 'csi-provisioner', host });
  return { clock, sink, lines, broadcaster, recorder };
}

function hexNanos(ms: number): string {
  return (BigInt(ms) * 1_000_000n).toString(16);
}

describe('EventRecorder', () => {
  it('posts a first event with count 1 and the fields kubectl describe shows', async () => {
    const { sink, broadcaster, recorder } = setup();
    recorder.event(
      claim,
      'Normal',
      'Provisioning',
      'External provisioner is provisioning volume for claim "apps/claim-1"',
    );
    await broadcaster.flush();

    const name = `claim-1.${hexNanos(START)}`;
    expect(sink.calls.map((c) => `${c.verb} ${c.namespace}/${c.name}`)).toEqual([`create apps/${name}`]);
    expect(JSON.parse(sink.calls[0].body)).toEqual({
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name, namespace: 'apps' },
      involvedObject: {
        kind: 'PersistentVolumeClaim',
        namespace: 'apps',
        name: 'claim-1',
        uid: 'uid-1',
        apiVersion: 'v1',
        resourceVersion: '42',
      },
      reason: 'Provisioning',
      message: 'External provisioner is provisioning volume for claim "apps/claim-1"',
      // metav1.Time has whole seconds: 22:13:20.250 is stored as 22:13:20.
      firstTimestamp: '2023-11-14T22:13:20.000Z',
      lastTimestamp: '2023-11-14T22:13:20.000Z',
      count: 1,
      type: 'Normal',
      source: { component: 'csi-provisioner' },
      reportingComponent: 'csi-provisioner',
      reportingInstance: '',
    });
  });

  it('sets source.host and reportingInstance from the host', async () => {
    const { sink, broadcaster, recorder } = setup({}, 'node-1');
    recorder.event(claim, 'Warning', 'ProvisioningFailed', 'boom');
    await broadcaster.flush();

    expect(sink.list()[0]).toMatchObject({
      source: { component: 'csi-provisioner', host: 'node-1' },
      reportingComponent: 'csi-provisioner',
      reportingInstance: 'node-1',
      type: 'Warning',
    });
  });

  it('puts events about cluster-scoped objects into "default"', async () => {
    const { sink, broadcaster, recorder } = setup();
    const pv = { apiVersion: 'v1', kind: 'PersistentVolume', metadata: { name: 'pvc-123', uid: 'u' } };
    recorder.event(pv, 'Normal', 'Deleted', 'gone');
    await broadcaster.flush();

    const event = sink.list()[0];
    expect(event.metadata.namespace).toBe('default');
    expect(event.involvedObject).toEqual({ kind: 'PersistentVolume', name: 'pvc-123', uid: 'u', apiVersion: 'v1' });
  });

  it('accepts an object reference and formats eventf messages', async () => {
    const { sink, broadcaster, recorder } = setup();
    const ref = { apiVersion: 'storage.k8s.io/v1', kind: 'VolumeAttachment', name: 'csi-abc', uid: 'u2' };
    recorder.eventf(ref, 'Warning', 'AttachFailed', 'attach %s to %s failed: %d retries', 'vol-1', 'node-1', 3);
    await broadcaster.flush();

    expect(sink.list()[0]).toMatchObject({
      involvedObject: ref,
      message: 'attach vol-1 to node-1 failed: 3 retries',
    });
  });

  it('drops, without throwing, events about objects with unknown kind and events of unknown type', async () => {
    const { sink, lines, broadcaster, recorder } = setup();
    expect(() => recorder.event({ metadata: { name: 'x' } }, 'Normal', 'R', 'm')).not.toThrow();
    expect(() => recorder.event(claim, 'Info' as EventType, 'R', 'm')).not.toThrow();
    await broadcaster.flush();

    expect(sink.calls).toEqual([]);
    expect(lines.some((l) => l.includes('Could not construct reference'))).toBe(true);
    expect(lines.some((l) => l.includes('Unsupported event type'))).toBe(true);
  });

  it('gives two events in the same millisecond different names', async () => {
    const { sink, broadcaster, recorder } = setup();
    recorder.event(claim, 'Normal', 'A', 'one');
    recorder.event(claim, 'Normal', 'B', 'two');
    await broadcaster.flush();

    expect(sink.calls.map((c) => c.name)).toEqual([
      `claim-1.${hexNanos(START)}`,
      `claim-1.${(BigInt(START) * 1_000_000n + 1n).toString(16)}`,
    ]);
  });
});

describe('EventBroadcaster correlation', () => {
  it('patches count and lastTimestamp of an identical repeat with a strategic merge patch body', async () => {
    const { clock, sink, broadcaster, recorder } = setup();
    recorder.event(claim, 'Normal', 'Provisioning', 'provisioning');
    await broadcaster.flush();
    await clock.advance(3_000);
    recorder.event(claim, 'Normal', 'Provisioning', 'provisioning');
    await broadcaster.flush();

    const name = `claim-1.${hexNanos(START)}`;
    expect(sink.calls.map((c) => `${c.verb} ${c.name}`)).toEqual([`create ${name}`, `patch ${name}`]);
    expect(sink.calls[1].body).toBe('{"count":2,"lastTimestamp":"2023-11-14T22:13:23Z","message":"provisioning"}');
    expect(sink.list()).toHaveLength(1);
    expect(sink.get('apps', name)).toMatchObject({
      count: 2,
      firstTimestamp: '2023-11-14T22:13:20.000Z',
      lastTimestamp: '2023-11-14T22:13:23Z',
    });
  });

  it('creates the event anew, keeping name and count, when the patched Event is gone (404)', async () => {
    const { sink, broadcaster, recorder } = setup();
    recorder.event(claim, 'Normal', 'Provisioning', 'provisioning');
    recorder.event(claim, 'Normal', 'Provisioning', 'provisioning');
    await broadcaster.flush();
    const name = sink.list()[0].metadata.name ?? '';
    sink.delete('apps', name);
    recorder.event(claim, 'Normal', 'Provisioning', 'provisioning');
    await broadcaster.flush();

    expect(sink.calls.map((c) => c.verb)).toEqual(['create', 'patch', 'patch', 'create']);
    const recreated = JSON.parse(sink.calls[3].body) as { metadata: Record<string, unknown>; count: number };
    expect(recreated.metadata.name).toBe(name);
    expect(recreated.metadata.resourceVersion).toBeUndefined();
    expect(recreated.count).toBe(3);
  });

  it('combines similar events (same reason, different messages) from the 10th within 10 minutes', async () => {
    const { clock, sink, broadcaster, recorder } = setup();
    for (let i = 1; i <= 11; i++) {
      recorder.event(claim, 'Warning', 'ProvisioningFailed', `attempt ${i} failed`);
      await clock.advance(30_000);
    }
    await broadcaster.flush();

    const messages = sink.list().map((e) => `${e.message} x${e.count}`);
    expect(messages).toEqual([
      ...Array.from({ length: 9 }, (_, i) => `attempt ${i + 1} failed x1`),
      '(combined from similar events): attempt 11 failed x2',
    ]);
    expect(sink.calls.slice(-2).map((c) => c.verb)).toEqual(['create', 'patch']);
    const combined = sink.list()[9];
    expect(combined.reportingComponent).toBeUndefined();
    expect(combined.source).toEqual({ component: 'csi-provisioner' });
  });

  it('starts over once no similar event came for 10 minutes', async () => {
    const { clock, sink, broadcaster, recorder } = setup();
    for (let i = 1; i <= 9; i++) recorder.event(claim, 'Warning', 'ProvisioningFailed', `attempt ${i} failed`);
    await broadcaster.flush();
    await clock.advance(600_001);
    recorder.event(claim, 'Warning', 'ProvisioningFailed', 'attempt 10 failed');
    await broadcaster.flush();

    expect(sink.list().at(-1)?.message).toBe('attempt 10 failed');
  });

  it('lets 25 events about one object through in a burst, then one per 5 minutes', async () => {
    const { clock, sink, broadcaster, recorder } = setup();
    for (let i = 1; i <= 30; i++) recorder.event(claim, 'Normal', `Reason${i}`, 'm');
    await broadcaster.flush();
    expect(sink.calls).toHaveLength(25);

    const other = { ...claim, metadata: { ...claim.metadata, name: 'claim-2', uid: 'uid-2' } };
    recorder.event(other, 'Normal', 'Reason1', 'm');
    await broadcaster.flush();
    expect(sink.calls).toHaveLength(26);

    await clock.advance(299_000);
    recorder.event(claim, 'Normal', 'Late1', 'm');
    await broadcaster.flush();
    expect(sink.calls).toHaveLength(26);
    await clock.advance(1_000);
    recorder.event(claim, 'Normal', 'Late2', 'm');
    recorder.event(claim, 'Normal', 'Late3', 'm');
    await broadcaster.flush();
    expect(sink.calls.slice(26).map((c) => JSON.parse(c.body).reason as string)).toEqual(['Late2']);
  });

  it('keeps counting repeats the spam filter drops, as client-go does', async () => {
    const { clock, sink, broadcaster, recorder } = setup();
    for (let i = 0; i < 30; i++) recorder.event(claim, 'Normal', 'Provisioning', 'same');
    await broadcaster.flush();
    expect(sink.calls).toHaveLength(25);
    await clock.advance(300_000);
    recorder.event(claim, 'Normal', 'Provisioning', 'same');
    await broadcaster.flush();

    expect(sink.calls).toHaveLength(26);
    expect(JSON.parse(sink.calls[25].body)).toMatchObject({ count: 31 });
  });
});

describe('EventBroadcaster writing', () => {
  it('returns at once and drops events, with a log line, once its queue is full', async () => {
    const { sink, lines, broadcaster, recorder } = setup({ queueSize: 5 });
    const gate = Promise.withResolvers<void>();
    sink.intercept(() => gate.promise);
    for (let i = 1; i <= 9; i++) recorder.event(claim, 'Normal', `Reason${i}`, 'm');

    // Five queued, four dropped; nothing was written during the caller's synchronous code.
    expect(sink.calls).toEqual([]);
    expect(lines.filter((l) => l.includes('too many queued events')).length).toBe(4);
    gate.resolve();
    await broadcaster.flush();
    expect(sink.calls.map((c) => JSON.parse(c.body).reason as string)).toEqual([
      'Reason1',
      'Reason2',
      'Reason3',
      'Reason4',
      'Reason5',
    ]);
  });

  it('never throws when the sink fails, and gives up after 12 tries spaced ~10 s apart', async () => {
    const { clock, sink, lines, broadcaster, recorder } = setup();
    const times: number[] = [];
    sink.intercept(() => {
      times.push(clock.now() - START);
      throw new Error('connect ECONNREFUSED');
    });
    expect(() => recorder.event(claim, 'Normal', 'Provisioning', 'm')).not.toThrow();
    await clock.advance(300_000);
    await broadcaster.flush();

    // First pause randomised (10 s × 0.5), then 10 s each.
    expect(times).toEqual([0, 5_000, 15_000, 25_000, 35_000, 45_000, 55_000, 65_000, 75_000, 85_000, 95_000, 105_000]);
    expect(lines.some((l) => l.includes('retry limit exceeded'))).toBe(true);
  });

  it('retries a 500 and succeeds later, but does not retry a 403', async () => {
    const { clock, sink, broadcaster, recorder } = setup();
    let failures = 0;
    sink.intercept((call) => {
      if (call.body.includes('Forbidden')) {
        throw eventApiError('POST event', { code: 403, reason: 'Forbidden', message: 'events is forbidden' });
      }
      if (failures++ < 2) {
        throw eventApiError('POST event', {
          code: 500,
          reason: 'InternalError',
          message: 'etcdserver: request timed out',
        });
      }
    });
    recorder.event(claim, 'Normal', 'Provisioning', 'm');
    await clock.advance(20_000);
    await broadcaster.flush();
    expect(sink.list()).toHaveLength(1);
    expect(sink.calls).toHaveLength(3);

    recorder.event(claim, 'Warning', 'Forbidden', 'm');
    await clock.advance(60_000);
    expect(sink.calls.filter((c) => c.body.includes('Forbidden'))).toHaveLength(1);
  });

  it('drops an event the namespace is terminating for with a V(5) line, not an error', async () => {
    const { clock, sink, lines, broadcaster, recorder } = setup();
    sink.intercept(() => {
      throw eventApiError('POST event', {
        code: 403,
        reason: 'Forbidden',
        message: 'unable to create new content in namespace apps because it is being terminated',
        causes: ['NamespaceTerminating'],
      });
    });
    recorder.event(claim, 'Normal', 'Provisioning', 'm');
    await clock.advance(60_000);
    await broadcaster.flush();

    expect(sink.calls).toHaveLength(1);
    const line = lines.find((l) => l.includes('Server rejected event'));
    expect(line?.startsWith('I')).toBe(true);
  });

  it('spends its own budget: burst 10, then 5 writes per second by default', async () => {
    const { clock, sink, broadcaster, recorder } = setup({ qps: undefined, burst: undefined });
    for (let i = 1; i <= 14; i++) recorder.event(claim, 'Normal', `Reason${i}`, 'm');
    await clock.advance(0);
    expect(sink.calls).toHaveLength(10);
    await clock.advance(200);
    expect(sink.calls).toHaveLength(11);
    await clock.advance(600);
    expect(sink.calls).toHaveLength(14);
    await broadcaster.flush();
  });

  it('drops queued events on shutdown and ignores later ones', async () => {
    const { clock, sink, broadcaster, recorder } = setup();
    const gate = Promise.withResolvers<void>();
    sink.intercept(() => gate.promise);
    recorder.event(claim, 'Normal', 'Reason1', 'm');
    await clock.advance(0);
    recorder.event(claim, 'Normal', 'Reason2', 'm');
    broadcaster.shutdown();
    recorder.event(claim, 'Normal', 'Reason3', 'm');
    gate.resolve();
    await broadcaster.flush();

    expect(sink.calls.map((c) => JSON.parse(c.body).reason as string)).toEqual(['Reason1']);
  });

  it('writes nothing more once shut down, even an event already waiting for its token', async () => {
    const { clock, sink, lines, broadcaster, recorder } = setup({ qps: 1, burst: 1 });
    recorder.event(claim, 'Normal', 'Reason1', 'm');
    recorder.event(claim, 'Normal', 'Reason2', 'm');
    await clock.advance(500);
    // Reason2 has left the queue and waits for the token due at 1 s.
    expect(sink.calls.map((c) => JSON.parse(c.body).reason as string)).toEqual(['Reason1']);
    broadcaster.shutdown();
    await clock.advance(5_000);
    await broadcaster.flush();

    expect(sink.calls).toHaveLength(1);
    expect(lines.some((l) => l.includes('broadcaster is shut down') && l.includes('Reason2'))).toBe(true);
  });

  it('does not recreate an expired repeat once shut down during its patch', async () => {
    const { sink, broadcaster, recorder } = setup();
    recorder.event(claim, 'Normal', 'Provisioning', 'm');
    await broadcaster.flush();
    sink.delete('apps', sink.list()[0].metadata.name ?? '');
    const patching = Promise.withResolvers<void>();
    const gate = Promise.withResolvers<void>();
    sink.intercept(() => {
      patching.resolve();
      return gate.promise;
    });
    recorder.event(claim, 'Normal', 'Provisioning', 'm');
    await patching.promise;
    broadcaster.shutdown();
    gate.resolve();
    await broadcaster.flush();

    expect(sink.calls.map((c) => c.verb)).toEqual(['create', 'patch']);
  });

  it('logs each event when asked to, like StartStructuredLogging', async () => {
    const { lines, broadcaster, recorder } = setup({ logVerbosity: 2 });
    recorder.event(claim, 'Normal', 'Provisioning', 'provisioning volume');
    await broadcaster.flush();

    const line = lines.find((l) => l.includes('"Event occurred"'));
    expect(line).toContain('object="apps/claim-1"');
    expect(line).toContain('reason="Provisioning"');
    expect(line).toContain('message="provisioning volume"');
  });
});
