import { join } from 'node:path';
import type { V1PersistentVolume, V1VolumeAttachment } from '@kubernetes/client-node';
import { afterEach, beforeAll, describe, expect, it } from 'vitest';
import { bundleSidecar } from '../../src/shared/testing/sidecar-bundle.js';
import { SidecarProcess, freePort } from '../../src/shared/testing/sidecar-process.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { ManagedProcess, waitUntil } from '../fixture/managed-process.js';
import { MOCK_DRIVER, createMockVolumeWithPv } from '../fixture/mock-storage.js';

// Upstream's csi-attacher v4.12.0 (built by e2e/infra/build.sh from the module proxy) and ours, one after the other
// on the same cluster and driver, with the same flags: what each leaves on the VolumeAttachment and the PV must be the
// same, field for field, but for names, times and versions.
const cluster = useTestCluster('attacher-compat', { controllerManager: false, mockDriver: true });
const running: { stop(): Promise<void> }[] = [];
let bundle: string;
let kubeconfig: string;

beforeAll(async () => {
  const c = cluster();
  bundle = await bundleSidecar('csi-attacher');
  kubeconfig = await c.serviceAccountKubeconfig('csi-attacher.yaml');
  for (const [name, nodeID] of [
    ['node-ok', MOCK_DRIVER],
    ['node-bad', 'wrong-node'],
  ]) {
    await c.admin.must('POST', '/apis/storage.k8s.io/v1/csinodes', {
      metadata: { name },
      spec: { drivers: [{ name: MOCK_DRIVER, nodeID }] },
    });
  }
});
afterEach(async () => {
  for (const p of running.splice(0)) await p.stop();
});

type Implementation = 'go' | 'ts';

async function startAttacher(implementation: Implementation, metricsPort: number): Promise<void> {
  const c = cluster();
  const args = [
    `--csi-address=${c.driverSocket}`,
    `--kubeconfig=${kubeconfig}`,
    `--http-endpoint=127.0.0.1:${metricsPort}`,
    '--retry-interval-start=500ms',
    '-v=4',
  ];
  if (implementation === 'go') {
    const go = new ManagedProcess({
      name: 'go-csi-attacher',
      command: join(c.binDir, 'csi-attacher'),
      args,
      logFile: join(c.dir, 'go-csi-attacher.log'),
    });
    go.start();
    running.push(go);
    await waitUntil('Go csi-attacher started', () => go.log().includes('Starting CSI attacher'), 60_000);
    return;
  }
  const ts = new SidecarProcess(bundle, args);
  running.push(ts);
  await ts.waitForLog(/Caches synced, starting workers/, 60_000);
}

/** A volume on the mock, its PV and a VolumeAttachment on node; returns the names. */
async function attachmentFor(name: string, nodeName: string): Promise<void> {
  const c = cluster();
  await createMockVolumeWithPv(c, name, {
    mountOptions: ['noatime'],
    csi: { fsType: 'xfs', volumeAttributes: { tier: 'gold' } },
  });
  await c.admin.must('POST', '/apis/storage.k8s.io/v1/volumeattachments', {
    metadata: { name },
    spec: { attacher: MOCK_DRIVER, nodeName, source: { persistentVolumeName: name } },
  });
}

async function attachment(name: string): Promise<V1VolumeAttachment> {
  return (await cluster().admin.must('GET', `/apis/storage.k8s.io/v1/volumeattachments/${name}`)) as V1VolumeAttachment;
}

async function volume(name: string): Promise<V1PersistentVolume> {
  return (await cluster().admin.must('GET', `/api/v1/persistentvolumes/${name}`)) as V1PersistentVolume;
}

/** What an attacher wrote: the object without what differs by nature (names, uids, versions, times). */
function written(obj: V1VolumeAttachment | V1PersistentVolume): unknown {
  const text = JSON.stringify(obj)
    .replace(/"(resourceVersion|uid|creationTimestamp|time|lastPhaseTransitionTime)":"[^"]*"/g, '"$1":"…"')
    .replace(/"(go|ts)-(ok|bad)"/g, '"NAME"')
    .replace(/"volumeHandle":"[^"]*"/g, '"volumeHandle":"…"');
  const parsed = JSON.parse(text) as {
    metadata: { managedFields?: { manager?: string; operation?: string; subresource?: string }[] };
  };
  // Who wrote which part, as a set: the entries' order follows the timing of the writes.
  parsed.metadata.managedFields = parsed.metadata.managedFields
    ?.map(({ manager, operation, subresource }) => ({ manager, operation, ...(subresource ? { subresource } : {}) }))
    .sort((a, b) => JSON.stringify(a).localeCompare(JSON.stringify(b)));
  return parsed;
}

/** The CSI call series as `method driver_name code` (label order differs: Go sorts them), and the metric families. */
function metricShape(text: string): { calls: string[]; families: string[] } {
  const calls = [...text.matchAll(/^csi_sidecar_operations_seconds_count\{([^}]*)\}/gm)]
    .map(([, labels]) => Object.fromEntries([...labels.matchAll(/(\w+)="([^"]*)"/g)].map(([, k, v]) => [k, v])))
    .map((l) => `${l['method_name']} ${l['driver_name']} ${l['grpc_status_code']}`)
    .sort();
  const families = [...text.matchAll(/^# TYPE (\S+) /gm)]
    .map(([, name]) => name)
    .filter((n) => /^(csi_|workqueue_|leader_)/.test(n));
  return { calls, families: [...new Set(families)].sort() };
}

async function outcome(implementation: Implementation) {
  const metricsPort = await freePort();
  await startAttacher(implementation, metricsPort);
  await attachmentFor(`${implementation}-ok`, 'node-ok');
  await attachmentFor(`${implementation}-bad`, 'node-bad');
  await waitUntil('attached', async () => (await attachment(`${implementation}-ok`)).status?.attached === true, 60_000);
  await waitUntil(
    'attachError',
    async () => (await attachment(`${implementation}-bad`)).status?.attachError !== undefined,
    60_000,
  );
  const result = {
    metrics: metricShape(await (await fetch(`http://127.0.0.1:${metricsPort}/metrics`)).text()),
    attached: written(await attachment(`${implementation}-ok`)),
    failed: written(await attachment(`${implementation}-bad`)),
    volume: written(await volume(`${implementation}-ok`)),
  };
  // Detach: the finalizer goes, then the VolumeAttachment.
  await cluster().admin.must('DELETE', `/apis/storage.k8s.io/v1/volumeattachments/${implementation}-ok`);
  await waitUntil(
    'detached and gone',
    async () =>
      (await cluster().admin.send('GET', `/apis/storage.k8s.io/v1/volumeattachments/${implementation}-ok`)).status ===
      404,
    60_000,
  );
  for (const p of running.splice(0)) await p.stop();
  return result;
}

describe('csi-attacher side by side with upstream v4.12.0', () => {
  it('writes the same VolumeAttachment (attached and failed) and PV as the Go attacher', async () => {
    const go = await outcome('go');
    const ts = await outcome('ts');
    expect(ts.attached).toEqual(go.attached);
    expect(ts.failed).toEqual(go.failed);
    expect(ts.volume).toEqual(go.volume);
    // The same CSI calls with the same labels: Probe and GetPluginInfo as unknown-driver, the rest with the driver.
    expect(ts.metrics.calls).toEqual(go.metrics.calls);
    expect(go.metrics.calls).toContain(`/csi.v1.Identity/GetPluginCapabilities ${MOCK_DRIVER} OK`);
    expect(go.metrics.calls).toContain('/csi.v1.Identity/Probe unknown-driver OK');
    // Every family Go exports for these, ours too (ours adds the backlog gauges).
    expect(ts.metrics.families).toEqual(expect.arrayContaining(go.metrics.families));
    // The comparison is not empty: both attached with the driver's context, and failed with its gRPC code.
    expect(JSON.stringify(go.attached)).toContain('"attachmentMetadata":{"device":"/dev/mock","readonly":"false"}');
    expect(JSON.stringify(go.failed)).toContain('"errorCode":5');
  });
});
