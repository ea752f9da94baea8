import { describe, expect, it } from 'vitest';
import type { CoreV1Event } from '@kubernetes/client-node';
import { FakeClock } from '../testing/fake-clock.js';
import { EventCorrelator, rfc3339 } from './correlator.js';

function event(message: string, overrides: Partial<CoreV1Event> = {}): CoreV1Event {
  return {
    metadata: { name: 'claim-1.1', namespace: 'apps' },
    involvedObject: { kind: 'PersistentVolumeClaim', namespace: 'apps', name: 'claim-1', uid: 'u', apiVersion: 'v1' },
    reason: 'Provisioning',
    message,
    type: 'Normal',
    count: 1,
    source: { component: 'csi-provisioner' },
    firstTimestamp: new Date('2024-01-01T00:00:00Z'),
    lastTimestamp: new Date('2024-01-01T00:00:00Z'),
    ...overrides,
  };
}

function correlator(): EventCorrelator {
  return new EventCorrelator({ clock: new FakeClock(), nanos: (ms) => BigInt(ms) * 1_000_000n });
}

describe('EventCorrelator', () => {
  it('continues from the count and resourceVersion the server returned', async () => {
    const c = correlator();
    expect((await c.correlate(event('m'))).patch).toBeUndefined();
    c.updateState({
      ...event('m'),
      metadata: { name: 'claim-1.1', namespace: 'apps', resourceVersion: '9' },
      count: 5,
    });

    const next = await c.correlate(event('m', { lastTimestamp: new Date('2024-01-01T00:01:00Z') }));
    expect(next.event.count).toBe(6);
    expect(next.event.metadata.resourceVersion).toBe('9');
    expect(next.patch).toEqual({ count: 6, lastTimestamp: '2024-01-01T00:01:00Z', message: 'm' });
  });

  it('treats events that differ only in fieldPath as different events of one spam budget', async () => {
    const c = correlator();
    const a = await c.correlate(event('m', { involvedObject: { ...event('m').involvedObject, fieldPath: 'spec.a' } }));
    const b = await c.correlate(event('m', { involvedObject: { ...event('m').involvedObject, fieldPath: 'spec.b' } }));
    expect(a.patch).toBeUndefined();
    expect(b.patch).toBeUndefined();
    for (let i = 0; i < 23; i++) expect((await c.correlate(event(`m${i % 5}`))).skip).toBe(false);
    expect((await c.correlate(event('m0'))).skip).toBe(true);
  });

  it('lets one more event through per 1/spamQps seconds once the burst is spent, without waiting', async () => {
    const clock = new FakeClock();
    const c = new EventCorrelator({ clock, nanos: (ms) => BigInt(ms) * 1_000_000n, spamBurst: 2, spamQps: 1 });
    const skips = async (): Promise<boolean> => (await c.correlate(event(`m${clock.now()}`))).skip;
    expect([await skips(), await skips(), await skips()]).toEqual([false, false, true]);
    await clock.advance(999);
    expect(await skips()).toBe(true);
    await clock.advance(1);
    expect([await skips(), await skips()]).toEqual([false, true]);
    // A refused event leaves no waiter behind.
    expect(clock.pending()).toBe(0);
  });

  it('formats metav1.Time without fractional seconds', () => {
    expect(rfc3339(new Date('2024-05-01T10:00:00.999Z'))).toBe('2024-05-01T10:00:00Z');
    expect(rfc3339('2024-05-01T10:00:00Z')).toBe('2024-05-01T10:00:00Z');
  });
});
