import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { status } from '@grpc/grpc-js';
import type { Registry } from 'prom-client';
import { afterEach, describe, expect, it } from 'vitest';
import type { InfoLogger } from '../log/logger.js';
import { Logger } from '../log/logger.js';
import { createMetricsRegistry } from '../metrics/registry.js';
import { CsiTestDriver } from '../testing/csi-test-driver.js';
import { FakeClock } from '../testing/fake-clock.js';
import { CsiConnection, exitOnConnectionLoss } from './connection.js';
import { CsiOperationMetrics } from './metrics.js';
import { CsiRpcError } from './status.js';

const SECRET = 'hunter2-very-secret';

function captureLogger(verbosity: number): { logger: Logger; lines: string[] } {
  const lines: string[] = [];
  return { logger: new Logger({ verbosity, sink: (line) => lines.push(line) }), lines };
}

async function until(condition: () => boolean, timeoutMs = 5000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > end) throw new Error('condition not met in time');
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function histogramSamples(
  registry: Registry,
): Promise<{ labels: Record<string, unknown>; value: number; metricName?: string }[]> {
  const metric = registry.getSingleMetric('csi_sidecar_operations_seconds');
  if (!metric) throw new Error('metric not registered');
  return (await metric.get()).values as { labels: Record<string, unknown>; value: number; metricName?: string }[];
}

describe('CsiConnection', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function startDriver(): Promise<CsiTestDriver> {
    const driver = await CsiTestDriver.start();
    cleanups.push(() => driver.stop());
    return driver;
  }

  async function connect(
    driver: CsiTestDriver,
    options: Partial<Parameters<typeof CsiConnection.connect>[0]> = {},
  ): Promise<CsiConnection> {
    const conn = await CsiConnection.connect({
      address: driver.address,
      logger: captureLogger(0).logger,
      connectTimeoutMs: 5000,
      ...options,
    });
    cleanups.push(() => conn.close());
    return conn;
  }

  it('accepts a plain socket path and answers typed calls', async () => {
    const driver = await startDriver();
    const conn = await connect(driver, { address: driver.socketPath });
    expect(conn.address.target).toBe(`unix://${driver.socketPath}`);
    const info = await conn.call('GetPluginInfo', {});
    expect(info.name).toBe('test.csi.k8s.io');
    const created = await conn.call('CreateVolume', {
      name: 'pvc-1',
      capacityRange: { requiredBytes: 5n * 1024n ** 3n },
      volumeCapabilities: [{ accessType: { $case: 'mount', value: { fsType: 'ext4' } } }],
    });
    expect(created.volume?.capacityBytes).toBe(5n * 1024n ** 3n);
  });

  it('waits for a driver that starts after connect was called', async () => {
    const driver = new CsiTestDriver();
    cleanups.push(() => driver.stop());
    const pending = connect(driver, { connectTimeoutMs: 10_000 });
    await new Promise((r) => setTimeout(r, 600));
    await driver.start();
    const conn = await pending;
    await expect(conn.call('Probe', {})).resolves.toEqual({ ready: true });
  });

  describe('waiting for the driver on the injected clock', () => {
    // Upstream's defaults: give up after 30 s, `Still connecting` every 10 s.
    function connectWithoutDriver(clock: FakeClock): {
      driver: CsiTestDriver;
      lines: string[];
      stillConnecting: () => string[];
      outcome: () => unknown;
    } {
      const driver = new CsiTestDriver();
      cleanups.push(() => driver.stop());
      const { logger, lines } = captureLogger(0);
      // A test that stops before the give-up time still ends the wait (and closes the channel).
      const controller = new AbortController();
      cleanups.push(() => controller.abort());
      let settled: { value: unknown } | undefined;
      CsiConnection.connect({ address: driver.address, logger, clock, signal: controller.signal }).then(
        (conn) => {
          conn.close();
          settled = { value: conn };
        },
        (err: unknown) => {
          settled = { value: err };
        },
      );
      return {
        driver,
        lines,
        stillConnecting: () => lines.filter((l) => l.includes('"Still connecting"')),
        outcome: () => settled?.value,
      };
    }

    it('logs Still connecting with the address every 10 s', async () => {
      const clock = new FakeClock();
      const { driver, stillConnecting } = connectWithoutDriver(clock);
      await clock.advance(9_999);
      expect(stillConnecting()).toHaveLength(0);
      await clock.advance(1);
      expect(stillConnecting()).toHaveLength(1);
      expect(stillConnecting()[0]).toMatch(/^W/);
      expect(stillConnecting()[0]).toContain(`address="${driver.address}"`);
      await clock.advance(10_000);
      expect(stillConnecting()).toHaveLength(2);
    });

    it('gives up at exactly 30 s naming the address and channel state, then logs nothing more', async () => {
      const clock = new FakeClock();
      const { driver, lines, stillConnecting, outcome } = connectWithoutDriver(clock);
      await clock.advance(29_999);
      expect(outcome()).toBeUndefined();
      await clock.advance(1);
      const err = outcome();
      expect(err).toBeInstanceOf(Error);
      const message = (err as Error).message;
      expect(message.startsWith(`failed to connect to CSI driver at ${driver.address} within 30000 ms `)).toBe(true);
      expect(message).toMatch(/ \(channel state (CONNECTING|TRANSIENT_FAILURE)\)$/);
      expect(stillConnecting()).toHaveLength(2);
      // Closing the channel on rejection woke the pending state watcher; neither it nor a timer may log again.
      expect(clock.pending()).toBe(0);
      const logged = lines.length;
      await clock.advance(60_000);
      expect(lines).toHaveLength(logged);
    });

    it('cancels its timers once the channel is READY', async () => {
      const driver = await startDriver();
      const clock = new FakeClock();
      const { logger, lines } = captureLogger(0);
      await connect(driver, { logger, clock });
      expect(clock.pending()).toBe(0);
      await clock.advance(60_000);
      expect(lines.filter((l) => l.includes('"Still connecting"'))).toEqual([]);
    });

    it('stops waiting and cancels its timers when the signal aborts', async () => {
      const driver = new CsiTestDriver();
      cleanups.push(() => driver.stop());
      const clock = new FakeClock();
      const controller = new AbortController();
      const pending = connect(driver, { connectTimeoutMs: 0, signal: controller.signal, clock });
      await clock.advance(5_000);
      expect(clock.pending()).toBe(1);
      controller.abort(new Error('shutting down'));
      await expect(pending).rejects.toThrow('shutting down');
      expect(clock.pending()).toBe(0);
    });
  });

  it('rejects onConnectionLoss for non-unix addresses like csi-lib-utils', async () => {
    await expect(
      CsiConnection.connect({ address: 'localhost:1', logger: captureLogger(0).logger, onConnectionLoss: () => {} }),
    ).rejects.toThrow('OnConnectionLoss callback only supported for unix:// addresses');
  });

  it('rejects unix://relative addresses before dialing', async () => {
    await expect(
      CsiConnection.connect({ address: 'unix://csi/csi.sock', logger: captureLogger(0).logger }),
    ).rejects.toThrow(/absolute path/);
  });

  it('reports a lost connection once when the driver stops', async () => {
    const driver = await startDriver();
    const { logger, lines } = captureLogger(0);
    let losses = 0;
    await connect(driver, { logger, onConnectionLoss: () => losses++ });
    await driver.stop();
    await until(() => losses > 0);
    await new Promise((r) => setTimeout(r, 300));
    expect(losses).toBe(1);
    const lost = lines.filter((l) => l.includes('"Lost connection to CSI driver"'));
    expect(lost).toHaveLength(1);
    expect(lost[0]).toMatch(/^E/);
    expect(lost[0]).toContain(`address="${driver.address}"`);
  });

  it('reports another loss after the driver came back and went away again', async () => {
    const driver = await startDriver();
    let losses = 0;
    const conn = await connect(driver, { onConnectionLoss: () => losses++ });
    await driver.restart();
    await until(() => losses === 1);
    // The next call dials again; that connection can be lost too.
    await conn.call('Probe', {}, { timeoutMs: 3000 });
    await driver.restart();
    await until(() => losses === 2);
  });

  it('logs an exception thrown by the loss callback instead of crashing', async () => {
    const driver = await startDriver();
    const { logger, lines } = captureLogger(0);
    await connect(driver, {
      logger,
      onConnectionLoss: () => {
        throw new Error('handler broke');
      },
    });
    await driver.stop();
    await until(() => lines.some((l) => l.includes('Connection loss handler failed')));
    expect(lines.find((l) => l.includes('Connection loss handler failed'))).toContain('err="handler broke"');
  });

  it('does not report a loss when the connection itself is closed', async () => {
    const driver = await startDriver();
    let losses = 0;
    const conn = await connect(driver, { onConnectionLoss: () => losses++ });
    conn.close();
    await driver.stop();
    await new Promise((r) => setTimeout(r, 200));
    expect(losses).toBe(0);
  });

  it('fails a call with DeadlineExceeded after its per-call deadline, naming the method', async () => {
    const driver = await startDriver();
    driver.setDelay('CreateVolume', 2000);
    const conn = await connect(driver);
    const started = Date.now();
    const err: unknown = await conn
      .call('CreateVolume', { name: 'slow', volumeCapabilities: [{}] }, { timeoutMs: 200 })
      .catch((e: unknown) => e);
    expect(Date.now() - started).toBeLessThan(1500);
    expect(err).toBeInstanceOf(CsiRpcError);
    const rpcErr = err as CsiRpcError;
    expect(rpcErr.code).toBe(status.DEADLINE_EXCEEDED);
    expect(rpcErr.codeName).toBe('DeadlineExceeded');
    expect(rpcErr.method).toBe('/csi.v1.Controller/CreateVolume');
    expect(rpcErr.message).toBe('rpc error: code = DeadlineExceeded desc = context deadline exceeded');
    expect(rpcErr.details).toMatch(/^Deadline exceeded after/);
  });

  it('applies callTimeoutMs to calls without their own timeout', async () => {
    const driver = await startDriver();
    driver.setDelay('Probe', 2000);
    const conn = await connect(driver, { callTimeoutMs: 150 });
    await expect(conn.call('Probe', {})).rejects.toMatchObject({ code: status.DEADLINE_EXCEEDED });
  });

  it('keeps the driver status code and details on errors', async () => {
    const driver = await startDriver();
    driver.fail('ControllerPublishVolume', status.NOT_FOUND, 'no such volume');
    const conn = await connect(driver);
    await expect(conn.call('ControllerPublishVolume', { volumeId: 'v', nodeId: 'n' })).rejects.toMatchObject({
      code: status.NOT_FOUND,
      details: 'no such volume',
      method: '/csi.v1.Controller/ControllerPublishVolume',
      message: 'rpc error: code = NotFound desc = no such volume',
    });
  });

  it('cancels a call when its signal aborts', async () => {
    const driver = await startDriver();
    const gate = driver.hold('Probe');
    cleanups.push(() => gate.release());
    const conn = await connect(driver);
    const controller = new AbortController();
    const pending = conn.call('Probe', {}, { signal: controller.signal });
    await driver.waitForCalls('Probe');
    controller.abort();
    await expect(pending).rejects.toMatchObject({
      code: status.CANCELLED,
      message: expect.stringContaining('Canceled'),
    });
  });

  it('fails calls after close with Canceled', async () => {
    const driver = await startDriver();
    const conn = await connect(driver);
    conn.close();
    await expect(conn.call('Probe', {})).rejects.toMatchObject({ code: status.CANCELLED });
  });

  it('returns UNIMPLEMENTED for methods the driver does not serve', async () => {
    const driver = await startDriver();
    const conn = await connect(driver);
    await expect(conn.call('NodeStageVolume', { volumeId: 'v' })).rejects.toMatchObject({
      code: status.UNIMPLEMENTED,
    });
    await expect(conn.call('GroupControllerGetCapabilities', {})).rejects.toMatchObject({
      code: status.UNIMPLEMENTED,
    });
  });

  it('rejects responses above the 4 MiB receive limit like the Go sidecars', async () => {
    const driver = await startDriver();
    driver.enqueue('GetPluginInfo', { name: 'x', manifest: { big: 'a'.repeat(5 * 1024 * 1024) } });
    const conn = await connect(driver);
    await expect(conn.call('GetPluginInfo', {})).rejects.toMatchObject({ code: status.RESOURCE_EXHAUSTED });
  });

  describe('metrics', () => {
    it('records each call with Go status names and unknown-driver before setDriverName', async () => {
      const driver = await startDriver();
      const registry = createMetricsRegistry({ processMetrics: false });
      const metrics = new CsiOperationMetrics({ registry });
      const conn = await connect(driver, { metrics });
      await conn.call('Probe', {});
      metrics.setDriverName('test.csi.k8s.io');
      driver.fail('CreateVolume', status.RESOURCE_EXHAUSTED, 'full');
      await conn.call('CreateVolume', { name: 'a', volumeCapabilities: [{}] }).catch(() => {});
      driver.setDelay('DeleteVolume', 1000);
      await conn.call('DeleteVolume', { volumeId: 'a' }, { timeoutMs: 50 }).catch(() => {});

      const counts = (await histogramSamples(registry))
        .filter((s) => s.metricName === 'csi_sidecar_operations_seconds_count')
        .map((s) => ({ ...s.labels, n: s.value }));
      expect(counts).toEqual(
        expect.arrayContaining([
          { driver_name: 'unknown-driver', method_name: '/csi.v1.Identity/Probe', grpc_status_code: 'OK', n: 1 },
          {
            driver_name: 'test.csi.k8s.io',
            method_name: '/csi.v1.Controller/CreateVolume',
            grpc_status_code: 'ResourceExhausted',
            n: 1,
          },
          {
            driver_name: 'test.csi.k8s.io',
            method_name: '/csi.v1.Controller/DeleteVolume',
            grpc_status_code: 'DeadlineExceeded',
            n: 1,
          },
        ]),
      );
      expect(counts).toHaveLength(3);
    });

    it('fills extra labels from call options or their defaults', async () => {
      const driver = await startDriver();
      const registry = createMetricsRegistry({ processMetrics: false });
      const metrics = new CsiOperationMetrics({ registry, extraLabels: { migrated: 'false' } });
      const conn = await connect(driver, { metrics });
      await conn.call('Probe', {});
      await conn.call('Probe', {}, { metricLabels: { migrated: 'true' } });
      const text = await registry.metrics();
      expect(text).toContain(
        'csi_sidecar_operations_seconds_count{driver_name="unknown-driver",method_name="/csi.v1.Identity/Probe",grpc_status_code="OK",migrated="false"} 1',
      );
      expect(text).toContain('grpc_status_code="OK",migrated="true"} 1');
    });
  });

  describe('V(5) tracing', () => {
    const request = {
      name: 'pvc-1',
      secrets: { password: SECRET },
      volumeCapabilities: [{ accessType: { $case: 'mount' as const, value: { fsType: 'ext4' } } }],
      capacityRange: { requiredBytes: 1024n },
    };

    it('logs the sanitised request and response without secret values', async () => {
      const driver = await startDriver();
      const { logger, lines } = captureLogger(5);
      const conn = await connect(driver, { logger });
      await conn.call('CreateVolume', request);
      const text = lines.join('');
      expect(text).not.toContain(SECRET);
      const call = lines.find((l) => l.includes('"GRPC call"'));
      expect(call).toContain('method="/csi.v1.Controller/CreateVolume"');
      expect(call).toContain(
        'request="{\\"capacity_range\\":{\\"required_bytes\\":1024},\\"name\\":\\"pvc-1\\",\\"secrets\\":\\"***stripped***\\",\\"volume_capabilities\\":[{\\"mount\\":{\\"fs_type\\":\\"ext4\\"}}]}"',
      );
      const response = lines.find((l) => l.includes('"GRPC response"'));
      expect(response).toContain('\\"volume_id\\":\\"vol-pvc-1\\"');
      expect(response).toContain('err=null');
    });

    it('logs the error of a failed call and an empty response', async () => {
      const driver = await startDriver();
      driver.fail('Probe', status.INTERNAL, 'boom');
      const { logger, lines } = captureLogger(5);
      const conn = await connect(driver, { logger });
      await conn.call('Probe', {}).catch(() => {});
      const response = lines.find((l) => l.includes('"GRPC response"'));
      expect(response).toContain('response="{}"');
      expect(response).toContain('err="rpc error: code = Internal desc = boom"');
    });

    it('caps long responses like SetMaxGRPCLogLength', async () => {
      const driver = await startDriver();
      driver.enqueue('GetPluginInfo', { name: 'x'.repeat(100) });
      const { logger, lines } = captureLogger(5);
      const conn = await connect(driver, { logger, maxLogLength: 20 });
      await conn.call('GetPluginInfo', {});
      const response = lines.find((l) => l.includes('"GRPC response"'));
      expect(response).toContain(
        'response="{\\"name\\":\\"xxxxxxxxxxx [response body too large, log capped to 20 chars]"',
      );
    });

    it('logs nothing about calls at -v 4', async () => {
      const driver = await startDriver();
      const { logger, lines } = captureLogger(4);
      const conn = await connect(driver, { logger });
      await conn.call('CreateVolume', request);
      await conn.call('Probe', {});
      expect(lines.filter((l) => l.includes('GRPC'))).toEqual([]);
    });

    it('does not build trace strings when V(5) is disabled', async () => {
      const driver = await startDriver();
      let traceCalls = 0;
      class CountingLogger extends Logger {
        override v(level: number): InfoLogger {
          const inner = super.v(level);
          return {
            enabled: inner.enabled,
            info: (msg) => {
              if (msg.startsWith('GRPC')) traceCalls++;
            },
          };
        }
      }
      const conn = await connect(driver, { logger: new CountingLogger({ verbosity: 4, sink: () => {} }) });
      await conn.call('CreateVolume', request);
      expect(traceCalls).toBe(0);
    });
  });
});

describe('exitOnConnectionLoss', () => {
  it('writes the termination message with mode 0644 and exits 1', () => {
    const dir = mkdtempSync(join(tmpdir(), 'term-'));
    try {
      const path = join(dir, 'termination-log');
      const { logger, lines } = captureLogger(0);
      const codes: number[] = [];
      exitOnConnectionLoss({ logger, exit: (code) => codes.push(code), terminationLogPath: path })();
      expect(readFileSync(path, 'utf8')).toBe('Lost connection to CSI driver, exiting');
      expect(statSync(path).mode & 0o777).toBe(0o644 & ~process.umask());
      expect(codes).toEqual([1]);
      expect(lines.some((l) => l.startsWith('E') && l.includes('Lost connection to CSI driver, exiting'))).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('still exits when the termination log cannot be written', () => {
    const { logger, lines } = captureLogger(0);
    const codes: number[] = [];
    exitOnConnectionLoss({ logger, exit: (code) => codes.push(code), terminationLogPath: '/nonexistent/dir/log' })();
    expect(codes).toEqual([1]);
    expect(lines.some((l) => l.includes('Failed to write termination log') && l.includes('ENOENT'))).toBe(true);
  });
});
