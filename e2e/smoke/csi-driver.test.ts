import { execFile } from 'node:child_process';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { CsiConnection } from '../../src/shared/csi/connection.js';
import { getControllerCapabilities, getDriverName } from '../../src/shared/csi/rpc.js';
import { ControllerServiceCapability_RPC_Type } from '../../src/gen/csi.js';
import { discardLogger } from '../../src/shared/log/logger.js';
import { useTestCluster } from '../fixture/cluster-suite.js';

const run = promisify(execFile);
const cluster = useTestCluster('csi-driver', { controllerManager: false, mockDriver: true });

describe('the real CSI driver fixture', () => {
  it('passes csi-sanity controller tests', async () => {
    const target = join(cluster().dir, 'sanity');
    mkdirSync(target, { recursive: true });
    // The mock accepts any ControllerModifyVolume, so the VolumeAttributesClass error specs are excluded.
    const { stdout } = await run(
      join(cluster().binDir, 'csi-sanity'),
      [
        '--ginkgo.no-color',
        `--csi.endpoint=unix://${cluster().driverSocket}`,
        `--csi.mountdir=${join(target, 'mount')}`,
        `--csi.stagingdir=${join(target, 'staging')}`,
        '--ginkgo.focus=Controller',
        '--ginkgo.skip=ModifyVolume|invalid volume attribute class',
      ],
      { timeout: 300_000, maxBuffer: 64 * 1024 * 1024 },
    );
    const summary = /Ran (\d+) of \d+ Specs[\s\S]*?SUCCESS! -- (\d+) Passed \| 0 Failed/.exec(stdout);
    expect(summary, stdout.slice(-3000)).not.toBeNull();
    expect(Number(summary?.[2])).toBeGreaterThan(20);
  });

  it('answers the TypeScript CSI client: GetPluginInfo, CreateVolume, DeleteVolume', async () => {
    const conn = await CsiConnection.connect({ address: cluster().driverSocket, logger: discardLogger() });
    try {
      expect(await getDriverName(conn, 5_000)).toBe('io.kubernetes.storage.mock');
      const caps = await getControllerCapabilities(conn, 5_000);
      expect(caps.has(ControllerServiceCapability_RPC_Type.CREATE_DELETE_VOLUME)).toBe(true);
      const created = await conn.call(
        'CreateVolume',
        {
          name: 'pvc-e2e-1',
          capacityRange: { requiredBytes: 1n << 30n },
          volumeCapabilities: [{ accessType: { $case: 'mount', value: { fsType: 'ext4' } }, accessMode: { mode: 1 } }],
        },
        { timeoutMs: 10_000 },
      );
      expect(created.volume?.volumeId).toBeTruthy();
      expect(created.volume?.capacityBytes).toBe(1n << 30n);
      await conn.call('DeleteVolume', { volumeId: created.volume?.volumeId }, { timeoutMs: 10_000 });
      expect(cluster().driver?.log()).toContain('DeleteVolume');
    } finally {
      conn.close();
    }
  });
});
