import { afterEach, describe, expect, it } from 'vitest';
import { ControllerServiceCapability_RPC_Type, PluginCapability_Service_Type } from '../../gen/csi.js';
import { discardLogger } from '../log/logger.js';
import { createMetricsRegistry } from '../metrics/registry.js';
import { CsiTestDriver, TEST_DRIVER_NAME } from '../testing/csi-test-driver.js';
import { CsiConnection } from './connection.js';
import { discoverDriver } from './driver-discovery.js';
import { CsiOperationMetrics } from './metrics.js';

describe('discoverDriver', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('probes, reads the name and both capability sets, and labels every call after GetPluginInfo with the driver', async () => {
    const driver = await CsiTestDriver.start({
      pluginCapabilities: [
        PluginCapability_Service_Type.CONTROLLER_SERVICE,
        PluginCapability_Service_Type.VOLUME_ACCESSIBILITY_CONSTRAINTS,
      ],
      controllerCapabilities: [ControllerServiceCapability_RPC_Type.PUBLISH_UNPUBLISH_VOLUME],
    });
    cleanups.push(() => driver.stop());
    const registry = createMetricsRegistry({ processMetrics: false });
    const metrics = new CsiOperationMetrics({ registry });
    const conn = await CsiConnection.connect({ address: driver.address, logger: discardLogger(), metrics });
    cleanups.push(() => conn.close());

    const discovered = await discoverDriver({ conn, logger: discardLogger(), timeoutMs: 5_000, metrics });

    expect(discovered.name).toBe(TEST_DRIVER_NAME);
    expect([...discovered.plugin].sort()).toEqual(
      [
        PluginCapability_Service_Type.CONTROLLER_SERVICE,
        PluginCapability_Service_Type.VOLUME_ACCESSIBILITY_CONSTRAINTS,
      ].sort(),
    );
    expect([...discovered.controller]).toEqual([ControllerServiceCapability_RPC_Type.PUBLISH_UNPUBLISH_VOLUME]);
    expect(driver.calls.map((c) => c.method)).toEqual([
      'Probe',
      'GetPluginInfo',
      'GetPluginCapabilities',
      'ControllerGetCapabilities',
    ]);
    // As Go csi-provisioner v6.3 and csi-attacher: only the two calls before the name is known are unknown-driver.
    const counts = (await registry.metrics())
      .split('\n')
      .filter((l) => l.startsWith('csi_sidecar_operations_seconds_count'));
    expect(counts).toEqual([
      'csi_sidecar_operations_seconds_count{driver_name="unknown-driver",method_name="/csi.v1.Identity/Probe",grpc_status_code="OK"} 1',
      'csi_sidecar_operations_seconds_count{driver_name="unknown-driver",method_name="/csi.v1.Identity/GetPluginInfo",grpc_status_code="OK"} 1',
      `csi_sidecar_operations_seconds_count{driver_name="${TEST_DRIVER_NAME}",method_name="/csi.v1.Identity/GetPluginCapabilities",grpc_status_code="OK"} 1`,
      `csi_sidecar_operations_seconds_count{driver_name="${TEST_DRIVER_NAME}",method_name="/csi.v1.Controller/ControllerGetCapabilities",grpc_status_code="OK"} 1`,
    ]);
  });
});

describe('discoverDriver for csi-attacher', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
  });

  it('does not ask for controller capabilities when the plugin has no CONTROLLER_SERVICE', async () => {
    const driver = await CsiTestDriver.start({ pluginCapabilities: [] });
    cleanups.push(() => driver.stop());
    const conn = await CsiConnection.connect({ address: driver.address, logger: discardLogger() });
    cleanups.push(() => conn.close());
    const discovered = await discoverDriver({
      conn,
      logger: discardLogger(),
      timeoutMs: 5_000,
      callTimeoutMs: 1_000,
      controllerCapabilitiesNeedService: true,
    });
    expect(discovered.controller.size).toBe(0);
    expect(driver.calls.map((c) => c.method)).toEqual(['Probe', 'GetPluginInfo', 'GetPluginCapabilities']);
  });
});
