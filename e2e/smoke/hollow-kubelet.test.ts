import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import type { RegistrationStatus } from '../../src/gen/pluginregistration/api.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { waitUntil } from '../fixture/managed-process.js';
import { startRegistrationServer } from '../fixture/registration-server.js';

const cluster = useTestCluster('hollow-kubelet', { controllerManager: false, mockDriver: true });

describe('hollow kubelet (kubemark --morph=kubelet)', () => {
  it('registers a CSI driver for real: NodeGetInfo on the driver, then CSINode and the Node annotation', async () => {
    const node = await cluster().startHollowKubelet('hollow-1');
    const statuses: RegistrationStatus[] = [];
    const driverName = 'io.kubernetes.storage.mock';
    const server = await startRegistrationServer({
      socket: join(node.pluginRegistrationDir, `${driverName}-reg.sock`),
      driverName,
      endpoint: cluster().driverSocket,
      statuses,
    });
    try {
      await waitUntil('NotifyRegistrationStatus', () => statuses.length > 0, 60_000);
      expect(statuses[0]).toMatchObject({ pluginRegistered: true });
      const csiNode = (await cluster().admin.must('GET', '/apis/storage.k8s.io/v1/csinodes/hollow-1')) as {
        spec: { drivers: { name: string; nodeID: string }[] };
      };
      expect(csiNode.spec.drivers.map((d) => d.name)).toContain(driverName);
      const k8sNode = (await cluster().admin.must('GET', '/api/v1/nodes/hollow-1')) as {
        metadata: { annotations: Record<string, string> };
      };
      expect(JSON.parse(k8sNode.metadata.annotations['csi.volume.kubernetes.io/nodeid'])).toHaveProperty(driverName);
      expect(cluster().driver?.log()).toContain('NodeGetInfo');
    } finally {
      server.forceShutdown();
    }
  });
});
