import { describe, expect, it } from 'vitest';
import { ANN_BETA_STORAGE_CLASS } from './keys.js';
import type { ClaimControllerFixture } from './testing/claim-controller-fixture.js';
import { CLAIM_KEY, makeClaim, useClaimControllerFixture } from './testing/claim-controller-fixture.js';

const start = useClaimControllerFixture();

async function labelledValues(f: ClaimControllerFixture, name: string): Promise<unknown[]> {
  const metric = await f.registry.getSingleMetric(name)?.get();
  return (metric?.values ?? []).map((v) => ({ labels: v.labels, value: v.value }));
}

describe('controller_persistentvolumeclaim_provision_* labels and timing', () => {
  it('labels with spec.storageClassName as written and the data source kind', async () => {
    const f = await start();
    await f.controller.sync(CLAIM_KEY);
    expect(await labelledValues(f, 'controller_persistentvolumeclaim_provision_total')).toEqual([
      { labels: { class: 'sc', source: '' }, value: 1 },
    ]);
  });

  it('labels a claim whose class comes from the beta annotation with an empty class, as upstream', async () => {
    const f = await start();
    const claim = makeClaim();
    delete claim.spec!.storageClassName;
    claim.metadata!.annotations![ANN_BETA_STORAGE_CLASS] = 'sc';
    f.claims.set(claim);
    await f.controller.sync(CLAIM_KEY);
    expect(f.driver.callsTo('CreateVolume')).toHaveLength(1);
    expect(await labelledValues(f, 'controller_persistentvolumeclaim_provision_total')).toEqual([
      { labels: { class: '', source: '' }, value: 1 },
    ]);
  });

  it('counts the first PV save in the duration', async () => {
    const f = await start();
    const create = f.kube.createPersistentVolume.bind(f.kube);
    f.kube.createPersistentVolume = async (pv) => {
      await f.clock.advance(3_000);
      return create(pv);
    };
    await f.controller.sync(CLAIM_KEY);
    const metric = await f.registry
      .getSingleMetric('controller_persistentvolumeclaim_provision_duration_seconds')
      ?.get();
    const sum = metric?.values.find((v) => (v as { metricName?: string }).metricName?.endsWith('_sum'));
    expect(sum?.value).toBeGreaterThanOrEqual(3);
  });
});
