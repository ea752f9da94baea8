import type { AdminApi } from '../../e2e/fixture/admin-api.js';
import { inParallel } from '../shared/kube.js';
import { round, sleep } from '../shared/stats.js';

export interface FloorResult {
  volumes: number;
  concurrency: number;
  createS: number;
  createPerS: number;
  /** DELETE requests answered (objects then wait for KCM's pv-protection controller to drop their finalizer). */
  deleteRequestsS: number;
  allGoneS: number;
}

const LABEL = 'bench.example/floor';

/**
 * L0, the raw write rate of this apiserver: PV creates (CSI PVs of a driver nobody serves, so no controller acts
 * on them beyond pv-protection) from an unthrottled admin client, then deletes. Measured on each scenario's own
 * cluster before the provisioner starts, so it describes the apiserver the provisioner then talks to.
 */
export async function measureFloor(admin: AdminApi, volumes: number, concurrency: number): Promise<FloorResult> {
  const names = Array.from({ length: volumes }, (_, i) => `floor-${i}`);
  const started = performance.now();
  await inParallel(names, concurrency, async (name) => {
    await admin.must('POST', '/api/v1/persistentvolumes', {
      metadata: { name, labels: { [LABEL]: 'true' } },
      spec: {
        capacity: { storage: '1Mi' },
        accessModes: ['ReadWriteOnce'],
        persistentVolumeReclaimPolicy: 'Retain',
        csi: { driver: 'floor.bench.example', volumeHandle: name, fsType: 'ext4' },
      },
    });
  });
  const createMs = performance.now() - started;
  const deleteStarted = performance.now();
  await inParallel(names, concurrency, async (name) => {
    await admin.must('DELETE', `/api/v1/persistentvolumes/${name}`);
  });
  const deleteMs = performance.now() - deleteStarted;
  const deadline = performance.now() + 120_000;
  for (;;) {
    const list = (await admin.must('GET', `/api/v1/persistentvolumes?labelSelector=${LABEL}&limit=1`)) as {
      items: unknown[];
    };
    if (list.items.length === 0) break;
    if (performance.now() > deadline) throw new Error('floor PVs still present after 120 s');
    await sleep(100);
  }
  return {
    volumes,
    concurrency,
    createS: round(createMs / 1000, 3),
    createPerS: round(volumes / (createMs / 1000), 1),
    deleteRequestsS: round(deleteMs / 1000, 3),
    allGoneS: round((performance.now() - deleteStarted) / 1000, 3),
  };
}
