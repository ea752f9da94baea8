import { createHash } from 'node:crypto';
import type { TestCluster } from '../../e2e/fixture/cluster.js';
import { VolumeCapability_AccessMode_Mode as AccessMode } from '../../src/gen/csi.js';
import { CsiConnection } from '../../src/shared/csi/connection.js';
import { discardLogger } from '../../src/shared/log/logger.js';
import { DRIVER } from '../shared/cluster.js';
import { inParallel } from '../shared/kube.js';

// The cluster objects of the attacher benchmark: one Node with a CSINode naming the mock driver, PVs of volumes that
// exist on the mock driver, and VolumeAttachments created the way kube-controller-manager's attach/detach controller
// creates them (the bench plays that controller, so each run creates exactly the same objects).

/** manifests/rbac/csi-attacher.yaml: ServiceAccount default/csi-attacher. */
export const ATTACHER_USER = 'system:serviceaccount:default:csi-attacher';
/** `external-attacher/<driver name with every character outside [a-zA-Z0-9-] replaced by '-'>`. */
export const FINALIZER = `external-attacher/${DRIVER.replace(/[^a-zA-Z0-9-]/g, '-')}`;
export const NODE_ID_ANNOTATION = 'csi.alpha.kubernetes.io/node-id';
export const NODE = 'bench-node';
/** Label of every bench VolumeAttachment: which set it belongs to, for label-selected deletecollection. */
export const SET_LABEL = 'bench.example/set';
export const VA_PATH = '/apis/storage.k8s.io/v1/volumeattachments';

export interface AttacherFlags {
  csiAddress: string;
  kubeconfig: string;
  qps: number;
  burst: number;
  /** `--timeout` of each ControllerPublish/Unpublish (upstream's default, 15 s, passed explicitly). */
  timeout: string;
  workers: number;
}

/** Upstream csi-attacher flags; any binary that accepts them can be measured with identical settings. */
export function upstreamFlags(f: AttacherFlags): string[] {
  return [
    `--csi-address=${f.csiAddress}`,
    `--kubeconfig=${f.kubeconfig}`,
    `--kube-api-qps=${f.qps}`,
    `--kube-api-burst=${f.burst}`,
    `--timeout=${f.timeout}`,
    `--worker-threads=${f.workers}`,
    '-v=2',
  ];
}

/**
 * The CSIDriver (attachRequired), the Node and its CSINode with the mock's node ID (the driver name). The Node has
 * no `volumes.kubernetes.io/controller-managed-attach-detach` annotation, so KCM's attach/detach controller leaves
 * it alone: the VolumeAttachments are the bench's.
 */
export async function createNode(cluster: TestCluster): Promise<void> {
  await cluster.admin.must('POST', '/apis/storage.k8s.io/v1/csidrivers', {
    metadata: { name: DRIVER },
    spec: { attachRequired: true },
  });
  await cluster.admin.must('POST', '/api/v1/nodes', { metadata: { name: NODE } });
  await cluster.admin.must('POST', '/apis/storage.k8s.io/v1/csinodes', {
    metadata: { name: NODE },
    spec: { drivers: [{ name: DRIVER, nodeID: DRIVER }] },
  });
}

const CAPABILITY = {
  accessType: { $case: 'mount' as const, value: { fsType: 'ext4', mountFlags: [], volumeMountGroup: '' } },
  accessMode: { mode: AccessMode.SINGLE_NODE_WRITER },
};

/** Volumes on the mock driver through its CSI socket (ControllerPublishVolume needs the volume to exist there). */
export class MockVolumes {
  private readonly conn: CsiConnection;

  private constructor(conn: CsiConnection) {
    this.conn = conn;
  }

  static async connect(cluster: TestCluster): Promise<MockVolumes> {
    return new MockVolumes(await CsiConnection.connect({ address: cluster.driverSocket, logger: discardLogger() }));
  }

  /** CreateVolume for each name; returns name → volume ID. */
  async create(names: readonly string[], concurrency: number): Promise<Map<string, string>> {
    const ids = new Map<string, string>();
    await inParallel(names, concurrency, async (name) => {
      const res = await this.conn.call(
        'CreateVolume',
        { name, capacityRange: { requiredBytes: 1n << 30n, limitBytes: 0n }, volumeCapabilities: [CAPABILITY] },
        { timeoutMs: 30_000 },
      );
      const id = res.volume?.volumeId;
      if (!id) throw new Error(`CreateVolume ${name}: no volume ID`);
      ids.set(name, id);
    });
    return ids;
  }

  /** ControllerPublishVolume to the mock's node: the driver's state for a VolumeAttachment created as attached. */
  async publish(volumeIds: readonly string[], concurrency: number): Promise<Record<string, string>> {
    let context: Record<string, string> = {};
    await inParallel(volumeIds, concurrency, async (volumeId) => {
      const res = await this.conn.call(
        'ControllerPublishVolume',
        { volumeId, nodeId: DRIVER, volumeCapability: CAPABILITY, readonly: false },
        { timeoutMs: 30_000 },
      );
      context = { ...res.publishContext };
    });
    return context;
  }

  close(): void {
    this.conn.close();
  }
}

/** A CSI PV of the mock driver, as a provisioner would have created it (no claim: the attacher reads none). */
export function volumeBody(name: string, volumeId: string): object {
  return {
    metadata: { name },
    spec: {
      capacity: { storage: '1Gi' },
      accessModes: ['ReadWriteOnce'],
      persistentVolumeReclaimPolicy: 'Retain',
      storageClassName: '',
      volumeMode: 'Filesystem',
      csi: { driver: DRIVER, volumeHandle: volumeId, fsType: 'ext4' },
    },
  };
}

/** The name KCM gives the VolumeAttachment of a PV on a node: `csi-` + a SHA-256 hex digest. */
export function attachmentName(pvName: string, salt = ''): string {
  return `csi-${createHash('sha256').update(`${pvName}/${DRIVER}/${NODE}/${salt}`).digest('hex')}`;
}

/** A VolumeAttachment for a PV on the bench node, in set `set`, as KCM's attach/detach controller creates it. */
export function attachmentBody(name: string, pvName: string, set: string): object {
  return {
    metadata: { name, labels: { [SET_LABEL]: set } },
    spec: { attacher: DRIVER, nodeName: NODE, source: { persistentVolumeName: pvName } },
  };
}
