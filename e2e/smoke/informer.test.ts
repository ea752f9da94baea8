import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createKubeClient } from '../../src/shared/kube/client.js';
import type { KubeClient } from '../../src/shared/kube/client.js';
import { Informer } from '../../src/shared/kube/informer.js';
import type { KubeObject } from '../../src/shared/kube/cache.js';
import { loadKubeConfig } from '../../src/shared/kube/kubeconfig.js';
import { Logger, discardLogger } from '../../src/shared/log/logger.js';
import { useTestCluster } from '../fixture/cluster-suite.js';
import { waitUntil } from '../fixture/managed-process.js';
import { TcpProxy } from '../fixture/tcp-proxy.js';

const namespace = 'informer-e2e';
const cluster = useTestCluster('informer', { controllerManager: true });
let client: KubeClient;
let proxy: TcpProxy;

beforeAll(async () => {
  await cluster().admin.must('POST', '/api/v1/namespaces', { metadata: { name: namespace } });
  // The informer runs as the provisioner's ServiceAccount: the shipped RBAC must allow list/watch of PVCs.
  const kubeconfig = await cluster().serviceAccountKubeconfig('csi-provisioner.yaml');
  // The informer reaches the apiserver through a proxy the test can cut.
  proxy = new TcpProxy({ targetHost: '127.0.0.1', targetPort: Number(new URL(cluster().server).port) });
  const proxyPort = await proxy.listen();
  client = createKubeClient({
    kubeConfig: loadKubeConfig({ kubeconfig, master: `https://127.0.0.1:${proxyPort}` }),
    qps: -1,
    burst: 0,
    userAgent: 'informer-e2e',
    logger: discardLogger(),
  });
});
afterAll(async () => {
  await client?.close();
  await proxy?.close();
});

type Claim = KubeObject & { spec?: Record<string, unknown> };

function claim(name: string): Claim {
  return {
    apiVersion: 'v1',
    kind: 'PersistentVolumeClaim',
    metadata: { name, namespace },
    spec: { accessModes: ['ReadWriteOnce'], resources: { requests: { storage: '1Gi' } }, storageClassName: 'none' },
  };
}

async function createClaims(prefix: string, count: number): Promise<void> {
  for (let i = 0; i < count; i++) {
    await cluster().admin.must(
      'POST',
      `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
      claim(`${prefix}-${i}`),
    );
  }
}

async function serverNames(): Promise<string[]> {
  const list = (await cluster().admin.must('GET', `/api/v1/namespaces/${namespace}/persistentvolumeclaims`)) as {
    items: Claim[];
  };
  return list.items.map((c) => c.metadata?.name ?? '').sort();
}

describe('informer against a real kube-apiserver', () => {
  it('sees every create, update and delete of 300 PVCs, and keeps in step across an apiserver restart and a 410', async () => {
    const added = new Set<string>();
    const updated = new Set<string>();
    const deleted = new Set<string>();
    const informer = new Informer<Claim>({
      transport: client,
      path: `/api/v1/namespaces/${namespace}/persistentvolumeclaims`,
      logger: new Logger({ verbosity: 2, name: 'informer' }),
    });
    informer.addEventHandler({
      add: (o) => added.add(o.metadata?.name ?? ''),
      update: (_old, o) => {
        if (o.metadata?.labels?.touched === 'yes') updated.add(o.metadata?.name ?? '');
      },
      delete: (o) => deleted.add(o.metadata?.name ?? ''),
    });
    const stop = new AbortController();
    void informer.start(stop.signal);
    try {
      expect(await informer.waitForSync(stop.signal)).toBe(true);

      await createClaims('pvc', 300);
      await waitUntil('300 adds', () => added.size === 300, 60_000);

      for (let i = 0; i < 300; i++) {
        await cluster().admin.must(
          'PATCH',
          `/api/v1/namespaces/${namespace}/persistentvolumeclaims/pvc-${i}`,
          { metadata: { labels: { touched: 'yes' } } },
          'application/merge-patch+json',
        );
      }
      await waitUntil('300 updates', () => updated.size === 300, 60_000);
      expect(informer.list().every((c) => c.metadata?.managedFields === undefined)).toBe(true);

      for (let i = 0; i < 300; i++) {
        await cluster().admin.must('DELETE', `/api/v1/namespaces/${namespace}/persistentvolumeclaims/pvc-${i}`);
      }
      // The pvc-protection controller removes the finalizer, then the objects go away.
      await waitUntil('300 deletes', () => deleted.size === 300, 120_000);
      expect(informer.list()).toHaveLength(0);

      // kube-apiserver restart: objects created while it is back are all seen.
      await cluster().restartApiserver();
      await createClaims('after-restart', 20);
      await waitUntil('adds after the restart', () => informer.list().length === 20, 60_000);

      // Forced 410: cut the informer off, change things it cannot see, compact etcd and restart the
      // apiserver so its resourceVersion is too old to watch from. It must relist and catch up.
      const before = informer.stats();
      proxy.block();
      await createClaims('during-outage', 10);
      for (let i = 0; i < 5; i++) {
        await cluster().admin.must(
          'DELETE',
          `/api/v1/namespaces/${namespace}/persistentvolumeclaims/after-restart-${i}`,
        );
      }
      await cluster().admin.must(
        'PATCH',
        `/api/v1/namespaces/${namespace}/persistentvolumeclaims/after-restart-5`,
        { metadata: { labels: { touched: 'yes' } } },
        'application/merge-patch+json',
      );
      await waitUntil('deletes to finish on the server', async () => (await serverNames()).length === 25, 60_000);
      await cluster().compactEtcd();
      await cluster().restartApiserver();
      proxy.unblock();
      const expected = await serverNames();
      const cached = (): string[] =>
        informer
          .list()
          .map((c) => c.metadata?.name ?? '')
          .sort();
      await waitUntil(
        'cache equal to the server after the 410',
        () => JSON.stringify(cached()) === JSON.stringify(expected),
        120_000,
      );
      expect(cached()).toEqual(expected);
      for (let i = 0; i < 5; i++) expect(deleted.has(`after-restart-${i}`)).toBe(true);
      expect(updated.has('after-restart-5')).toBe(true);
      expect(informer.get(`${namespace}/after-restart-5`)?.metadata?.labels?.touched).toBe('yes');
      const after = informer.stats();
      expect(after.expired).toBeGreaterThan(before.expired);
      // The relist is a plain list or, where the server supports it, a watch-list stream.
      expect(after.lists + after.watchLists).toBeGreaterThan(before.lists + before.watchLists);
    } finally {
      stop.abort();
      await informer.stop();
    }
  });
});
