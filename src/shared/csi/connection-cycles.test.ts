import { readdirSync } from 'node:fs';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { discardLogger } from '../log/logger.js';
import { CsiTestDriver } from '../testing/csi-test-driver.js';
import { CsiConnection } from './connection.js';
import { probe } from './rpc.js';

function openFds(): number {
  return readdirSync('/proc/self/fd').length;
}

// A full GC makes heap figures comparable; exposing it at run time avoids a special node flag.
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

async function settle(): Promise<void> {
  // Sockets close asynchronously after the channel is closed.
  for (let i = 0; i < 10; i++) await new Promise((r) => setTimeout(r, 20));
  gc();
}

const MiB = 2 ** 20;

// livenessprobe opens and closes a connection for every /healthz request.
describe('connect/probe/close cycles', () => {
  let driver: CsiTestDriver;
  beforeAll(async () => {
    driver = await CsiTestDriver.start();
  });
  afterAll(async () => {
    await driver.stop();
  });

  it('leave no file descriptors open after 1,000 cycles', { timeout: 120_000 }, async () => {
    const logger = discardLogger();
    const cycle = async (): Promise<void> => {
      const conn = await CsiConnection.connect({ address: driver.address, logger, connectTimeoutMs: 5000 });
      try {
        expect(await probe(conn, 1000)).toBe(true);
      } finally {
        conn.close();
      }
    };
    // Warm up lazily created resources (module state, timers) before measuring.
    for (let i = 0; i < 20; i++) await cycle();
    await settle();
    const fdsBefore = openFds();
    const before = process.memoryUsage();
    const started = performance.now();

    for (let i = 0; i < 1000; i++) await cycle();
    await settle();

    const seconds = (performance.now() - started) / 1000;
    const fdsAfter = openFds();
    const after = process.memoryUsage();
    console.info(
      `1000 cycles in ${seconds.toFixed(2)} s; fds ${fdsBefore} -> ${fdsAfter}; ` +
        `heap ${(before.heapUsed / MiB).toFixed(1)} -> ${(after.heapUsed / MiB).toFixed(1)} MiB; ` +
        `rss ${(before.rss / MiB).toFixed(1)} -> ${(after.rss / MiB).toFixed(1)} MiB`,
    );
    expect(driver.callsTo('Probe').length).toBe(1020);
    expect(fdsAfter - fdsBefore).toBeLessThanOrEqual(5);
    // 1,000 connections left open add about 22 MiB (and 2,000 fds); closed ones about 2 MiB.
    expect(after.heapUsed - before.heapUsed).toBeLessThan(8 * MiB);
  });
});
