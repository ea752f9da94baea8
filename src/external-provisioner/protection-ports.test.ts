import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKubeClient } from '../shared/kube/client.js';
import type { KubeClient } from '../shared/kube/client.js';
import { isForbidden, isNotFound } from '../shared/kube/errors.js';
import { FakeApiServer, statusBody } from '../shared/kube/testing/fake-apiserver.js';
import { FINALIZER_SNAPSHOT_SOURCE_PROTECTION } from './keys.js';
import { addFinalizerPatch, removeFinalizerPatch } from './protection-finalizers.js';
import { protectionKube } from './protection-ports.js';

describe('protectionKube', () => {
  let server: FakeApiServer;
  let client: KubeClient;

  beforeEach(async () => {
    server = await FakeApiServer.start();
    client = createKubeClient({ kubeConfig: server.kubeConfig(), qps: -1, burst: 1, userAgent: 'test/1' });
  });

  afterEach(async () => {
    await client.close();
    await server.close();
  });

  it('sends VolumeSnapshot finalizer patches as JSON patch', async () => {
    const path = '/apis/snapshot.storage.k8s.io/v1/namespaces/ns/volumesnapshots/snap';
    server.route('PATCH', path, () => ({ status: 200, body: { metadata: { namespace: 'ns', name: 'snap' } } }));
    const ops = [{ op: 'remove' as const, path: '/metadata/finalizers/0' }];
    const out = await protectionKube(client).jsonPatchVolumeSnapshot('ns', 'snap', ops);
    expect(out.metadata?.name).toBe('snap');
    const [request] = server.requestsTo(path);
    expect(request?.headers['content-type']).toContain('application/json-patch+json');
    expect(JSON.parse(request?.body ?? '')).toEqual(ops);
  });

  it('sends claim finalizer patches as JSON patch and maps errors to KubeApiError', async () => {
    const path = '/api/v1/namespaces/ns/persistentvolumeclaims/src';
    server.route('PATCH', path, () => ({ status: 404, body: statusBody(404, 'not found') }));
    const err: unknown = await protectionKube(client)
      .jsonPatchClaim('ns', 'src', [])
      .catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
    expect(server.requestsTo(path)[0]?.headers['content-type']).toContain('application/json-patch+json');
  });

  it('probes VolumeSnapshot list access with limit 1', async () => {
    const path = '/apis/snapshot.storage.k8s.io/v1/volumesnapshots';
    server.route('GET', path, () => ({ status: 403, body: statusBody(403, 'forbidden') }));
    const err: unknown = await protectionKube(client)
      .probeVolumeSnapshotList()
      .catch((e: unknown) => e);
    expect(isForbidden(err)).toBe(true);
    expect(server.requestsTo(path)[0]?.query.get('limit')).toBe('1');
  });
});

describe('finalizer patches', () => {
  const F = FINALIZER_SNAPSHOT_SOURCE_PROTECTION;

  it('adds to a missing list, testing the resourceVersion', () => {
    expect(addFinalizerPatch({ metadata: { uid: 'u', resourceVersion: '9' } }, F)).toEqual([
      { op: 'test', path: '/metadata/uid', value: 'u' },
      { op: 'test', path: '/metadata/resourceVersion', value: '9' },
      { op: 'add', path: '/metadata/finalizers', value: [F] },
    ]);
  });

  it('appends to an existing list, testing it', () => {
    expect(addFinalizerPatch({ metadata: { uid: 'u', finalizers: ['a'] } }, F)).toEqual([
      { op: 'test', path: '/metadata/uid', value: 'u' },
      { op: 'test', path: '/metadata/finalizers', value: ['a'] },
      { op: 'add', path: '/metadata/finalizers/-', value: F },
    ]);
  });

  it('is undefined when there is nothing to do', () => {
    expect(addFinalizerPatch({ metadata: { finalizers: [F] } }, F)).toBeUndefined();
    expect(removeFinalizerPatch({ metadata: { finalizers: ['a'] } }, F)).toBeUndefined();
    expect(removeFinalizerPatch({}, F)).toBeUndefined();
  });
});
