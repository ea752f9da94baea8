import { describe, expect, it } from 'vitest';
import { CLAIM_KEY, useClaimControllerFixture } from './testing/claim-controller-fixture.js';

const start = useClaimControllerFixture();

describe('ClaimController driver capabilities', () => {
  it.each([
    [{ controllerService: false }, 'plugin CONTROLLER_SERVICE'],
    [{ createDeleteVolume: false }, 'controller CREATE_DELETE_VOLUME'],
  ])('fails every claim of a driver without %o like upstream (no start-up error)', async (capabilities, missing) => {
    const f = await start({ capabilities });
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow(missing);
    expect(f.recorder.events.at(-1)?.message).toBe(
      `CSI driver does not support dynamic provisioning: ${missing} capability is not reported`,
    );
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
    expect(f.kube.callsTo('createPersistentVolume')).toHaveLength(0);
  });
});

describe('ClaimController data sources', () => {
  it('refuses a snapshot source when the driver cannot restore snapshots', async () => {
    const f = await start();
    f.claims.get(CLAIM_KEY)!.spec!.dataSource = {
      apiGroup: 'snapshot.storage.k8s.io',
      kind: 'VolumeSnapshot',
      name: 'snap',
    };
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('CREATE_DELETE_SNAPSHOT');
    expect(f.recorder.events.at(-1)?.message).toBe(
      'CSI driver does not support snapshot restore: controller CREATE_DELETE_SNAPSHOT capability is not reported',
    );
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });

  it('leaves claims with an unknown data source to an external populator', async () => {
    const f = await start();
    f.claims.get(CLAIM_KEY)!.spec!.dataSourceRef = { apiGroup: 'populator.example.com', kind: 'Thing', name: 't' };
    await f.controller.sync(CLAIM_KEY);
    expect(f.recorder.events.map((e) => e.message)).toEqual([
      'External provisioner is provisioning volume for claim "default/pvc1"',
      'Assuming an external populator will provision the volume',
    ]);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });

  it('emits the external-populator event through the provisioner recorder when one is given', async () => {
    const f = await start({ provisionerRecorder: true });
    f.claims.get(CLAIM_KEY)!.spec!.dataSourceRef = { apiGroup: 'populator.example.com', kind: 'Thing', name: 't' };
    await f.controller.sync(CLAIM_KEY);
    expect(f.recorder.events.map((e) => e.message)).toEqual([
      'External provisioner is provisioning volume for claim "default/pvc1"',
    ]);
    expect(f.provisionerRecorder.events.map((e) => [e.type, e.reason, e.message])).toEqual([
      ['Normal', 'Provisioning', 'Assuming an external populator will provision the volume'],
    ]);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });
});
