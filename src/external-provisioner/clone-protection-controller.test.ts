import type { V1PersistentVolumeClaim } from '@kubernetes/client-node';
import { describe, expect, it } from 'vitest';
import { runController } from '../shared/controller/controller.js';
import { reconcileKey } from '../shared/controller/reconcile.js';
import { WorkQueue } from '../shared/controller/work-queue.js';
import { discardLogger } from '../shared/log/logger.js';
import { FakeClock } from '../shared/testing/fake-clock.js';
import { MemoryCache } from '../shared/testing/memory-cache.js';
import { CloneProtectionController } from './clone-protection-controller.js';
import { FINALIZER_CLONE_PROTECTION } from './keys.js';
import { FakeProtectionKube } from './testing/fake-protection-kube.js';

const PVC_PROTECTION = 'kubernetes.io/pvc-protection';

/** The clone source "ns/src", being deleted and holding the clone finalizer. */
function source(mutate: (c: V1PersistentVolumeClaim) => void = () => {}): V1PersistentVolumeClaim {
  const claim: V1PersistentVolumeClaim = {
    metadata: {
      namespace: 'ns',
      name: 'src',
      uid: 'uid-src',
      resourceVersion: '7',
      deletionTimestamp: new Date('2026-01-01T00:00:00Z'),
      finalizers: [PVC_PROTECTION, FINALIZER_CLONE_PROTECTION],
    },
    spec: { accessModes: ['ReadWriteOnce'] },
    status: { phase: 'Bound' },
  };
  mutate(claim);
  return claim;
}

function cloneOf(name: string, phase: string, mutate: (c: V1PersistentVolumeClaim) => void = () => {}) {
  const claim: V1PersistentVolumeClaim = {
    metadata: { namespace: 'ns', name, uid: `uid-${name}` },
    spec: { dataSource: { kind: 'PersistentVolumeClaim', name: 'src' } },
    status: { phase },
  };
  mutate(claim);
  return claim;
}

function setup(claims: V1PersistentVolumeClaim[]) {
  const clock = new FakeClock();
  const cache = new MemoryCache<V1PersistentVolumeClaim>(claims);
  const kube = new FakeProtectionKube();
  for (const c of claims) kube.claims.set(`${c.metadata?.namespace}/${c.metadata?.name}`, structuredClone(c));
  const queue = new WorkQueue<string>({ name: 'claims', clock });
  const controller = new CloneProtectionController({ claims: cache, kube, queue, logger: discardLogger() });
  return { clock, cache, kube, queue, controller };
}

function finalizersOf(kube: FakeProtectionKube, key: string): string[] | undefined {
  return kube.claims.get(key)?.metadata?.finalizers;
}

describe('CloneProtectionController.enqueueClaim', () => {
  it('queues only claims being deleted', () => {
    const f = setup([]);
    f.controller.enqueueClaim(source((c) => delete c.metadata!.deletionTimestamp));
    expect(f.queue.len()).toBe(0);
    f.controller.enqueueClaim(source());
    expect(f.queue.len()).toBe(1);
  });

  it('queues a deleted claim even without the finalizer (sync decides)', () => {
    const f = setup([]);
    f.controller.enqueueClaim(source((c) => (c.metadata!.finalizers = [])));
    expect(f.queue.len()).toBe(1);
  });
});

describe('CloneProtectionController.sync', () => {
  it('removes the finalizer with an update of a copy of the cached claim', async () => {
    const f = setup([source(), cloneOf('done', 'Bound')]);
    await f.controller.sync('ns/src');
    // The whole claim, with the resourceVersion read: a PUT conditional on it (RBAC grants update, not patch).
    expect(f.kube.callsTo('updateClaim')).toEqual([[source((c) => (c.metadata!.finalizers = [PVC_PROTECTION]))]]);
    expect(finalizersOf(f.kube, 'ns/src')).toEqual([PVC_PROTECTION]);
    expect(f.kube.claims.get('ns/src')?.metadata?.resourceVersion).toBe('8');
    expect(f.cache.get('ns/src')?.metadata?.finalizers).toEqual([PVC_PROTECTION, FINALIZER_CLONE_PROTECTION]);
  });

  it('removes every copy of the finalizer', async () => {
    const f = setup([
      source(
        (c) => (c.metadata!.finalizers = [FINALIZER_CLONE_PROTECTION, PVC_PROTECTION, FINALIZER_CLONE_PROTECTION]),
      ),
    ]);
    await f.controller.sync('ns/src');
    expect(finalizersOf(f.kube, 'ns/src')).toEqual([PVC_PROTECTION]);
  });

  it('keeps the finalizer and fails while a clone is Pending', async () => {
    const f = setup([source(), cloneOf('done', 'Bound'), cloneOf('busy', 'Pending')]);
    await expect(f.controller.sync('ns/src')).rejects.toThrow("PVC 'busy' is in 'Pending' state, cloning in progress");
    expect(f.kube.calls).toEqual([]);
  });

  it('is retried with backoff through the queue while cloning is in progress', async () => {
    const f = setup([source(), cloneOf('busy', 'Pending')]);
    f.queue.add('ns/src');
    const next = await f.queue.get();
    expect(next.shutdown).toBe(false);
    await reconcileKey({
      queue: f.queue,
      key: 'ns/src',
      sync: (key) => f.controller.sync(key),
      logger: discardLogger(),
      signal: new AbortController().signal,
    });
    expect(f.queue.numRequeues('ns/src')).toBe(1);
  });

  it('does not count clones in other namespaces, through dataSourceRef or of other sources', async () => {
    const f = setup([
      source(),
      cloneOf('other-ns', 'Pending', (c) => (c.metadata!.namespace = 'elsewhere')),
      cloneOf('by-ref', 'Pending', (c) => {
        delete c.spec!.dataSource;
        c.spec!.dataSourceRef = { kind: 'PersistentVolumeClaim', name: 'src', namespace: 'ns' };
      }),
      cloneOf('other-source', 'Pending', (c) => (c.spec!.dataSource!.name = 'another')),
      cloneOf('snapshot', 'Pending', (c) => (c.spec!.dataSource = { kind: 'VolumeSnapshot', name: 'src' })),
      cloneOf('lost', 'Lost'),
    ]);
    await f.controller.sync('ns/src');
    expect(finalizersOf(f.kube, 'ns/src')).toEqual([PVC_PROTECTION]);
  });

  it('does nothing for a claim without the finalizer', async () => {
    const f = setup([source((c) => (c.metadata!.finalizers = [PVC_PROTECTION]))]);
    await f.controller.sync('ns/src');
    expect(f.kube.calls).toEqual([]);
  });

  it('does nothing when the claim is gone from the cache', async () => {
    const f = setup([]);
    await f.controller.sync('ns/src');
    expect(f.kube.calls).toEqual([]);
  });

  it('treats a claim deleted before the patch as done', async () => {
    const f = setup([source()]);
    f.kube.claims.delete('ns/src');
    await expect(f.controller.sync('ns/src')).resolves.toBeUndefined();
    expect(f.kube.callsTo('updateClaim')).toHaveLength(1);
  });

  it('fails (for a retry) with a Conflict when the claim changed since the cache read', async () => {
    const f = setup([source()]);
    const stored = f.kube.claims.get('ns/src')!.metadata!;
    stored.finalizers!.push('other');
    stored.resourceVersion = '8';
    await expect(f.controller.sync('ns/src')).rejects.toThrow(
      /failed to remove clone finalizer from PVC ns\/src: .*modified/,
    );
    expect(finalizersOf(f.kube, 'ns/src')).toEqual([PVC_PROTECTION, FINALIZER_CLONE_PROTECTION, 'other']);
  });

  it('fails (for a retry) when the claim was re-created under the same name', async () => {
    const f = setup([source()]);
    f.kube.claims.get('ns/src')!.metadata!.uid = 'uid-new';
    await expect(f.controller.sync('ns/src')).rejects.toThrow(/modified/);
  });

  it('wraps other API errors', async () => {
    const f = setup([source()]);
    f.kube.failNext('updateClaim', { status: 500, reason: 'InternalError' });
    await expect(f.controller.sync('ns/src')).rejects.toMatchObject({
      message: expect.stringMatching(/failed to remove clone finalizer/),
      cause: expect.anything(),
    });
  });
});

describe('CloneProtectionController.run', () => {
  it('processes queued claims until the signal aborts', async () => {
    const f = setup([source()]);
    const abort = new AbortController();
    const running = runController(f.controller, { workers: 2, logger: discardLogger(), signal: abort.signal });
    f.controller.enqueueClaim(source());
    await f.clock.advance(0);
    expect(finalizersOf(f.kube, 'ns/src')).toEqual([PVC_PROTECTION]);
    abort.abort();
    await running;
  });
});
