import { describe, expect, it } from 'vitest';
import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { TEST_DRIVER_NAME } from '../shared/testing/csi-test-driver.js';
import { ANN_ALPHA_SELECTED_NODE, ANN_MIGRATED_TO, ANN_SELECTED_NODE } from './keys.js';
import { CLAIM_KEY, useClaimControllerFixture } from './testing/claim-controller-fixture.js';
import type { FixtureOptions, ClaimControllerFixture } from './testing/claim-controller-fixture.js';

const startFixture = useClaimControllerFixture();

async function start(options?: FixtureOptions): Promise<ClaimControllerFixture> {
  const f = await startFixture(options);
  f.classes.get('sc')!.volumeBindingMode = 'WaitForFirstConsumer';
  return f;
}

function selectNode(f: ClaimControllerFixture, annotation = ANN_SELECTED_NODE): void {
  f.claims.get(CLAIM_KEY)!.metadata!.annotations![annotation] = 'node1';
}

const updatedClaims = (f: ClaimControllerFixture): V1PersistentVolumeClaim[] =>
  f.kube.callsTo('updateClaim').map((args) => args[0] as V1PersistentVolumeClaim);

const apiCalls = (f: ClaimControllerFixture): string[] => f.kube.calls.map((c) => c.method);

describe('ClaimController and the selected node', () => {
  // sig-storage-lib-external-provisioner v13 (csi-provisioner v6.3) does not look the node up: without topology
  // nothing needs it, so a claim whose selected node is gone is provisioned and binds.
  it('provisions without reading the selected node when the driver has no topology, even if the node is gone', async () => {
    const f = await start();
    selectNode(f);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
    expect(f.driver.callsTo('CreateVolume')[0].accessibilityRequirements).toBeUndefined();
    expect(f.recorder.reasons()).toEqual(['Provisioning', 'ProvisioningSucceeded']);
    expect(apiCalls(f)).toEqual(['createPersistentVolume']);
  });

  it("sends a claim whose selected node is gone with its CSINode back to the scheduler, with upstream's text", async () => {
    const f = await start({ capabilities: { topology: true } });
    selectNode(f);
    await f.controller.sync(CLAIM_KEY);
    expect(f.recorder.events.map((e) => [e.type, e.reason, e.message])).toEqual([
      ['Normal', 'Provisioning', `External provisioner is provisioning volume for claim "${CLAIM_KEY}"`],
      [
        'Warning',
        'ProvisioningFailed',
        'failed to get selected CSINode node1: csinode.storage.k8s.io "node1" not found',
      ],
    ]);
    expect(updatedClaims(f)).toHaveLength(1);
    expect(updatedClaims(f)[0].metadata?.annotations).not.toHaveProperty(ANN_SELECTED_NODE);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });

  it('retries without rescheduling when only the Node is gone and its CSINode is still there', async () => {
    const f = await start({ capabilities: { topology: true } });
    selectNode(f);
    f.csiNodes.set({
      metadata: { name: 'node1' },
      spec: { drivers: [{ name: TEST_DRIVER_NAME, nodeID: 'n1', topologyKeys: ['zone'] }] },
    });
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow(
      'error generating accessibility requirements: topology labels from selected node map[] does not match topology keys from CSINode [zone]',
    );
    expect(updatedClaims(f)).toHaveLength(0);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });

  it('does not act on the cached claim that still names the old node after a reschedule', async () => {
    const f = await start({ capabilities: { topology: true } });
    selectNode(f);
    await f.controller.sync(CLAIM_KEY);
    expect(updatedClaims(f)).toHaveLength(1);
    // Re-queued before the watch delivered the update (a StorageClass change re-queues every claim).
    await f.controller.sync(CLAIM_KEY);
    expect(updatedClaims(f)).toHaveLength(1);
    expect(f.recorder.reasons()).toEqual(['Provisioning', 'ProvisioningFailed']);
    // The scheduler picked another node and the watch brought the new version.
    const claim = f.claims.get(CLAIM_KEY)!;
    claim.metadata!.resourceVersion = '8';
    claim.metadata!.annotations![ANN_SELECTED_NODE] = 'node2';
    f.nodes.set({ metadata: { name: 'node2', labels: { zone: 'b' } } });
    f.csiNodes.set({
      metadata: { name: 'node2' },
      spec: { drivers: [{ name: TEST_DRIVER_NAME, nodeID: 'n2', topologyKeys: ['zone'] }] },
    });
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
    expect(f.controller.bookkeepingSizes['rescheduled']).toBe(0);
  });

  it('leaves a late-binding claim with only the alpha annotation to the scheduler, as the library', async () => {
    const f = await start({ capabilities: { topology: true } });
    selectNode(f, ANN_ALPHA_SELECTED_NODE);
    await expect(f.controller.sync(CLAIM_KEY)).resolves.toBeUndefined();
    expect(f.recorder.events).toEqual([]);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });

  it('cannot reschedule a claim whose node is named by the alpha annotation only: the failure is retried', async () => {
    const f = await start({ capabilities: { topology: true } });
    f.classes.get('sc')!.volumeBindingMode = 'Immediate';
    selectNode(f, ANN_ALPHA_SELECTED_NODE);
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('csinode.storage.k8s.io "node1" not found');
    expect(updatedClaims(f)).toHaveLength(0);
  });
});

describe('ClaimController and a StorageClass of another provisioner', () => {
  it('stops silently, as upstream, when the class names another provisioner', async () => {
    const f = await start();
    f.classes.get('sc')!.volumeBindingMode = 'Immediate';
    f.classes.get('sc')!.provisioner = 'other.example.com';
    await expect(f.controller.sync(CLAIM_KEY)).resolves.toBeUndefined();
    expect(f.recorder.events).toEqual([]);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
    expect(f.logs.some((l) => l.includes("Unknown provisioner requested in claim's StorageClass"))).toBe(true);
  });

  it('says that CSI migration is not implemented for a claim migrated to this driver', async () => {
    const f = await start();
    f.classes.get('sc')!.volumeBindingMode = 'Immediate';
    f.classes.get('sc')!.provisioner = 'kubernetes.io/in-tree';
    f.claims.get(CLAIM_KEY)!.metadata!.annotations![ANN_MIGRATED_TO] = TEST_DRIVER_NAME;
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('(CSI migration) is not supported yet');
    expect(f.recorder.reasons()).toEqual(['ProvisioningFailed']);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });
});
