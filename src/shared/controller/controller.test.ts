import { describe, expect, it } from 'vitest';
import { sleep } from '../clock/clock.js';
import { Logger } from '../log/logger.js';
import { FakeClock, flushMicrotasks } from '../testing/fake-clock.js';
import { runController, runWorkers } from './controller.js';
import { ItemExponentialRateLimiter } from './rate-limiter.js';
import { TerminalError } from './reconcile.js';
import type { SyncFunction } from './reconcile.js';
import { WorkQueue } from './work-queue.js';

interface Harness {
  clock: FakeClock;
  queue: WorkQueue;
  logger: Logger;
  lines: string[];
  /** Keys in the order sync was called with them. */
  calls: string[];
}

function harness(): Harness {
  const clock = new FakeClock();
  const rateLimiter = new ItemExponentialRateLimiter({ baseDelayMs: 1000, maxDelayMs: 60_000 });
  const lines: string[] = [];
  return {
    clock,
    queue: new WorkQueue({ name: 'volumes', clock, rateLimiter }),
    logger: new Logger({ sink: (line) => lines.push(line) }),
    lines,
    calls: [],
  };
}

/** Starts the workers with a sync that records each call before delegating to body. */
function start(
  h: Harness,
  body: (key: string, attempt: number) => ReturnType<SyncFunction<string>>,
  workers = 1,
): Promise<void> {
  const attempts = new Map<string, number>();
  const sync: SyncFunction<string> = (key) => {
    h.calls.push(key);
    const attempt = (attempts.get(key) ?? 0) + 1;
    attempts.set(key, attempt);
    return body(key, attempt);
  };
  return runWorkers({ queue: h.queue, workers, sync, logger: h.logger });
}

describe('runWorkers', () => {
  it('forgets the backoff of a key that synced successfully', async () => {
    const h = harness();
    h.queue.addRateLimited('a');
    h.queue.addRateLimited('a');
    expect(h.queue.numRequeues('a')).toBe(2);
    const run = start(h, async () => {});
    await h.clock.advance(1000);
    expect(h.calls).toEqual(['a']);
    expect(h.queue.numRequeues('a')).toBe(0);
    h.queue.shutDown();
    await run;
  });

  it('requeues a failed key with backoff until it succeeds', async () => {
    const h = harness();
    const run = start(h, async (_key, attempt) => {
      if (attempt < 3) throw new Error(`boom ${attempt}`);
    });
    h.queue.add('a');
    await flushMicrotasks();
    expect(h.calls).toHaveLength(1);
    expect(h.queue.numRequeues('a')).toBe(1);
    await h.clock.advance(999);
    expect(h.calls).toHaveLength(1);
    await h.clock.advance(1);
    expect(h.calls).toHaveLength(2);
    await h.clock.advance(1999);
    expect(h.calls).toHaveLength(2);
    await h.clock.advance(1);
    expect(h.calls).toHaveLength(3);
    expect(h.queue.numRequeues('a')).toBe(0);
    expect(h.lines.filter((l) => l.includes('Sync failed, will retry'))).toHaveLength(2);
    expect(h.lines[0]).toContain('boom 1');
    h.queue.shutDown();
    await run;
  });

  it('does not retry a key whose sync threw a TerminalError', async () => {
    const h = harness();
    const run = start(h, async () => {
      throw new TerminalError('invalid parameter');
    });
    h.queue.add('a');
    await h.clock.advance(600_000);
    expect(h.calls).toEqual(['a']);
    expect(h.queue.numRequeues('a')).toBe(0);
    expect(h.clock.pending()).toBe(0);
    expect(h.lines).toHaveLength(1);
    expect(h.lines[0]).toContain('Sync failed permanently, not retrying');
    expect(h.lines[0]).toContain('invalid parameter');
    h.queue.shutDown();
    await run;
  });

  it('recognises a TerminalError wrapped as the cause of another error', async () => {
    const h = harness();
    const run = start(h, async () => {
      throw new Error('provisioning failed', { cause: new TerminalError('unsupported access mode') });
    });
    h.queue.add('a');
    await h.clock.advance(600_000);
    expect(h.calls).toEqual(['a']);
    h.queue.shutDown();
    await run;
  });

  it('forgets the backoff of a key whose sync threw a TerminalError', async () => {
    const h = harness();
    h.queue.addRateLimited('a');
    const run = start(h, async () => {
      throw new TerminalError('gone');
    });
    await h.clock.advance(1000);
    expect(h.calls).toEqual(['a']);
    expect(h.queue.numRequeues('a')).toBe(0);
    h.queue.shutDown();
    await run;
  });

  it('runs a key again after the requested requeueAfterMs without counting a failure', async () => {
    const h = harness();
    h.queue.addRateLimited('a');
    const run = start(h, (_key, attempt) => (attempt === 1 ? { requeueAfterMs: 5000 } : undefined));
    await h.clock.advance(1000);
    expect(h.calls).toEqual(['a']);
    expect(h.queue.numRequeues('a')).toBe(0);
    await h.clock.advance(4999);
    expect(h.calls).toEqual(['a']);
    await h.clock.advance(1);
    expect(h.calls).toEqual(['a', 'a']);
    await h.clock.advance(600_000);
    expect(h.calls).toEqual(['a', 'a']);
    h.queue.shutDown();
    await run;
  });

  it('keeps working after a sync throws synchronously or rejects', async () => {
    const h = harness();
    const run = start(h, (key) => {
      if (key === 'sync-throw') throw new Error('thrown before any await');
      if (key === 'reject') return Promise.reject(new Error('rejected'));
      return undefined;
    });
    h.queue.add('sync-throw');
    h.queue.add('reject');
    h.queue.add('ok');
    await flushMicrotasks();
    expect(h.calls).toEqual(['sync-throw', 'reject', 'ok']);
    expect(h.queue.numRequeues('sync-throw')).toBe(1);
    expect(h.queue.numRequeues('reject')).toBe(1);
    await h.clock.advance(1000);
    expect(h.calls).toEqual(['sync-throw', 'reject', 'ok', 'sync-throw', 'reject']);
    h.queue.shutDown();
    await run;
  });

  it('never syncs one key on two workers at once and reruns a key re-added during its sync once', async () => {
    const h = harness();
    const active = new Map<string, number>();
    let maxPerKey = 0;
    let maxOverall = 0;
    const run = start(
      h,
      async (key) => {
        active.set(key, (active.get(key) ?? 0) + 1);
        maxPerKey = Math.max(maxPerKey, active.get(key) ?? 0);
        maxOverall = Math.max(
          maxOverall,
          [...active.values()].reduce((a, b) => a + b, 0),
        );
        await sleep(h.clock, 100);
        active.set(key, (active.get(key) ?? 0) - 1);
      },
      4,
    );
    h.queue.add('a');
    h.queue.add('b');
    await flushMicrotasks();
    for (let i = 0; i < 3; i++) {
      h.queue.add('a');
      h.queue.add('b');
    }
    await h.clock.advance(100);
    expect(h.calls).toEqual(['a', 'b', 'a', 'b']);
    await h.clock.advance(1000);
    expect(h.calls).toEqual(['a', 'b', 'a', 'b']);
    expect(maxPerKey).toBe(1);
    expect(maxOverall).toBe(2);
    h.queue.shutDown();
    await run;
  });

  it('keeps per-key concurrency at one under a stream of re-adds across many workers', async () => {
    const h = harness();
    const active = new Map<string, number>();
    let maxPerKey = 0;
    const run = start(
      h,
      async (key) => {
        active.set(key, (active.get(key) ?? 0) + 1);
        maxPerKey = Math.max(maxPerKey, active.get(key) ?? 0);
        await sleep(h.clock, key.length * 30);
        active.set(key, (active.get(key) ?? 0) - 1);
      },
      8,
    );
    const keys = ['a', 'bb', 'ccc', 'dddd'];
    for (let step = 0; step < 50; step++) {
      h.queue.add(keys[step % keys.length]);
      h.queue.add(keys[(step * 7) % keys.length]);
      await h.clock.advance(17);
    }
    await h.clock.advance(10_000);
    expect(maxPerKey).toBe(1);
    expect(new Set(h.calls)).toEqual(new Set(keys));
    expect(h.queue.len()).toBe(0);
    h.queue.shutDown();
    await run;
  });

  it('resolves once the queue is shut down and every worker has exited', async () => {
    const h = harness();
    let finished = false;
    const run = start(h, () => sleep(h.clock, 1000), 3).then(() => (finished = true));
    h.queue.add('a');
    await flushMicrotasks();
    h.queue.shutDown();
    await flushMicrotasks();
    expect(finished).toBe(false);
    await h.clock.advance(1000);
    await run;
    expect(finished).toBe(true);
  });

  it('stops on abort: the current sync finishes, queued keys are left alone', async () => {
    const h = harness();
    const controller = new AbortController();
    const seenSignals: AbortSignal[] = [];
    const run = runWorkers<string>({
      queue: h.queue,
      workers: 1,
      logger: h.logger,
      signal: controller.signal,
      sync: async (key, { signal }) => {
        h.calls.push(key);
        seenSignals.push(signal);
        await sleep(h.clock, 1000);
      },
    });
    h.queue.add('a');
    h.queue.add('b');
    await flushMicrotasks();
    controller.abort();
    expect(h.queue.shuttingDown()).toBe(true);
    expect(seenSignals[0].aborted).toBe(true);
    await h.clock.advance(1000);
    await run;
    expect(h.calls).toEqual(['a']);
  });

  it('does not start when the signal is already aborted', async () => {
    const h = harness();
    h.queue.add('a');
    await runWorkers<string>({
      queue: h.queue,
      workers: 2,
      logger: h.logger,
      signal: AbortSignal.abort(),
      sync: (key) => void h.calls.push(key),
    });
    expect(h.queue.shuttingDown()).toBe(true);
    expect(h.calls).toEqual([]);
  });

  it('rejects a worker count below one', async () => {
    const h = harness();
    await expect(runWorkers({ queue: h.queue, workers: 0, sync: () => {}, logger: h.logger })).rejects.toThrow(
      RangeError,
    );
  });
});

describe('runController', () => {
  it('runs the workers on the controller’s queue until the signal aborts', async () => {
    const h = harness();
    const abort = new AbortController();
    const synced: string[] = [];
    const running = runController(
      { queue: h.queue, sync: (key) => void synced.push(key) },
      { workers: 2, logger: h.logger, signal: abort.signal },
    );
    h.queue.add('a');
    h.queue.add('b');
    await flushMicrotasks();
    expect(synced.sort()).toEqual(['a', 'b']);
    abort.abort();
    await running;
  });

  it('with 0 workers syncs nothing and resolves once the signal aborts (upstream’s idle loop)', async () => {
    const h = harness();
    const abort = new AbortController();
    let done = false;
    const idle = runController(
      { queue: h.queue, sync: () => Promise.reject(new Error('synced')) },
      { workers: 0, logger: h.logger, signal: abort.signal },
    ).then(() => (done = true));
    h.queue.add('a');
    await new Promise((resolve) => setTimeout(resolve, 5));
    expect(done).toBe(false);
    abort.abort();
    await idle;
    expect(h.queue.len()).toBe(1);
  });

  it('with 0 workers and an aborted signal resolves at once', async () => {
    const h = harness();
    const abort = new AbortController();
    abort.abort();
    await expect(
      runController({ queue: h.queue, sync: () => undefined }, { workers: 0, logger: h.logger, signal: abort.signal }),
    ).resolves.toBeUndefined();
  });
});
