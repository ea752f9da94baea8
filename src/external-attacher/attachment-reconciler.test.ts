import { status } from '@grpc/grpc-js';
import type { V1VolumeAttachment } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Volume } from '../gen/csi.js';
import { CsiConnection } from '../shared/csi/connection.js';
import { discardLogger } from '../shared/log/logger.js';
import { CsiTestDriver } from '../shared/testing/csi-test-driver.js';
import { VA_NODE_ID_ANNOTATION } from './keys.js';
import {
  ANN,
  AttacherFixture,
  FIN,
  HANDLE,
  NODE_ID,
  csiNode,
  publishRequest,
  pvWithFinalizer,
  unpublishRequest,
  va,
} from './testing/attacher-fixture.js';
import type { AttacherFixtureOptions } from './testing/attacher-fixture.js';

let driver: CsiTestDriver;
let connection: CsiConnection;

beforeEach(async () => {
  driver = await CsiTestDriver.start();
  driver.volumes.set(HANDLE, Volume.fromPartial({ volumeId: HANDLE }));
  connection = await CsiConnection.connect({ address: driver.address, logger: discardLogger() });
});

afterEach(async () => {
  connection.close();
  await driver.stop();
});

function fixture(attachments: V1VolumeAttachment[], options: Partial<AttacherFixtureOptions> = {}): AttacherFixture {
  return new AttacherFixture({
    csi: connection,
    attachments,
    volumes: [pvWithFinalizer()],
    csiNodes: [csiNode()],
    reconciler: {},
    ...options,
  });
}

const publishCalls = () => driver.callsTo('ControllerPublishVolume');
const unpublishCalls = () => driver.callsTo('ControllerUnpublishVolume');

// Upstream TestCSIHandlerReconcileVA, and the ListVolumes paging of the reconciler.
describe('AttachmentReconciler', () => {
  it('attached VA the driver does not list → forced publish on the next sync, then in step', async () => {
    const f = fixture([va({ attached: true, finalizers: [FIN], annotations: ANN })]);
    await f.reconciler!.reconcile();
    expect(f.queuedAttachments()).toBe(1);
    expect(await f.process()).toEqual([]);
    expect(publishCalls()).toEqual([publishRequest()]);
    // The status already says attached: nothing to write (upstream sends an empty status patch here).
    expect(f.kube.log()).toEqual([]);

    await f.reconciler!.reconcile();
    expect(f.queuedAttachments()).toBe(0);
    expect(publishCalls()).toHaveLength(1);
  });

  it('attached VA the driver lists on its node → nothing', async () => {
    driver.published.set(HANDLE, new Set([NODE_ID]));
    const f = fixture([va({ attached: true, annotations: ANN })]);
    await f.reconciler!.reconcile();
    expect(f.queuedAttachments()).toBe(0);
    await f.process();
    expect(driver.calls.map((c) => c.method)).toEqual(['ListVolumes']);
    expect(f.kube.log()).toEqual([]);
  });

  it('attached VA the driver lists on another node only → forced publish', async () => {
    driver.published.set(HANDLE, new Set(['otherNode']));
    const f = fixture([va({ attached: true, finalizers: [FIN], annotations: ANN })]);
    await f.reconciler!.reconcile();
    await f.process();
    expect(publishCalls()).toEqual([publishRequest()]);
  });

  it('deleted VA without our finalizer that the driver still lists → forced unpublish, no API write', async () => {
    driver.published.set(HANDLE, new Set([NODE_ID]));
    const f = fixture([va({ attached: false, annotations: ANN, deleted: true })], { csiNodes: [] });
    await f.reconciler!.reconcile();
    expect(f.queuedAttachments()).toBe(1);
    expect(await f.process()).toEqual([]);
    expect(unpublishCalls()).toEqual([unpublishRequest()]);
    expect(f.kube.log()).toEqual([]);

    await f.reconciler!.reconcile();
    expect(f.queuedAttachments()).toBe(0);
  });

  it('no VolumeAttachments, whatever the driver lists → nothing', async () => {
    driver.published.set(HANDLE, new Set([NODE_ID]));
    const f = fixture([]);
    await f.reconciler!.reconcile();
    expect(f.queuedAttachments()).toBe(0);
  });

  it('pages with max_entries and next_token, and finds a VA on a later page', async () => {
    for (const id of ['a', 'b', 'c']) {
      driver.volumes.set(id, Volume.fromPartial({ volumeId: id }));
      driver.published.set(id, new Set(['elsewhere']));
    }
    driver.published.set(HANDLE, new Set([NODE_ID]));
    const f = fixture([va({ attached: true, finalizers: [FIN], annotations: ANN })], { reconciler: { maxEntries: 3 } });
    await f.reconciler!.reconcile();
    expect(driver.callsTo('ListVolumes')).toEqual([
      { maxEntries: 3, startingToken: '' },
      { maxEntries: 3, startingToken: '3' },
    ]);
    expect(f.queuedAttachments()).toBe(0);
  });

  it('asks for max_entries 0 (the driver chooses) by default', async () => {
    const f = fixture([]);
    await f.reconciler!.reconcile();
    expect(driver.callsTo('ListVolumes')).toEqual([{ maxEntries: 0, startingToken: '' }]);
  });

  it('skips entries without a status (or a volume): such a VA looks unpublished and is published again', async () => {
    driver.setHandler('ListVolumes', () => ({
      entries: [{ volume: { volumeId: HANDLE } }, { status: { publishedNodeIds: [NODE_ID] } }],
    }));
    const f = fixture([va({ attached: true, finalizers: [FIN], annotations: ANN })]);
    await f.reconciler!.reconcile();
    expect(f.queuedAttachments()).toBe(1);
  });

  it('uses the node-ID annotation when the CSINode is gone', async () => {
    driver.published.set(HANDLE, new Set(['annotatedNodeID']));
    const f = fixture([va({ attached: true, annotations: { [VA_NODE_ID_ANNOTATION]: 'annotatedNodeID' } })], {
      csiNodes: [],
    });
    await f.reconciler!.reconcile();
    expect(f.queuedAttachments()).toBe(0);
  });

  it('skips VolumeAttachments of other drivers and ones it cannot resolve (missing PV, no node ID)', async () => {
    const other = va({ attached: true, attacher: 'other.csi.driver' });
    other.metadata!.name = 'other';
    const noPv = va({ attached: true, annotations: ANN });
    noPv.metadata!.name = 'no-pv';
    noPv.spec.source = { persistentVolumeName: 'missing' };
    const noNode = va({ attached: true });
    noNode.metadata!.name = 'no-node';
    const f = fixture([other, noPv, noNode], { csiNodes: [] });
    await f.reconciler!.reconcile();
    expect(f.queuedAttachments()).toBe(0);
  });

  it('fails the round when ListVolumes fails, queueing nothing', async () => {
    driver.fail('ListVolumes', status.UNAVAILABLE, 'backend down');
    const f = fixture([va({ attached: true, finalizers: [FIN], annotations: ANN })]);
    await expect(f.reconciler!.reconcile()).rejects.toThrow(
      'failed to ListVolumes: rpc error: code = Unavailable desc = backend down',
    );
    expect(f.queuedAttachments()).toBe(0);
  });

  it('gives the whole paginated ListVolumes one --timeout budget', async () => {
    const f = fixture([va({ attached: true, finalizers: [FIN], annotations: ANN })], {
      reconciler: { timeoutMs: 5_000 },
    });
    // The first page takes the whole budget (on the fake clock) and promises more.
    driver.setHandler('ListVolumes', async () => {
      await f.clock.advance(5_000);
      return { entries: [], nextToken: 'more' };
    });
    await expect(f.reconciler!.reconcile()).rejects.toThrow('failed to ListVolumes: context deadline exceeded');
    expect(driver.callsTo('ListVolumes')).toHaveLength(1);
  });

  it('runs every period until aborted and survives a failed round', async () => {
    driver.fail('ListVolumes', status.UNAVAILABLE, 'backend down');
    const f = fixture([]);
    const abort = new AbortController();
    const running = f.reconciler!.run(abort.signal);
    await driver.waitForCalls('ListVolumes', 1);
    await until(() => f.clock.pending() > 0);
    await f.clock.advance(60_000);
    await driver.waitForCalls('ListVolumes', 2);
    abort.abort();
    await running;
    expect(driver.callsTo('ListVolumes')).toHaveLength(2);
  });
});

async function until(condition: () => boolean, timeoutMs = 5_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  while (!condition()) {
    if (Date.now() > deadline) throw new Error('condition not met in time');
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
}
