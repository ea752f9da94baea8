import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { TokenBucket } from './token-bucket.js';

describe('TokenBucket', () => {
  it('starts full, then refills at qps', async () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 2, burst: 3, clock });
    expect([bucket.tryAccept(), bucket.tryAccept(), bucket.tryAccept(), bucket.tryAccept()]).toEqual([
      true,
      true,
      true,
      false,
    ]);
    await clock.advance(499);
    expect(bucket.tryAccept()).toBe(false);
    await clock.advance(1);
    expect(bucket.tryAccept()).toBe(true);
  });

  it('reserves future tokens and says how long to wait', () => {
    const clock = new FakeClock();
    const bucket = new TokenBucket({ qps: 5, burst: 1, clock });
    expect(bucket.reserve()).toBe(0);
    expect(bucket.reserve()).toBeCloseTo(200);
    expect(bucket.reserve()).toBeCloseTo(400);
  });
});
