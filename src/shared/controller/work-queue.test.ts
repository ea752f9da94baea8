import { describe, expect, it } from 'vitest';
import { FakeClock, flushMicrotasks } from '../testing/fake-clock.js';
import { ItemExponentialRateLimiter } from './rate-limiter.js';
import { WorkQueue } from './work-queue.js';
import type { GetResult } from './work-queue.js';

function newQueue(clock = new FakeClock()): { queue: WorkQueue; clock: FakeClock } {
  const rateLimiter = new ItemExponentialRateLimiter({ baseDelayMs: 1000, maxDelayMs: 8000 });
  return { queue: new WorkQueue({ name: 'test', clock, rateLimiter }), clock };
}

async function takeKey(queue: WorkQueue): Promise<string> {
  const next = await queue.get();
  if (next.shutdown) throw new Error('queue unexpectedly shut down');
  return next.key;
}

/** Starts a get() and records when it resolves, so tests can see whether it is still blocked. */
function pendingGet(queue: WorkQueue): { result: () => GetResult<string> | undefined } {
  let result: GetResult<string> | undefined;
  void queue.get().then((r) => (result = r));
  return { result: () => result };
}

describe('WorkQueue', () => {
  it('collapses duplicate adds of a waiting key', async () => {
    const { queue } = newQueue();
    queue.add('a');
    queue.add('a');
    queue.add('a');
    expect(queue.len()).toBe(1);
    expect(await takeKey(queue)).toBe('a');
    expect(queue.len()).toBe(0);
  });

  it('hands out keys in the order they were added', async () => {
    const { queue } = newQueue();
    for (const key of ['c', 'a', 'b']) queue.add(key);
    queue.add('c');
    expect([await takeKey(queue), await takeKey(queue), await takeKey(queue)]).toEqual(['c', 'a', 'b']);
  });

  it('makes get() wait until a key is added', async () => {
    const { queue } = newQueue();
    const waiting = pendingGet(queue);
    await flushMicrotasks();
    expect(waiting.result()).toBeUndefined();
    queue.add('a');
    await flushMicrotasks();
    expect(waiting.result()).toEqual({ key: 'a', shutdown: false });
  });

  it('does not hand a key to a second caller while it is being processed', async () => {
    const { queue } = newQueue();
    queue.add('a');
    expect(await takeKey(queue)).toBe('a');
    queue.add('a');
    const second = pendingGet(queue);
    await flushMicrotasks();
    expect(second.result()).toBeUndefined();
    expect(queue.len()).toBe(0);
    queue.done('a');
    await flushMicrotasks();
    expect(second.result()).toEqual({ key: 'a', shutdown: false });
  });

  it('processes a key re-added during processing exactly once more afterwards', async () => {
    const { queue } = newQueue();
    queue.add('a');
    await takeKey(queue);
    queue.add('a');
    queue.add('a');
    queue.done('a');
    expect(queue.len()).toBe(1);
    expect(await takeKey(queue)).toBe('a');
    queue.done('a');
    expect(queue.len()).toBe(0);
  });

  it('does not requeue a key that was not re-added while processing', async () => {
    const { queue } = newQueue();
    queue.add('a');
    await takeKey(queue);
    queue.done('a');
    expect(queue.len()).toBe(0);
  });

  it('ignores done() for a key that is not being processed', () => {
    const { queue } = newQueue();
    queue.add('a');
    queue.done('a');
    queue.done('b');
    expect(queue.len()).toBe(1);
  });

  describe('addAfter', () => {
    it('adds the key once the delay has passed, exactly once', async () => {
      const { queue, clock } = newQueue();
      queue.addAfter('a', 1000);
      await clock.advance(999);
      expect(queue.len()).toBe(0);
      await clock.advance(1);
      expect(queue.len()).toBe(1);
      await takeKey(queue);
      queue.done('a');
      await clock.advance(60_000);
      expect(queue.len()).toBe(0);
      expect(clock.pending()).toBe(0);
    });

    it('keeps the earlier deadline when a later one is requested', async () => {
      const { queue, clock } = newQueue();
      queue.addAfter('a', 1000);
      queue.addAfter('a', 5000);
      await clock.advance(1000);
      expect(queue.len()).toBe(1);
      expect(clock.pending()).toBe(0);
    });

    it('moves the deadline forward when an earlier one is requested', async () => {
      const { queue, clock } = newQueue();
      queue.addAfter('a', 5000);
      queue.addAfter('a', 1000);
      await clock.advance(1000);
      expect(queue.len()).toBe(1);
      await takeKey(queue);
      queue.done('a');
      await clock.advance(10_000);
      expect(queue.len()).toBe(0);
    });

    it('adds at once when the delay is zero or negative', () => {
      const { queue, clock } = newQueue();
      queue.addAfter('a', 0);
      queue.addAfter('b', -5);
      expect(queue.len()).toBe(2);
      expect(clock.pending()).toBe(0);
    });

    it('tracks delays per key', async () => {
      const { queue, clock } = newQueue();
      queue.addAfter('a', 2000);
      queue.addAfter('b', 1000);
      await clock.advance(1000);
      expect(await takeKey(queue)).toBe('b');
      await clock.advance(1000);
      expect(await takeKey(queue)).toBe('a');
    });
  });

  describe('rate limiting', () => {
    it('delays each retry of a key by its backoff until forgotten', async () => {
      const { queue, clock } = newQueue();
      const readyAfter: number[] = [];
      for (let attempt = 0; attempt < 5; attempt++) {
        const start = clock.now();
        queue.addRateLimited('a');
        while (queue.len() === 0) await clock.advance(100);
        readyAfter.push(clock.now() - start);
        await takeKey(queue);
        queue.done('a');
      }
      expect(readyAfter).toEqual([1000, 2000, 4000, 8000, 8000]);
      expect(queue.numRequeues('a')).toBe(5);
      queue.forget('a');
      expect(queue.numRequeues('a')).toBe(0);
      queue.addRateLimited('a');
      await clock.advance(1000);
      expect(queue.len()).toBe(1);
    });

    it('uses client-go default controller limiter when none is given', async () => {
      const clock = new FakeClock();
      const queue = new WorkQueue({ name: 'default', clock });
      queue.addRateLimited('a');
      await clock.advance(4);
      expect(queue.len()).toBe(0);
      await clock.advance(1);
      expect(queue.len()).toBe(1);
    });
  });

  describe('shutdown', () => {
    it('wakes every blocked get() with shutdown', async () => {
      const { queue } = newQueue();
      const first = pendingGet(queue);
      const second = pendingGet(queue);
      queue.shutDown();
      await flushMicrotasks();
      expect(first.result()).toEqual({ shutdown: true });
      expect(second.result()).toEqual({ shutdown: true });
      expect(queue.shuttingDown()).toBe(true);
    });

    it('drops adds, delayed adds and rate-limited adds after shutdown', async () => {
      const { queue, clock } = newQueue();
      queue.addAfter('pending', 1000);
      queue.shutDown();
      expect(clock.pending()).toBe(0);
      queue.add('a');
      queue.addAfter('b', 10);
      queue.addRateLimited('c');
      await clock.advance(60_000);
      expect(queue.len()).toBe(0);
      expect(await queue.get()).toEqual({ shutdown: true });
    });

    it('still hands out keys queued before shutdown, then reports shutdown', async () => {
      const { queue } = newQueue();
      queue.add('a');
      queue.add('b');
      queue.shutDown();
      expect(await takeKey(queue)).toBe('a');
      expect(await takeKey(queue)).toBe('b');
      expect(await queue.get()).toEqual({ shutdown: true });
    });

    it('shutDownWithDrain waits until in-flight keys are done', async () => {
      const { queue } = newQueue();
      queue.add('a');
      queue.add('b');
      await takeKey(queue);
      await takeKey(queue);
      let drained = false;
      const drain = queue.shutDownWithDrain().then(() => (drained = true));
      queue.done('a');
      await flushMicrotasks();
      expect(drained).toBe(false);
      queue.done('b');
      await drain;
      expect(drained).toBe(true);
    });

    it('shutDownWithDrain resolves at once when nothing is in flight', async () => {
      const { queue } = newQueue();
      await expect(queue.shutDownWithDrain()).resolves.toBeUndefined();
    });

    it('shutDown after shutDownWithDrain stops waiting for in-flight keys', async () => {
      const { queue } = newQueue();
      queue.add('a');
      await takeKey(queue);
      const drain = queue.shutDownWithDrain();
      queue.shutDown();
      await expect(drain).resolves.toBeUndefined();
    });
  });
});
