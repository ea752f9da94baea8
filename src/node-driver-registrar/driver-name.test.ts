import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import type { CsiCaller } from '../shared/csi/connection.js';
import { CsiRpcError } from '../shared/csi/status.js';
import { Logger } from '../shared/log/logger.js';
import { FakeClock } from '../shared/testing/fake-clock.js';
import { driverName } from './driver-name.js';

/** A driver whose GetPluginInfo answers from a script: an error text fails that attempt, a name answers it. */
function scriptedDriver(script: string[]): { conn: CsiCaller; attempts: number[] } {
  const attempts: number[] = [];
  const conn = {
    call: (_method: string, _request: unknown, options?: { timeoutMs?: number }) => {
      attempts.push(options?.timeoutMs ?? -1);
      const next = script.shift() ?? 'unscripted';
      if (next.startsWith('fail:')) {
        return Promise.reject(
          new CsiRpcError({ method: '/csi.v1.Identity/GetPluginInfo', code: status.DEADLINE_EXCEEDED, details: next }),
        );
      }
      return Promise.resolve({ name: next, vendorVersion: 'v1', manifest: {} });
    },
  } as CsiCaller;
  return { conn, attempts };
}

function options(conn: CsiCaller, clock: FakeClock, waitMs: number, lines: string[] = []) {
  return { conn, clock, waitMs, timeoutMs: 1_000, logger: new Logger({ sink: (l) => lines.push(l) }) };
}

describe('driverName', () => {
  it('asks once under --timeout and returns the name', async () => {
    const { conn, attempts } = scriptedDriver(['hostpath.csi.k8s.io']);
    await expect(driverName(options(conn, new FakeClock(), 0))).resolves.toBe('hostpath.csi.k8s.io');
    expect(attempts).toEqual([1_000]);
  });

  it('gives up on the first failure without --plugin-info-wait, as upstream', async () => {
    const { conn, attempts } = scriptedDriver(['fail:slow', 'hostpath.csi.k8s.io']);
    await expect(driverName(options(conn, new FakeClock(), 0))).rejects.toThrow('code = DeadlineExceeded');
    expect(attempts).toHaveLength(1);
  });

  it("refuses an empty name with csi-lib-utils' text", async () => {
    const { conn } = scriptedDriver(['']);
    await expect(driverName(options(conn, new FakeClock(), 0))).rejects.toThrow('driver name is empty');
  });

  it('retries failures 1 s, 2 s, 4 s apart within --plugin-info-wait and logs each', async () => {
    const clock = new FakeClock();
    const lines: string[] = [];
    const { conn, attempts } = scriptedDriver(['fail:a', 'fail:b', 'fail:c', 'hostpath.csi.k8s.io']);
    const result = driverName(options(conn, clock, 60_000, lines));
    await clock.advance(0);
    expect(attempts).toHaveLength(1);
    await clock.advance(999);
    expect(attempts).toHaveLength(1);
    await clock.advance(1);
    expect(attempts).toHaveLength(2);
    await clock.advance(2_000);
    expect(attempts).toHaveLength(3);
    await clock.advance(4_000);
    await expect(result).resolves.toBe('hostpath.csi.k8s.io');
    expect(lines.filter((l) => l.includes('"GetPluginInfo failed, retrying"'))).toHaveLength(3);
    expect(lines[0]).toContain('retryIn="1000ms"');
  });

  it('throws the last error once the wait has passed', async () => {
    const clock = new FakeClock();
    const { conn, attempts } = scriptedDriver(['fail:1', 'fail:2', 'fail:3', 'fail:4', 'hostpath.csi.k8s.io']);
    const result = driverName(options(conn, clock, 2_500));
    const settled = expect(result).rejects.toThrow('desc = fail:3');
    // Attempts at 0, 1 s and 2.5 s (the last wait is cut to what is left), then no more.
    await clock.advance(10_000);
    await settled;
    expect(attempts).toHaveLength(3);
  });

  it('stops retrying when the process is told to stop', async () => {
    const clock = new FakeClock();
    const abort = new AbortController();
    const { conn, attempts } = scriptedDriver(['fail:1', 'fail:2']);
    const result = driverName({ ...options(conn, clock, 60_000), signal: abort.signal });
    const settled = expect(result).rejects.toThrow('desc = fail:1');
    await clock.advance(0);
    abort.abort();
    await settled;
    expect(attempts).toHaveLength(1);
  });
});
