import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { Backoff } from './backoff.js';

describe('Backoff', () => {
  it('doubles from 800 ms up to the 30 s cap like the client-go reflector', () => {
    const backoff = new Backoff({ clock: new FakeClock(), random: () => 0 });
    const delays = Array.from({ length: 8 }, () => backoff.next());
    expect(delays).toEqual([800, 1600, 3200, 6400, 12_800, 25_600, 30_000, 30_000]);
  });

  it('stretches each delay by a random factor in [1, 2)', () => {
    const backoff = new Backoff({ clock: new FakeClock(), random: () => 0.5 });
    expect([backoff.next(), backoff.next()]).toEqual([1200, 2400]);
  });

  it('starts over after a quiet period longer than resetAfterMs', async () => {
    const clock = new FakeClock();
    const backoff = new Backoff({ clock, random: () => 0, initialMs: 10, maxMs: 1000, resetAfterMs: 5000 });
    expect([backoff.next(), backoff.next(), backoff.next()]).toEqual([10, 20, 40]);
    await clock.advance(5000);
    expect(backoff.next()).toBe(80);
    await clock.advance(5001);
    expect(backoff.next()).toBe(10);
  });
});
