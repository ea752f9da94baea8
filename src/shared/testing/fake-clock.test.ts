import { describe, expect, it } from 'vitest';
import { sleep } from '../clock/clock.js';
import { FakeClock } from './fake-clock.js';

describe('FakeClock', () => {
  it('fires due timers in deadline order and moves time', async () => {
    const clock = new FakeClock(0);
    const fired: string[] = [];
    clock.after(200, () => fired.push('b'));
    clock.after(100, () => fired.push('a'));
    clock.after(500, () => fired.push('c'));
    await clock.advance(250);
    expect(fired).toEqual(['a', 'b']);
    expect(clock.now()).toBe(250);
    expect(clock.pending()).toBe(1);
  });

  it('runs timers chained from other timers within one advance', async () => {
    const clock = new FakeClock(0);
    const times: number[] = [];
    const loop = async (): Promise<void> => {
      for (let i = 0; i < 3; i++) {
        await sleep(clock, 100);
        times.push(clock.now());
      }
    };
    const done = loop();
    await clock.advance(300);
    await done;
    expect(times).toEqual([100, 200, 300]);
  });

  it('does not fire cancelled timers', async () => {
    const clock = new FakeClock(0);
    let fired = false;
    clock.after(10, () => (fired = true)).cancel();
    await clock.advance(20);
    expect(fired).toBe(false);
  });
});

describe('sleep', () => {
  it('resolves early when the signal aborts and cancels its timer', async () => {
    const clock = new FakeClock(0);
    const ctl = new AbortController();
    const p = sleep(clock, 10_000, ctl.signal);
    ctl.abort();
    await p;
    expect(clock.pending()).toBe(0);
  });
});
