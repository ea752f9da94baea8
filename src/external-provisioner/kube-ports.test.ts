import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createKubeClient } from '../shared/kube/client.js';
import type { KubeClient } from '../shared/kube/client.js';
import { isAlreadyExists, isNotFound, statusMessage } from '../shared/kube/errors.js';
import { FakeApiServer } from '../shared/kube/testing/fake-apiserver.js';
import { provisionerKube } from './kube-ports.js';

describe('provisionerKube errors for answers without a Status', () => {
  let server: FakeApiServer;
  let client: KubeClient;

  beforeEach(async () => {
    server = await FakeApiServer.start();
    client = createKubeClient({ kubeConfig: server.kubeConfig(), qps: -1, burst: 1, userAgent: 'test' });
  });

  afterEach(async () => {
    await client.close();
    await server.close();
  });

  it('a VolumeSnapshot read where the snapshot CRDs are not installed says what client-go says', async () => {
    // What kube-apiserver answers for a group it does not serve.
    server.route('GET', '/apis/snapshot.storage.k8s.io/v1/namespaces/ns/volumesnapshots/snap', () => ({
      status: 404,
      text: '404 page not found\n',
      contentType: 'text/plain; charset=utf-8',
    }));
    const err: unknown = await provisionerKube(client)
      .getVolumeSnapshot('ns', 'snap')
      .catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
    expect(statusMessage(err)).toBe(
      'the server could not find the requested resource (get volumesnapshots.snapshot.storage.k8s.io snap)',
    );
    expect((err as Error).message).toMatch(/^get VolumeSnapshot ns\/snap: 404 NotFound: /);
  });

  it('names no object for a create, and a bodiless 409 on POST is AlreadyExists as in client-go', async () => {
    server.route('POST', '/api/v1/persistentvolumes', () => ({ status: 409, text: '' }));
    const err: unknown = await provisionerKube(client)
      .createPersistentVolume({ metadata: { name: 'pv1' } })
      .catch((e: unknown) => e);
    expect(isAlreadyExists(err)).toBe(true);
    expect(statusMessage(err)).toBe('the server reported a conflict (post persistentvolumes)');
  });

  it('a cluster-scoped read names the group of the resource', async () => {
    server.route('GET', '/apis/storage.k8s.io/v1/volumeattributesclasses/gold', () => ({
      status: 502,
      text: 'bad gateway',
      contentType: 'text/plain',
    }));
    const err: unknown = await provisionerKube(client)
      .getVolumeAttributesClass('gold')
      .catch((e: unknown) => e);
    expect(statusMessage(err)).toBe(
      'an error on the server ("bad gateway") has prevented the request from succeeding (get volumeattributesclasses.storage.k8s.io gold)',
    );
  });
});
