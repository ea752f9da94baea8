import { status } from '@grpc/grpc-js';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  ControllerServiceCapability_RPC_Type as ControllerRpc,
  PluginCapability_Service_Type as PluginService,
} from '../../gen/csi.js';
import { Logger, discardLogger } from '../log/logger.js';
import { FakeClock } from '../testing/fake-clock.js';
import type { CsiOutcome } from '../testing/csi-test-driver.js';
import { CsiTestDriver, csiError } from '../testing/csi-test-driver.js';
import type { CsiCaller } from './connection.js';
import { CsiConnection } from './connection.js';
import { getControllerCapabilities, getDriverName, getPluginCapabilities, probe, probeForever } from './rpc.js';

describe('rpc helpers', () => {
  let driver: CsiTestDriver;
  let conn: CsiConnection;
  beforeAll(async () => {
    driver = await CsiTestDriver.start({
      name: 'hostpath.csi.k8s.io',
      services: ['Identity', 'Controller'],
      pluginCapabilities: [PluginService.CONTROLLER_SERVICE, PluginService.VOLUME_ACCESSIBILITY_CONSTRAINTS],
      controllerCapabilities: [ControllerRpc.CREATE_DELETE_VOLUME, ControllerRpc.LIST_VOLUMES],
    });
    conn = await CsiConnection.connect({ address: driver.address, logger: discardLogger() });
  });
  afterAll(async () => {
    conn.close();
    await driver.stop();
  });

  it('getDriverName returns the plugin name', async () => {
    await expect(getDriverName(conn)).resolves.toBe('hostpath.csi.k8s.io');
  });

  it('getDriverName rejects an empty name', async () => {
    driver.enqueue('GetPluginInfo', { name: '' });
    await expect(getDriverName(conn)).rejects.toThrow('driver name is empty');
  });

  it('getDriverName passes gRPC errors through', async () => {
    driver.fail('GetPluginInfo', status.UNAVAILABLE, 'starting');
    await expect(getDriverName(conn)).rejects.toMatchObject({ code: status.UNAVAILABLE });
  });

  it('getPluginCapabilities returns the service types and skips other entries', async () => {
    driver.enqueue('GetPluginCapabilities', {
      capabilities: [
        { type: { $case: 'service', value: { type: PluginService.CONTROLLER_SERVICE } } },
        { type: { $case: 'volumeExpansion', value: { type: 1 } } },
        {},
      ],
    });
    await expect(getPluginCapabilities(conn)).resolves.toEqual(new Set([PluginService.CONTROLLER_SERVICE]));
    await expect(getPluginCapabilities(conn)).resolves.toEqual(
      new Set([PluginService.CONTROLLER_SERVICE, PluginService.VOLUME_ACCESSIBILITY_CONSTRAINTS]),
    );
  });

  it('getControllerCapabilities returns the rpc types', async () => {
    await expect(getControllerCapabilities(conn)).resolves.toEqual(
      new Set([ControllerRpc.CREATE_DELETE_VOLUME, ControllerRpc.LIST_VOLUMES]),
    );
  });

  it('helpers pass their timeout on to the call', async () => {
    driver.setDelay('ControllerGetCapabilities', 1000);
    try {
      await expect(getControllerCapabilities(conn, 100)).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
    } finally {
      driver.setDelay('ControllerGetCapabilities', undefined);
    }
  });

  it('probe returns ready, and true when the driver leaves ready out', async () => {
    driver.enqueue('Probe', { ready: false }, {}, { ready: true });
    await expect(probe(conn)).resolves.toBe(false);
    await expect(probe(conn)).resolves.toBe(true);
    await expect(probe(conn)).resolves.toBe(true);
  });
});

describe('probeForever', () => {
  let driver: CsiTestDriver;
  let conn: CsiConnection;
  const lines: string[] = [];
  const logger = new Logger({ sink: (line) => lines.push(line) });

  beforeAll(async () => {
    driver = await CsiTestDriver.start();
    conn = await CsiConnection.connect({ address: driver.address, logger: discardLogger() });
  });
  afterAll(async () => {
    conn.close();
    await driver.stop();
  });
  beforeEach(() => {
    lines.length = 0;
    driver.calls.length = 0;
  });

  const run = (): Promise<void> => probeForever(conn, { probeTimeoutMs: 1000, logger, intervalMs: 20 });
  const timeout = csiError(status.DEADLINE_EXCEEDED, 'timeout');
  // A plain error thrown by the driver reaches the client as Unknown, as with grpc-go.
  const mockError: CsiOutcome<'Probe'> = () => {
    throw new Error('mock error');
  };

  // The seven cases of csi-lib-utils' TestProbeForever.
  it.each<[string, CsiOutcome<'Probe'>[], boolean]>([
    ['success', [{ ready: true }], false],
    ['success with empty Ready field (true is assumed)', [{}], false],
    ['error', [mockError], true],
    ['timeout + failure', [timeout, mockError], true],
    ['timeout + success', [timeout, { ready: true }], false],
    ['unready + failure', [{ ready: false }, mockError], true],
    ['unready + success', [{ ready: false }, { ready: true }], false],
  ])('%s', async (_name, outcomes, expectError) => {
    driver.enqueue('Probe', ...outcomes);
    if (expectError) {
      await expect(run()).rejects.toThrow('CSI driver probe failed: rpc error: code = Unknown desc = mock error');
    } else {
      await expect(run()).resolves.toBeUndefined();
    }
    expect(driver.callsTo('Probe')).toHaveLength(outcomes.length);
  });

  it('logs each attempt and why it is retried', async () => {
    driver.enqueue('Probe', timeout, { ready: false }, { ready: true });
    await run();
    const messages = lines.map((l) => /"([^"]+)"/.exec(l)?.[1]);
    expect(messages).toEqual([
      'Probing CSI driver for readiness',
      'CSI driver probe timed out',
      'Probing CSI driver for readiness',
      'CSI driver is not ready',
      'Probing CSI driver for readiness',
    ]);
  });

  it('retries a probe that hits its own deadline', async () => {
    driver.enqueue(
      'Probe',
      async (_req, { signal }) => {
        await new Promise((r) => signal.addEventListener('abort', r));
        return { ready: true };
      },
      { ready: true },
    );
    await probeForever(conn, { probeTimeoutMs: 100, logger, intervalMs: 20 });
    expect(driver.callsTo('Probe')).toHaveLength(2);
    expect(lines.some((l) => l.includes('CSI driver probe timed out'))).toBe(true);
  });

  it('rejects with the abort reason when the signal aborts', async () => {
    driver.setHandler('Probe', () => ({ ready: false }));
    try {
      const controller = new AbortController();
      const pending = probeForever(conn, { probeTimeoutMs: 1000, logger, intervalMs: 20, signal: controller.signal });
      await driver.waitForCalls('Probe', 2);
      controller.abort(new Error('stop'));
      await expect(pending).rejects.toThrow('stop');
    } finally {
      driver.setHandler('Probe', undefined);
    }
  });

  it('rejects at once when the signal is already aborted', async () => {
    await expect(
      probeForever(conn, { probeTimeoutMs: 1000, logger, signal: AbortSignal.abort(new Error('gone')) }),
    ).rejects.toThrow('gone');
    expect(driver.callsTo('Probe')).toHaveLength(0);
  });
});

describe('probeForever timing', () => {
  it('probes at once and then once per second by default', async () => {
    const clock = new FakeClock();
    const answers = [false, false, true];
    const times: number[] = [];
    // Only Probe is called; the cast stands in for the generic method typing.
    const fake = {
      call: (method: string) => {
        expect(method).toBe('Probe');
        times.push(clock.now());
        return Promise.resolve({ ready: answers.shift() });
      },
    } as unknown as CsiCaller;
    const done = probeForever(fake, { probeTimeoutMs: 1000, logger: discardLogger(), clock });
    await clock.advance(0);
    expect(times).toHaveLength(1);
    await clock.advance(999);
    expect(times).toHaveLength(1);
    await clock.advance(1);
    expect(times).toHaveLength(2);
    await clock.advance(1000);
    await done;
    expect(times.map((t) => t - times[0])).toEqual([0, 1000, 2000]);
  });
});
