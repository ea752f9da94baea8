import { existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { status } from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { ControllerServiceCapability_RPC_Type as ControllerRpc } from '../../gen/csi.js';
import { CsiConnection } from '../csi/connection.js';
import { CSI_METHODS } from '../csi/methods.js';
import { discardLogger } from '../log/logger.js';
import { CsiTestDriver, csiError, TEST_DRIVER_NAME } from './csi-test-driver.js';

const mount = [{ accessType: { $case: 'mount' as const, value: { fsType: 'ext4' } } }];

describe('CsiTestDriver', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  async function setup(
    options?: ConstructorParameters<typeof CsiTestDriver>[0],
  ): Promise<{ driver: CsiTestDriver; conn: CsiConnection }> {
    const driver = await CsiTestDriver.start(options);
    cleanups.push(() => driver.stop());
    const conn = await CsiConnection.connect({ address: driver.address, logger: discardLogger() });
    cleanups.push(() => conn.close());
    return { driver, conn };
  }

  it('listens on a short socket path in its own temp dir and removes it on stop', async () => {
    const driver = await CsiTestDriver.start();
    expect(Buffer.byteLength(driver.socketPath)).toBeLessThanOrEqual(107);
    expect(dirname(dirname(driver.socketPath))).toBe(tmpdir());
    expect(driver.address).toBe(`unix://${driver.socketPath}`);
    expect(existsSync(driver.socketPath)).toBe(true);
    await driver.stop();
    expect(existsSync(dirname(driver.socketPath))).toBe(false);
    expect(driver.running).toBe(false);
  });

  it('refuses socket paths longer than 107 bytes', () => {
    expect(() => new CsiTestDriver({ socketPath: join('/tmp', 'x'.repeat(110)) })).toThrow(/107 bytes/);
  });

  it('answers Identity, Controller and Node basics by default', async () => {
    const { conn } = await setup({ nodeId: 'node-7' });
    await expect(conn.call('GetPluginInfo', {})).resolves.toEqual({
      name: TEST_DRIVER_NAME,
      vendorVersion: 'v1.0.0',
      manifest: {},
    });
    await expect(conn.call('Probe', {})).resolves.toEqual({ ready: true });
    const controllerCaps = await conn.call('ControllerGetCapabilities', {});
    expect(controllerCaps.capabilities.map((c) => c.type?.$case === 'rpc' && c.type.value.type)).toEqual([
      ControllerRpc.CREATE_DELETE_VOLUME,
      ControllerRpc.PUBLISH_UNPUBLISH_VOLUME,
    ]);
    await expect(conn.call('NodeGetCapabilities', {})).resolves.toEqual({ capabilities: [] });
    await expect(conn.call('NodeGetInfo', {})).resolves.toMatchObject({ nodeId: 'node-7' });
  });

  it('keeps volumes in memory and creates them idempotently by name', async () => {
    const { driver, conn } = await setup();
    const request = { name: 'pvc-1', capacityRange: { requiredBytes: 2048n }, volumeCapabilities: mount };
    const first = await conn.call('CreateVolume', request);
    const second = await conn.call('CreateVolume', request);
    expect(second).toEqual(first);
    expect(first.volume).toMatchObject({ volumeId: 'vol-pvc-1', capacityBytes: 2048n });
    expect([...driver.volumes.keys()]).toEqual(['vol-pvc-1']);
    await expect(
      conn.call('CreateVolume', { ...request, capacityRange: { requiredBytes: 4096n } }),
    ).rejects.toMatchObject({ code: status.ALREADY_EXISTS });
    await expect(conn.call('CreateVolume', { name: '', volumeCapabilities: mount })).rejects.toMatchObject({
      code: status.INVALID_ARGUMENT,
    });

    await conn.call('DeleteVolume', { volumeId: 'vol-pvc-1' });
    await conn.call('DeleteVolume', { volumeId: 'vol-pvc-1' });
    expect(driver.volumes.size).toBe(0);
  });

  it('publishes and unpublishes volumes per node', async () => {
    const { driver, conn } = await setup();
    await expect(conn.call('ControllerPublishVolume', { volumeId: 'vol-x', nodeId: 'n1' })).rejects.toMatchObject({
      code: status.NOT_FOUND,
    });
    await conn.call('CreateVolume', { name: 'x', volumeCapabilities: mount });
    await conn.call('ControllerPublishVolume', { volumeId: 'vol-x', nodeId: 'n1' });
    await conn.call('ControllerPublishVolume', { volumeId: 'vol-x', nodeId: 'n2' });
    expect(driver.published.get('vol-x')).toEqual(new Set(['n1', 'n2']));
    await conn.call('ControllerUnpublishVolume', { volumeId: 'vol-x', nodeId: 'n1' });
    await conn.call('ControllerUnpublishVolume', { volumeId: 'vol-x', nodeId: 'n1' });
    expect(driver.published.get('vol-x')).toEqual(new Set(['n2']));
  });

  it('answers UNIMPLEMENTED for methods without behaviour and for services it does not serve', async () => {
    const { conn } = await setup({ services: ['Identity'] });
    await expect(conn.call('NodeStageVolume', { volumeId: 'v' })).rejects.toMatchObject({
      code: status.UNIMPLEMENTED,
    });
    await expect(conn.call('GetPluginInfo', {})).resolves.toMatchObject({ name: TEST_DRIVER_NAME });
  });

  it('answers enqueued outcomes in order before falling back to the default', async () => {
    const { conn, driver } = await setup();
    driver.enqueue('GetPluginInfo', { name: 'first' }, csiError(status.UNAVAILABLE, 'warming up'), (req) => ({
      name: `handler saw ${JSON.stringify(req)}`,
    }));
    await expect(conn.call('GetPluginInfo', {})).resolves.toMatchObject({ name: 'first' });
    await expect(conn.call('GetPluginInfo', {})).rejects.toMatchObject({
      code: status.UNAVAILABLE,
      details: 'warming up',
    });
    await expect(conn.call('GetPluginInfo', {})).resolves.toMatchObject({ name: 'handler saw {}' });
    await expect(conn.call('GetPluginInfo', {})).resolves.toMatchObject({ name: TEST_DRIVER_NAME });
  });

  it('uses a handler until it is removed, and reports thrown errors as their status or Unknown', async () => {
    const { conn, driver } = await setup();
    driver.setHandler('NodeStageVolume', (req) => {
      if (req.volumeId === 'bad') throw csiError(status.FAILED_PRECONDITION, 'not attached');
      if (req.volumeId === 'boom') throw new Error('crashed');
      return {};
    });
    await expect(conn.call('NodeStageVolume', { volumeId: 'ok' })).resolves.toEqual({});
    await expect(conn.call('NodeStageVolume', { volumeId: 'bad' })).rejects.toMatchObject({
      code: status.FAILED_PRECONDITION,
    });
    await expect(conn.call('NodeStageVolume', { volumeId: 'boom' })).rejects.toMatchObject({
      code: status.UNKNOWN,
      details: 'crashed',
    });
    driver.setHandler('NodeStageVolume', undefined);
    await expect(conn.call('NodeStageVolume', { volumeId: 'ok' })).rejects.toMatchObject({
      code: status.UNIMPLEMENTED,
    });
  });

  it('injects failures for a number of calls', async () => {
    const { conn, driver } = await setup();
    driver.fail('Probe', status.RESOURCE_EXHAUSTED, undefined, 2);
    await expect(conn.call('Probe', {})).rejects.toMatchObject({
      code: status.RESOURCE_EXHAUSTED,
      details: 'injected RESOURCE_EXHAUSTED',
    });
    await expect(conn.call('Probe', {})).rejects.toMatchObject({ code: status.RESOURCE_EXHAUSTED });
    await expect(conn.call('Probe', {})).resolves.toEqual({ ready: true });
  });

  it('delays answers of a method', async () => {
    const { conn, driver } = await setup();
    driver.setDelay('Probe', 150);
    let started = Date.now();
    await conn.call('Probe', {});
    expect(Date.now() - started).toBeGreaterThanOrEqual(140);
    driver.setDelay('Probe', undefined);
    started = Date.now();
    await conn.call('Probe', {});
    expect(Date.now() - started).toBeLessThan(140);
  });

  it('holds calls until released', async () => {
    const { conn, driver } = await setup();
    const gate = driver.hold('DeleteVolume');
    let settled = false;
    const pending = conn.call('DeleteVolume', { volumeId: 'v' }).finally(() => {
      settled = true;
    });
    await driver.waitForCalls('DeleteVolume');
    await new Promise((r) => setTimeout(r, 100));
    expect(settled).toBe(false);
    gate.release();
    await expect(pending).resolves.toEqual({});
    // Released gates do not hold later calls.
    await expect(conn.call('DeleteVolume', { volumeId: 'v' })).resolves.toEqual({});
  });

  it('lets a held call end with the client deadline', async () => {
    const { conn, driver } = await setup();
    const gate = driver.hold('Probe');
    cleanups.push(() => gate.release());
    await expect(conn.call('Probe', {}, { timeoutMs: 100 })).rejects.toMatchObject({
      code: status.DEADLINE_EXCEEDED,
    });
  });

  it('logs every call with method, request and time', async () => {
    const { conn, driver } = await setup();
    const before = Date.now();
    await conn.call('NodeGetInfo', {});
    await conn.call('ControllerPublishVolume', { volumeId: 'v', nodeId: 'n', readonly: true }).catch(() => {});
    expect(driver.calls.map((c) => c.method)).toEqual(['NodeGetInfo', 'ControllerPublishVolume']);
    expect(driver.calls[1].time).toBeGreaterThanOrEqual(before);
    expect(driver.callsTo('ControllerPublishVolume')).toEqual([
      expect.objectContaining({ volumeId: 'v', nodeId: 'n', readonly: true }),
    ]);
  });

  it('waitForCalls rejects when the calls do not come', async () => {
    const driver = new CsiTestDriver();
    cleanups.push(() => driver.stop());
    await expect(driver.waitForCalls('Probe', 1, 50)).rejects.toThrow(/timed out waiting for 1 Probe/);
  });

  it('restarts on the same socket path with its state', async () => {
    const { conn, driver } = await setup();
    await conn.call('CreateVolume', { name: 'keep', volumeCapabilities: mount });
    const path = driver.socketPath;
    await driver.restart();
    expect(driver.socketPath).toBe(path);
    await expect(conn.call('Probe', {}, { timeoutMs: 3000 })).resolves.toEqual({ ready: true });
    expect(driver.volumes.has('vol-keep')).toBe(true);
  });

  it('can be started again after stop', async () => {
    const driver = await CsiTestDriver.start();
    cleanups.push(() => driver.stop());
    await driver.stop();
    await driver.start();
    const conn = await CsiConnection.connect({ address: driver.address, logger: discardLogger() });
    cleanups.push(() => conn.close());
    await expect(conn.call('Probe', {})).resolves.toEqual({ ready: true });
  });

  it('serves every unary method of the served services', async () => {
    const { conn } = await setup({ services: ['Identity', 'Controller', 'Node', 'GroupController'] });
    for (const info of Object.values(CSI_METHODS)) {
      expect(info.path).toBe(`/csi.v1.${info.service}/${info.name}`);
      // Each either answers or says UNIMPLEMENTED; none is missing from the server.
      const result = await conn.call(info.name, {}).then(
        () => 'ok',
        (err: { code: number }) => err.code,
      );
      expect(['ok', status.UNIMPLEMENTED, status.INVALID_ARGUMENT, status.NOT_FOUND]).toContain(result);
    }
  });
});
