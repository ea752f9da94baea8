import { CoreV1Api, StorageV1Api } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../testing/fake-clock.js';
import { createKubeClient } from './client.js';
import type { KubeClient } from './client.js';
import {
  createMergePatch,
  jsonPatchOptions,
  jsonPointerSegment,
  mergePatchOptions,
  strategicMergePatchOptions,
} from './patch.js';
import type { JsonPatchOperation } from './patch.js';
import { FakeApiServer } from './testing/fake-apiserver.js';
import { waitFor } from './testing/wait.js';

/** RFC 7386 apply, to check that a computed patch really turns original into modified. */
function applyMergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === 'object' && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === null) delete out[key];
    else out[key] = applyMergePatch(out[key], value);
  }
  return out;
}

describe('createMergePatch', () => {
  const pv = {
    metadata: {
      name: 'pv-1',
      annotations: { 'pv.kubernetes.io/provisioned-by': 'hostpath', keep: 'yes' },
      finalizers: ['kubernetes.io/pv-protection'],
    },
    spec: { capacity: { storage: '1Gi' }, claimRef: { name: 'c', namespace: 'ns' } },
  };

  it('is empty when nothing changed', () => {
    expect(createMergePatch(pv, structuredClone(pv))).toEqual({});
  });

  it('carries only the changed leaves of nested objects', () => {
    const modified = structuredClone(pv);
    modified.spec.capacity.storage = '2Gi';
    expect(createMergePatch(pv, modified)).toEqual({ spec: { capacity: { storage: '2Gi' } } });
  });

  it('sets removed keys to null', () => {
    const modified = structuredClone(pv) as { metadata: { annotations: Record<string, string> } };
    delete modified.metadata.annotations['pv.kubernetes.io/provisioned-by'];
    expect(createMergePatch(pv, modified)).toEqual({
      metadata: { annotations: { 'pv.kubernetes.io/provisioned-by': null } },
    });
  });

  it('replaces arrays whole', () => {
    const modified = structuredClone(pv);
    modified.metadata.finalizers.push('external-attacher/hostpath');
    expect(createMergePatch(pv, modified)).toEqual({
      metadata: { finalizers: ['kubernetes.io/pv-protection', 'external-attacher/hostpath'] },
    });
  });

  it('adds new keys and replaces values whose type changed', () => {
    const original = { a: { x: 1 }, b: 'text', c: [1] };
    const modified = { a: 'now a string', b: { nested: true }, c: [1], d: 0 };
    expect(createMergePatch(original, modified)).toEqual({ a: 'now a string', b: { nested: true }, d: 0 });
  });

  it('treats undefined properties as absent and Dates as their JSON strings', () => {
    const original = { a: 1, gone: undefined, at: new Date('2026-01-01T00:00:00Z') };
    const modified = { a: 1, added: undefined, at: '2026-01-01T00:00:00.000Z' };
    expect(createMergePatch(original, modified)).toEqual({});
  });

  it('produces patches that turn the original into the modified object', () => {
    const cases: [object, object][] = [
      [pv, { metadata: { name: 'pv-1' }, spec: { capacity: { storage: '1Gi' } }, status: { phase: 'Bound' } }],
      [
        { a: [{ b: 1 }], c: { d: { e: 1 } } },
        { a: [{ b: 2 }], c: { d: {} } },
      ],
      [{ x: { y: 1 } }, { x: null }],
    ];
    for (const [original, modified] of cases) {
      expect(applyMergePatch(original, createMergePatch(original, modified))).toEqual(
        applyMergePatch({}, JSON.parse(JSON.stringify(modified))),
      );
    }
  });
});

describe('jsonPointerSegment', () => {
  it('escapes / and ~ so annotation keys can be addressed', () => {
    const op: JsonPatchOperation = {
      op: 'remove',
      path: `/metadata/annotations/${jsonPointerSegment('csi.alpha.kubernetes.io/node~id')}`,
    };
    expect(op.path).toBe('/metadata/annotations/csi.alpha.kubernetes.io~1node~0id');
  });
});

describe('patch options on typed APIs', () => {
  const vaPath = '/apis/storage.k8s.io/v1/volumeattachments/va-1';
  const va = {
    apiVersion: 'storage.k8s.io/v1',
    kind: 'VolumeAttachment',
    metadata: { name: 'va-1' },
    spec: { attacher: 'hostpath', nodeName: 'node-1', source: { persistentVolumeName: 'pv-1' } },
  };
  let server: FakeApiServer;
  let client: KubeClient;
  let clock: FakeClock;

  beforeEach(async () => {
    server = await FakeApiServer.start();
    server.route('PATCH', vaPath, () => ({ status: 200, body: va }));
    server.route('PATCH', `${vaPath}/status`, () => ({ status: 200, body: va }));
    server.route('GET', '/api/v1/namespaces/default/pods', () => ({ status: 200, body: { items: [] } }));
    clock = new FakeClock();
    client = createKubeClient({ kubeConfig: server.kubeConfig(), qps: 1, burst: 1, userAgent: 'patch-test/1', clock });
  });

  afterEach(async () => {
    await client.close();
    await server.close();
  });

  it('sends a merge patch as application/merge-patch+json and still through the token bucket', async () => {
    await client.api(CoreV1Api).listNamespacedPod({ namespace: 'default' }); // takes the only token
    const patched = client
      .api(StorageV1Api)
      .patchVolumeAttachment({ name: 'va-1', body: { metadata: { finalizers: ['f'] } } }, mergePatchOptions());

    // The bucket holds the patch back until the fake clock refills it.
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.requestsTo(vaPath)).toHaveLength(0);
    await clock.advance(1000);
    const result = await patched;

    expect(result.metadata?.name).toBe('va-1');
    const [request] = server.requestsTo(vaPath);
    expect(request.headers['content-type']).toBe('application/merge-patch+json');
    expect(request.headers['user-agent']).toBe('patch-test/1');
    expect(request.headers['authorization']).toBe('Bearer fake-token');
    expect(JSON.parse(request.body)).toEqual({ metadata: { finalizers: ['f'] } });
  });

  it('keeps the client middleware on every call, not just the first', async () => {
    const unlimited = createKubeClient({ kubeConfig: server.kubeConfig(), qps: -1, burst: 1, userAgent: 'ua/2' });
    const api = unlimited.api(StorageV1Api);
    for (let i = 0; i < 3; i++) {
      await api.patchVolumeAttachmentStatus(
        { name: 'va-1', body: { status: { attached: true } } },
        mergePatchOptions(),
      );
      await unlimited.api(CoreV1Api).listNamespacedPod({ namespace: 'default' });
    }
    await unlimited.close();
    expect(server.requests.map((r) => r.headers['user-agent'])).toEqual(Array(6).fill('ua/2'));
    expect(server.requestsTo(`${vaPath}/status`).map((r) => r.headers['content-type'])).toEqual(
      Array(3).fill('application/merge-patch+json'),
    );
  });

  it('sends JSON Patch and strategic merge patch with their own content types', async () => {
    const api = client.api(StorageV1Api);
    const ops: JsonPatchOperation[] = [{ op: 'remove', path: '/metadata/finalizers/0' }];
    await api.patchVolumeAttachment({ name: 'va-1', body: ops }, jsonPatchOptions());
    await clock.advance(1000);
    const strategic = api.patchVolumeAttachment({ name: 'va-1', body: { metadata: {} } }, strategicMergePatchOptions());
    await waitFor(() => server.requestsTo(vaPath).length === 1, 'the JSON patch');
    await clock.advance(1000);
    await strategic;
    expect(server.requestsTo(vaPath).map((r) => r.headers['content-type'])).toEqual([
      'application/json-patch+json',
      'application/strategic-merge-patch+json',
    ]);
  });

  it('documents the trap: without options client-node sends any body as JSON Patch', async () => {
    await client.api(StorageV1Api).patchVolumeAttachment({ name: 'va-1', body: { metadata: {} } });
    expect(server.requestsTo(vaPath)[0].headers['content-type']).toBe('application/json-patch+json');
  });
});
