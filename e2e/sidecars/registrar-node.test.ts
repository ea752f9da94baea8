import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { V1CSINode, V1Node, V1VolumeAttachment } from '@kubernetes/client-node';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CsiConnection } from '../../src/shared/csi/connection.js';
import { discardLogger } from '../../src/shared/log/logger.js';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess, freePort } from '../../src/shared/testing/sidecar-process.js';
import type { HollowKubelet } from '../fixture/cluster.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { testBinary } from '../fixture/binaries.js';
import { ManagedProcess, waitUntil } from '../fixture/managed-process.js';
import { MOCK_DRIVER, createMockVolumeWithPv } from '../fixture/mock-storage.js';

// The whole node story on the local control plane: a hollow kubelet (kubemark: the real kubelet with a fake
// runtime) finds this project's registrar, registers the mock driver for real (NodeGetInfo, Node, CSINode), and
// csi-attacher then publishes to the node ID that registration wrote.

const nodeName = 'hollow-reg';
const attachLimit = 5;
const cluster = useTestCluster('registrar-node', {
  controllerManager: false,
  mockDriver: { args: ['--enable-topology', `--attach-limit=${attachLimit}`] },
});

let node: HollowKubelet;
let registrar: SidecarProcess;
let healthPort: number;
let expected: { nodeId: string; topology: Record<string, string> };

async function csiNode(): Promise<V1CSINode> {
  return (await cluster().admin.must('GET', `/apis/storage.k8s.io/v1/csinodes/${nodeName}`)) as V1CSINode;
}

/** The CSINode's drivers; the list reads null once kubelet has removed the last one. */
function driversOf(csiNode: V1CSINode): V1CSINode['spec']['drivers'] {
  return csiNode.spec.drivers ?? [];
}

async function k8sNode(): Promise<V1Node> {
  return (await cluster().admin.must('GET', `/api/v1/nodes/${nodeName}`)) as V1Node;
}

function startRegistrar(): SidecarProcess {
  const c = cluster();
  return new SidecarProcess(registrarBundle, [
    `--csi-address=${c.driverSocket}`,
    // kubelet runs on this host too: the host path of the driver socket is the socket itself.
    `--kubelet-registration-path=${c.driverSocket}`,
    `--plugin-registration-path=${node.pluginRegistrationDir}`,
    `--http-endpoint=127.0.0.1:${healthPort}`,
  ]);
}

let registrarBundle: string;

beforeAll(async () => {
  const c = cluster();
  registrarBundle = await bundleSidecar('csi-node-driver-registrar');
  const conn = await CsiConnection.connect({ address: c.driverSocket, logger: discardLogger() });
  try {
    const info = await conn.call('NodeGetInfo', {}, { timeoutMs: 5_000 });
    expected = { nodeId: info.nodeId, topology: info.accessibleTopology?.segments ?? {} };
  } finally {
    conn.close();
  }
  node = await c.startHollowKubelet(nodeName);
  healthPort = await freePort();
  registrar = startRegistrar();
}, 180_000);

afterAll(async () => {
  await registrar?.stop();
});

describe('csi-node-driver-registrar with a hollow kubelet', () => {
  it("is registered by kubelet: the CSINode lists the driver with the driver's node ID, topology keys and limit", async () => {
    await waitUntil(
      'CSINode entry for the driver',
      async () => driversOf(await csiNode()).some((d) => d.name === MOCK_DRIVER),
      60_000,
    );
    expect(Object.keys(expected.topology)).not.toHaveLength(0);
    const entry = driversOf(await csiNode()).find((d) => d.name === MOCK_DRIVER);
    expect(entry).toMatchObject({
      nodeID: expected.nodeId,
      topologyKeys: Object.keys(expected.topology).sort(),
      allocatable: { count: attachLimit },
    });
    await registrar.waitForLog(/"Received NotifyRegistrationStatus call" status="plugin_registered:true"/);
    expect((await fetch(`http://127.0.0.1:${healthPort}/readyz`)).status).toBe(200);
  });

  it('kubelet writes the node-ID annotation and the topology labels on the Node', async () => {
    const n = await k8sNode();
    expect(JSON.parse(n.metadata?.annotations?.['csi.volume.kubernetes.io/nodeid'] ?? '{}')).toEqual({
      [MOCK_DRIVER]: expected.nodeId,
    });
    expect(n.metadata?.labels).toMatchObject(expected.topology);
  });

  it('csi-attacher publishes to the node ID that registration wrote', async () => {
    const c = cluster();
    await c.admin.must('POST', '/apis/storage.k8s.io/v1/csidrivers', {
      metadata: { name: MOCK_DRIVER },
      spec: { attachRequired: true },
    });
    await createMockVolumeWithPv(c, 'pv-registered-node');
    const attacher = new SidecarProcess(await bundleSidecar('csi-attacher'), [
      `--csi-address=${c.driverSocket}`,
      `--kubeconfig=${await c.serviceAccountKubeconfig('csi-attacher.yaml')}`,
      '--reconcile-sync=10m',
      '-v=5',
    ]);
    try {
      await c.admin.must('POST', '/apis/storage.k8s.io/v1/volumeattachments', {
        metadata: { name: 'va-registered-node' },
        spec: { attacher: MOCK_DRIVER, nodeName, source: { persistentVolumeName: 'pv-registered-node' } },
      });
      await waitUntil(
        'VolumeAttachment attached',
        async () =>
          (
            (await c.admin.must(
              'GET',
              '/apis/storage.k8s.io/v1/volumeattachments/va-registered-node',
            )) as V1VolumeAttachment
          ).status?.attached === true,
        60_000,
      );
      const publish = attacher.log.split('\n').find((l) => /GRPC call.*ControllerPublishVolume/.test(l)) ?? '';
      expect(publish).toContain(`node_id`);
      expect(publish).toContain(expected.nodeId);
    } finally {
      await attacher.stop();
    }
  });

  it('registers the upstream hostpath driver beside it: CSINode lists both drivers, each with its own node ID', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'hostpath-'));
    const socket = join(dir, 'csi.sock');
    const hostpath = new ManagedProcess({
      name: 'hostpathplugin',
      command: testBinary('hostpathplugin'),
      args: [
        '--drivername=hostpath.csi.k8s.io',
        `--endpoint=unix://${socket}`,
        `--nodeid=${nodeName}`,
        `--statedir=${join(dir, 'state')}`,
        '--enable-topology',
        '--maxvolumespernode=9',
      ],
      logFile: join(dir, 'hostpathplugin.log'),
    });
    hostpath.start();
    const second = new SidecarProcess(registrarBundle, [
      `--csi-address=${socket}`,
      `--kubelet-registration-path=${socket}`,
      `--plugin-registration-path=${node.pluginRegistrationDir}`,
    ]);
    try {
      await waitUntil(
        'hostpath entry in CSINode',
        async () => driversOf(await csiNode()).some((d) => d.name === 'hostpath.csi.k8s.io'),
        60_000,
      );
      const drivers = driversOf(await csiNode());
      expect(drivers.find((d) => d.name === 'hostpath.csi.k8s.io')).toMatchObject({
        nodeID: nodeName,
        topologyKeys: ['topology.hostpath.csi/node'],
        allocatable: { count: 9 },
      });
      expect(drivers.find((d) => d.name === MOCK_DRIVER)?.nodeID).toBe(expected.nodeId);
      const n = await k8sNode();
      expect(JSON.parse(n.metadata?.annotations?.['csi.volume.kubernetes.io/nodeid'] ?? '{}')).toEqual({
        [MOCK_DRIVER]: expected.nodeId,
        'hostpath.csi.k8s.io': nodeName,
      });
      expect(n.metadata?.labels?.['topology.hostpath.csi/node']).toBe(nodeName);
    } finally {
      // SIGTERM, so that its socket goes and kubelet deregisters hostpath before the next test.
      second.child.kill('SIGTERM');
      await second.waitForExit();
      await hostpath.stop();
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('SIGTERM: the socket goes and kubelet deregisters the driver from CSINode and the Node annotation', async () => {
    registrar.child.kill('SIGTERM');
    expect(await registrar.waitForExit()).toBe(0);
    await waitUntil(
      'driver gone from CSINode',
      async () => !driversOf(await csiNode()).some((d) => d.name === MOCK_DRIVER),
      60_000,
    );
    // Kubelet updates the CSINode first and the Node after it.
    const nodeIds = async (): Promise<Record<string, string>> =>
      JSON.parse((await k8sNode()).metadata?.annotations?.['csi.volume.kubernetes.io/nodeid'] ?? '{}') as Record<
        string,
        string
      >;
    await waitUntil('driver gone from the Node annotation', async () => !(MOCK_DRIVER in (await nodeIds())), 60_000);
    expect(await nodeIds()).not.toHaveProperty(MOCK_DRIVER);
  });

  it('a new registrar registers the driver again', async () => {
    registrar = startRegistrar();
    await waitUntil(
      'CSINode entry again',
      async () => driversOf(await csiNode()).some((d) => d.name === MOCK_DRIVER && d.nodeID === expected.nodeId),
      60_000,
    );
    await registrar.waitForLog(/plugin_registered:true/);
  });
});
