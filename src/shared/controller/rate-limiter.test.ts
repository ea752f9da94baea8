import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import {
  BucketRateLimiter,
  ItemExponentialRateLimiter,
  MaxOfRateLimiter,
  defaultControllerRateLimiter,
} from './rate-limiter.js';

describe('ItemExponentialRateLimiter', () => {
  it('doubles the delay per failure of a key and caps it at the maximum', () => {
    const limiter = new ItemExponentialRateLimiter({ baseDelayMs: 1000, maxDelayMs: 300_000 });
    const delays = Array.from({ length: 11 }, () => limiter.when('pvc-1'));
    expect(delays).toEqual([1000, 2000, 4000, 8000, 16_000, 32_000, 64_000, 128_000, 256_000, 300_000, 300_000]);
    expect(limiter.numRequeues('pvc-1')).toBe(11);
  });

  it('counts failures per key', () => {
    const limiter = new ItemExponentialRateLimiter({ baseDelayMs: 10, maxDelayMs: 1000 });
    limiter.when('a');
    limiter.when('a');
    expect(limiter.when('b')).toBe(10);
    expect(limiter.numRequeues('a')).toBe(2);
    expect(limiter.numRequeues('b')).toBe(1);
  });

  it('starts from the base delay again after forget', () => {
    const limiter = new ItemExponentialRateLimiter({ baseDelayMs: 10, maxDelayMs: 1000 });
    limiter.when('a');
    limiter.when('a');
    limiter.forget('a');
    expect(limiter.numRequeues('a')).toBe(0);
    expect(limiter.when('a')).toBe(10);
  });

  it('stays at the maximum after very many failures', () => {
    const limiter = new ItemExponentialRateLimiter({ baseDelayMs: 5, maxDelayMs: 1_000_000 });
    let last = 0;
    for (let i = 0; i < 2000; i++) last = limiter.when('a');
    expect(last).toBe(1_000_000);
  });
});

describe('BucketRateLimiter', () => {
  it('lets a burst through, then spaces calls by 1/qps', () => {
    const clock = new FakeClock();
    const limiter = new BucketRateLimiter({ qps: 10, burst: 3, clock });
    const delays = Array.from({ length: 6 }, (_, i) => limiter.when(`k${i}`));
    expect(delays.map(Math.round)).toEqual([0, 0, 0, 100, 200, 300]);
  });

  it('refills at qps up to the burst size', async () => {
    const clock = new FakeClock();
    const limiter = new BucketRateLimiter({ qps: 10, burst: 3, clock });
    for (let i = 0; i < 5; i++) limiter.when('k');
    await clock.advance(10_000);
    const delays = Array.from({ length: 4 }, () => limiter.when('k'));
    expect(delays.map(Math.round)).toEqual([0, 0, 0, 100]);
  });

  it('neither counts nor forgets keys', () => {
    const limiter = new BucketRateLimiter({ qps: 1, burst: 1, clock: new FakeClock() });
    limiter.when('a');
    limiter.when('a');
    limiter.forget('a');
    expect(limiter.numRequeues('a')).toBe(0);
  });
});

describe('MaxOfRateLimiter', () => {
  it('returns the longest delay of its limiters and tells all of them about each failure', () => {
    const clock = new FakeClock();
    const perItem = new ItemExponentialRateLimiter({ baseDelayMs: 5, maxDelayMs: 1000 });
    const bucket = new BucketRateLimiter({ qps: 1, burst: 1, clock });
    const limiter = new MaxOfRateLimiter({ limiters: [perItem, bucket] });
    expect(limiter.when('a')).toBe(5);
    expect(limiter.when('a')).toBe(1000);
    expect(perItem.numRequeues('a')).toBe(2);
  });

  it('reports the highest requeue count and forgets in every limiter', () => {
    const first = new ItemExponentialRateLimiter({ baseDelayMs: 1, maxDelayMs: 10 });
    const second = new ItemExponentialRateLimiter({ baseDelayMs: 1, maxDelayMs: 10 });
    const limiter = new MaxOfRateLimiter({ limiters: [first, second] });
    limiter.when('a');
    second.when('a');
    expect(limiter.numRequeues('a')).toBe(2);
    limiter.forget('a');
    expect(first.numRequeues('a')).toBe(0);
    expect(second.numRequeues('a')).toBe(0);
  });
});

describe('defaultControllerRateLimiter', () => {
  it('backs off per key from 5 ms and throttles all keys to 10 qps after a burst of 100', () => {
    const limiter = defaultControllerRateLimiter(new FakeClock());
    const firstHundred = Array.from({ length: 100 }, (_, i) => limiter.when(`key-${i}`));
    expect(new Set(firstHundred)).toEqual(new Set([5]));
    expect(Math.round(limiter.when('key-100'))).toBe(100);
    expect(Math.round(limiter.when('key-101'))).toBe(200);
  });

  it('caps the per-key backoff at 1000 s', async () => {
    const clock = new FakeClock();
    const limiter = defaultControllerRateLimiter(clock);
    let last = 0;
    for (let i = 0; i < 30; i++) {
      last = limiter.when('a');
      // Let the bucket refill so only the per-key backoff matters.
      await clock.advance(60_000);
    }
    expect(last).toBe(1_000_000);
  });
});
