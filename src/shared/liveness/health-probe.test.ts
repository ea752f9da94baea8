import { readdirSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { status } from '@grpc/grpc-js';
import { CsiOperationMetrics } from '../csi/metrics.js';
import { Logger } from '../log/logger.js';
import { createMetricsRegistry } from '../metrics/registry.js';
import { CsiTestDriver, TEST_DRIVER_NAME } from '../testing/csi-test-driver.js';
import { HealthProbe } from './health-probe.js';

const drivers: CsiTestDriver[] = [];
afterEach(async () => {
  await Promise.all(drivers.splice(0).map((d) => d.stop()));
});

async function setup(probeTimeoutMs = 1_000) {
  const driver = await CsiTestDriver.start();
  drivers.push(driver);
  const lines: string[] = [];
  const registry = createMetricsRegistry({ processMetrics: false });
  const metrics = new CsiOperationMetrics({ registry });
  metrics.setDriverName(TEST_DRIVER_NAME);
  const logger = new Logger({ verbosity: 5, sink: (l) => lines.push(l) });
  const probe = new HealthProbe({
    csiAddress: driver.socketPath,
    probeTimeoutMs,
    driverName: TEST_DRIVER_NAME,
    logger,
    metrics,
  });
  return { driver, probe, lines, registry };
}

describe('HealthProbe', () => {
  it('answers 200 ok when the driver is ready and records the Probe call', async () => {
    const { probe, driver, registry, lines } = await setup();
    expect(await probe.check()).toEqual({ status: 200, body: 'ok' });
    expect(driver.callsTo('Probe')).toHaveLength(1);
    const text = await registry.metrics();
    expect(text).toContain(
      'csi_sidecar_operations_seconds_count{driver_name="test.csi.k8s.io",method_name="/csi.v1.Identity/Probe",grpc_status_code="OK"} 1',
    );
    expect(lines.some((l) => l.includes('"Health check succeeded"'))).toBe(true);
  });

  it('treats a Probe answer without ready as ready', async () => {
    const { probe, driver } = await setup();
    driver.enqueue('Probe', {});
    expect((await probe.check()).status).toBe(200);
  });

  it('answers 500 when the driver says it is not ready', async () => {
    const { probe, driver } = await setup();
    driver.enqueue('Probe', { ready: false });
    expect(await probe.check()).toEqual({ status: 500, body: 'driver responded but is not ready' });
  });

  it('answers 500 with the gRPC error text when Probe fails', async () => {
    const { probe, driver } = await setup();
    driver.fail('Probe', status.FAILED_PRECONDITION, 'backend offline');
    expect(await probe.check()).toEqual({
      status: 500,
      body: 'rpc error: code = FailedPrecondition desc = backend offline',
    });
  });

  it('answers 500 with DeadlineExceeded when Probe takes longer than the probe timeout', async () => {
    const { probe, driver, registry } = await setup(1_000);
    driver.setDelay('Probe', 5_000);
    const result = await probe.check();
    expect(result.status).toBe(500);
    expect(result.body).toMatch(/^rpc error: code = DeadlineExceeded/);
    expect(await registry.metrics()).toContain('grpc_status_code="DeadlineExceeded"');
  });

  it('answers 500 once the socket is removed', async () => {
    const { probe, driver } = await setup(300);
    expect((await probe.check()).status).toBe(200);
    await driver.stop();
    const result = await probe.check();
    expect(result.status).toBe(500);
    expect(result.body).toMatch(/failed to connect to CSI driver/);
  });

  it('closes every connection it opens, also when checks overlap', async () => {
    const { probe, driver } = await setup();
    const openFds = (): number => readdirSync('/proc/self/fd').length;
    await probe.check();
    const before = openFds();
    const results = await Promise.all(Array.from({ length: 20 }, () => probe.check()));
    expect(results.every((r) => r.status === 200)).toBe(true);
    await new Promise((r) => setTimeout(r, 100));
    expect(openFds()).toBeLessThanOrEqual(before + 2);
    expect(driver.callsTo('Probe')).toHaveLength(21);
  });

  it('talks to a driver that replaced the socket', async () => {
    const { probe, driver } = await setup();
    expect((await probe.check()).status).toBe(200);
    await driver.restart();
    driver.enqueue('Probe', { ready: false });
    expect((await probe.check()).body).toBe('driver responded but is not ready');
  });
});
