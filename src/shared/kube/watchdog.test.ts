import { describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { Watchdog } from './watchdog.js';

describe('Watchdog', () => {
  function watchdog() {
    const clock = new FakeClock(0);
    const expired: string[] = [];
    const dog = new Watchdog({ clock, onExpire: (reason) => expired.push(reason.message) });
    return { clock, dog, expired };
  }

  it('expires once when the limit passes without activity, naming what was missing', async () => {
    const { clock, dog, expired } = watchdog();
    dog.arm(1000, 'watch received no data');
    await clock.advance(999);
    expect(expired).toEqual([]);
    await clock.advance(1);
    expect(expired).toEqual(['watch received no data for 1000 ms']);
    await clock.advance(5000);
    expect(expired).toHaveLength(1);
  });

  it('counts the limit from the last touch, with one timer pending at a time', async () => {
    const { clock, dog, expired } = watchdog();
    dog.arm(1000, 'no data');
    await clock.advance(600);
    dog.touch();
    dog.touch();
    expect(clock.pending()).toBe(1);
    await clock.advance(999);
    expect(expired).toEqual([]);
    await clock.advance(1);
    expect(expired).toEqual(['no data for 1000 ms']);
  });

  it('takes a new limit from now when armed again, and stays quiet once cancelled', async () => {
    const { clock, dog, expired } = watchdog();
    dog.arm(1000, 'no response');
    await clock.advance(900);
    dog.arm(200, 'no data');
    await clock.advance(199);
    expect(expired).toEqual([]);
    await clock.advance(1);
    expect(expired).toEqual(['no data for 200 ms']);

    dog.arm(100, 'no data');
    dog.cancel();
    await clock.advance(1000);
    expect(expired).toHaveLength(1);
    expect(clock.pending()).toBe(0);
  });
});
