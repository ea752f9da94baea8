import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { DEFAULT_BURST, DEFAULT_QPS, TokenBucket } from './token-bucket.js';

/** Starts take() and records when (on the fake clock) it resolved and with what wait. */
function track(bucket: TokenBucket, clock: FakeClock, signal?: AbortSignal) {
  const state: { doneAt?: number; waited?: number; error?: unknown } = {};
  const start = clock.monotonic();
  bucket.take(signal).then(
    (waited) => {
      state.doneAt = clock.monotonic() - start;
      state.waited = waited;
    },
    (err: unknown) => {
      state.error = err;
    },
  );
  return state;
}

describe('TokenBucket', () => {
  it('lets a full burst through at once, then paces callers at qps', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 2, burst: 3, clock });
    const calls = Array.from({ length: 5 }, () => track(bucket, clock));
    await clock.advance(0);
    expect(calls.map((c) => c.waited)).toEqual([0, 0, 0, undefined, undefined]);

    await clock.advance(499);
    expect(calls[3].waited).toBeUndefined();
    await clock.advance(1);
    expect(calls[3]).toMatchObject({ doneAt: 500, waited: 500 });
    expect(calls[4].waited).toBeUndefined();
    await clock.advance(500);
    expect(calls[4]).toMatchObject({ doneAt: 1000, waited: 1000 });
  });

  it('serves waiting callers in arrival order', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 10, burst: 1, clock });
    const order: number[] = [];
    const all = Array.from({ length: 6 }, (_, i) => bucket.take().then(() => order.push(i)));
    await clock.advance(1000);
    await Promise.all(all);
    expect(order).toEqual([0, 1, 2, 3, 4, 5]);
  });

  it('refills while idle, but never beyond the burst', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 1, burst: 2, clock });
    await bucket.take();
    await bucket.take();
    await clock.advance(60_000);
    const calls = Array.from({ length: 3 }, () => track(bucket, clock));
    await clock.advance(0);
    expect(calls.map((c) => c.waited)).toEqual([0, 0, undefined]);
    await clock.advance(1000);
    expect(calls[2].waited).toBe(1000);
  });

  it('uses client-go defaults for qps 0 and burst 0', () => {
    const bucket = new TokenBucket({ qps: 0, burst: 0, clock: new FakeClock() });
    expect([bucket.qps, bucket.burst]).toEqual([DEFAULT_QPS, DEFAULT_BURST]);
    expect([DEFAULT_QPS, DEFAULT_BURST]).toEqual([5, 10]);
  });

  it('does not limit at all with a negative qps', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: -1, burst: 1, clock });
    const calls = Array.from({ length: 100 }, () => track(bucket, clock));
    await clock.advance(0);
    expect(calls.every((c) => c.waited === 0)).toBe(true);
  });

  it('rejects an aborted waiter with the abort reason and gives its token back', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 1, burst: 1, clock });
    await bucket.take();
    const controller = new AbortController();
    const aborted = track(bucket, clock, controller.signal);
    const reason = new Error('caller gave up');
    controller.abort(reason);
    await clock.advance(0);
    expect(aborted.error).toBe(reason);

    const next = track(bucket, clock);
    await clock.advance(1000);
    expect(next.waited).toBe(1000);
  });

  it('rejects at once when the signal is already aborted', async () => {
    const bucket = new TokenBucket({ qps: 1, burst: 1, clock: new FakeClock() });
    await expect(bucket.take(AbortSignal.abort(new Error('stop')))).rejects.toThrow('stop');
  });

  it('refuses a negative or fractional burst', () => {
    expect(() => new TokenBucket({ qps: 1, burst: -1 })).toThrow(/burst/);
    expect(() => new TokenBucket({ qps: 1, burst: 1.5 })).toThrow(/burst/);
  });
});

describe('TokenBucket lanes', () => {
  it('grants waiting lanes in turn, each in arrival order, so a busy lane cannot hold another back', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 10, burst: 1, clock });
    await bucket.take();
    const order: string[] = [];
    // Ten detaches queue up first, then two attaches arrive.
    const detaches = Array.from({ length: 10 }, (_, i) => bucket.take(undefined, 1).then(() => order.push(`d${i}`)));
    const attaches = [0, 1].map((i) => bucket.take(undefined, 0).then(() => order.push(`a${i}`)));
    await clock.advance(2_000);
    await Promise.all([...detaches, ...attaches]);
    expect(order.slice(0, 5)).toEqual(['a0', 'd0', 'a1', 'd1', 'd2']);
    expect(order).toHaveLength(12);
  });

  it('keeps the rate across lanes: one token per 1/qps whoever gets it', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 2, burst: 1, clock });
    await bucket.take();
    const calls = [0, 1, 0, 1].map((lane) => {
      const state: { doneAt?: number } = {};
      const start = clock.monotonic();
      void bucket.take(undefined, lane).then(() => (state.doneAt = clock.monotonic() - start));
      return state;
    });
    await clock.advance(2_000);
    expect(calls.map((c) => c.doneAt).sort((a, b) => (a ?? 0) - (b ?? 0))).toEqual([500, 1000, 1500, 2000]);
  });

  it('drops an aborted waiter from its lane without taking a token', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 1, burst: 1, clock });
    await bucket.take();
    const controller = new AbortController();
    const aborted = bucket.take(controller.signal, 1);
    controller.abort(new Error('gone'));
    await expect(aborted).rejects.toThrow('gone');
    let waited: number | undefined;
    void bucket.take(undefined, 0).then((w) => (waited = w));
    await clock.advance(1_000);
    expect(waited).toBe(1_000);
  });
});
