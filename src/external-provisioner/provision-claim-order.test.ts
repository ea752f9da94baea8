import { status } from '@grpc/grpc-js';
import { describe, expect, it } from 'vitest';
import { CLAIM_KEY, useClaimControllerFixture } from './testing/claim-controller-fixture.js';
import { sourceClaim, sourceVolume } from './testing/clone-source-objects.js';

const start = useClaimControllerFixture();

describe('prepareProvision checks in upstream order', () => {
  it('refuses a claim with a selector before it protects the clone source', async () => {
    const f = await start({ protection: true, capabilities: { cloning: true } });
    f.claims.set(sourceClaim());
    f.volumes.set(sourceVolume());
    f.protection.claims.set('default/src', sourceClaim());
    const claim = f.claims.get(CLAIM_KEY)!;
    claim.spec!.dataSource = { kind: 'PersistentVolumeClaim', name: 'src' };
    claim.spec!.selector = { matchLabels: { tier: 'gold' } };
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('claim Selector is not supported');
    expect(f.protection.calls).toEqual([]);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(0);
  });

  it('keeps a CreateVolume that may still run tracked when a secret template stops resolving (NoChange)', async () => {
    const f = await start();
    f.classes.get('sc')!.parameters = {
      'csi.storage.k8s.io/node-publish-secret-name': "${pvc.annotations['team']}",
      'csi.storage.k8s.io/node-publish-secret-namespace': '${pvc.namespace}',
    };
    const claim = f.claims.get(CLAIM_KEY)!;
    claim.metadata!.annotations!['team'] = 'blue';
    f.driver.fail('CreateVolume', status.DEADLINE_EXCEEDED);
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('DeadlineExceeded');
    expect(f.controller.inFlightCount).toBe(1);

    delete claim.metadata!.annotations!['team'];
    await expect(f.controller.sync(CLAIM_KEY)).rejects.toThrow('team');
    expect(f.controller.inFlightCount).toBe(1);
    expect(f.recorder.events.at(-1)?.reason).toBe('ProvisioningFailed');
  });
});
