import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKubeClient } from '../shared/kube/client.js';
import type { KubeClient } from '../shared/kube/client.js';
import { isConflict, isForbidden } from '../shared/kube/errors.js';
import { FakeApiServer, statusBody } from '../shared/kube/testing/fake-apiserver.js';
import { FINALIZER_SNAPSHOT_SOURCE_PROTECTION } from './keys.js';
import { withFinalizer, withoutFinalizer } from './protection-finalizers.js';
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

  it('writes VolumeSnapshots with a PUT carrying the resourceVersion', async () => {
    const path = '/apis/snapshot.storage.k8s.io/v1/namespaces/ns/volumesnapshots/snap';
    server.route('PUT', path, () => ({ status: 200, body: { metadata: { namespace: 'ns', name: 'snap' } } }));
    const snapshot = { metadata: { namespace: 'ns', name: 'snap', resourceVersion: '5', finalizers: [] } };
    const out = await protectionKube(client).updateVolumeSnapshot(snapshot);
    expect(out.metadata?.name).toBe('snap');
    const [request] = server.requestsTo(path);
    expect(JSON.parse(request?.body ?? '')).toEqual(snapshot);
  });

  it('writes claims with a PUT and maps errors to KubeApiError', async () => {
    const path = '/api/v1/namespaces/ns/persistentvolumeclaims/src';
    server.route('PUT', path, () => ({ status: 409, body: statusBody(409, 'the object has been modified') }));
    const claim = { metadata: { namespace: 'ns', name: 'src', resourceVersion: '7' } };
    const err: unknown = await protectionKube(client)
      .updateClaim(claim)
      .catch((e: unknown) => e);
    expect(isConflict(err)).toBe(true);
    expect(JSON.parse(server.requestsTo(path)[0]?.body ?? '')).toMatchObject(claim);
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

describe('finalizer copies', () => {
  const F = FINALIZER_SNAPSHOT_SOURCE_PROTECTION;

  it('adds to a missing or existing list of a copy, keeping the resourceVersion', () => {
    const bare = { metadata: { uid: 'u', resourceVersion: '9' } };
    expect(withFinalizer(bare, F)).toEqual({ metadata: { uid: 'u', resourceVersion: '9', finalizers: [F] } });
    const listed = { metadata: { uid: 'u', finalizers: ['a'] } };
    expect(withFinalizer(listed, F)).toEqual({ metadata: { uid: 'u', finalizers: ['a', F] } });
    expect(listed.metadata.finalizers).toEqual(['a']);
  });

  it('removes every copy from a copy', () => {
    const obj = { metadata: { finalizers: [F, 'a', F] } };
    expect(withoutFinalizer(obj, F)).toEqual({ metadata: { finalizers: ['a'] } });
    expect(obj.metadata.finalizers).toEqual([F, 'a', F]);
  });

  it('is undefined when there is nothing to do', () => {
    expect(withFinalizer({ metadata: { finalizers: [F] } }, F)).toBeUndefined();
    expect(withoutFinalizer({ metadata: { finalizers: ['a'] } }, F)).toBeUndefined();
    expect(withoutFinalizer({}, F)).toBeUndefined();
  });
});
