import { CoordinationV1Api, CoreV1Api, KubeConfig, StorageV1Api } from '@kubernetes/client-node';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Logger } from '../log/logger.js';
import { FakeClock } from '../testing/fake-clock.js';
import { createKubeClient, requestTarget } from './client.js';
import type { KubeClient } from './client.js';
import { isNotFound, KubeApiError, statusMessage } from './errors.js';
import { FakeApiServer } from './testing/fake-apiserver.js';
import { waitFor } from './testing/wait.js';

/** client-node's Authenticator interface, which its index does not export. */
type Authenticator = Parameters<KubeConfig['addAuthenticator']>[0];

const emptyList = () => ({ status: 200, body: { metadata: {}, items: [] } });

describe('KubeClient', () => {
  let server: FakeApiServer;
  const clients: KubeClient[] = [];

  function client(options: Partial<Parameters<typeof createKubeClient>[0]> = {}): KubeClient {
    const c = createKubeClient({
      kubeConfig: server.kubeConfig(),
      qps: -1,
      burst: 1,
      userAgent: 'kube-test/1',
      ...options,
    });
    clients.push(c);
    return c;
  }

  beforeEach(async () => {
    server = await FakeApiServer.start();
    server.route('GET', '/api/v1/namespaces/default/pods', emptyList);
    server.route('GET', '/apis/storage.k8s.io/v1/volumeattachments', emptyList);
    server.route('GET', '/apis/coordination.k8s.io/v1/namespaces/default/leases', emptyList);
    server.route('GET', '/version', () => ({ status: 200, body: { gitVersion: 'v1.35.0' } }));
  });

  afterEach(async () => {
    await Promise.all(clients.splice(0).map((c) => c.close()));
    await server.close();
  });

  it('reuses one keep-alive connection for sequential typed and raw requests', async () => {
    const c = client();
    for (let i = 0; i < 3; i++) {
      await c.api(CoreV1Api).listNamespacedPod({ namespace: 'default' });
      await c.api(StorageV1Api).listVolumeAttachment();
      await c.request({ method: 'GET', path: '/version' });
    }
    expect(server.requests).toHaveLength(9);
    expect(server.connections).toBe(1);
  });

  it('sets its User-Agent and the kubeconfig credentials on typed and raw requests', async () => {
    const c = client();
    await c.api(CoordinationV1Api).listNamespacedLease({ namespace: 'default' });
    await c.request({ method: 'GET', path: '/version' });
    for (const request of server.requests) {
      expect(request.headers['user-agent']).toBe('kube-test/1');
      expect(request.headers['authorization']).toBe('Bearer fake-token');
    }
  });

  it('asks the kubeconfig for credentials on every request instead of caching them', async () => {
    let issued = 0;
    const rotating: Authenticator = {
      isAuthProvider: (user) => user.authProvider?.name === 'rotating',
      applyAuthentication: (_user, opts) => {
        opts.headers = { ...opts.headers, Authorization: `Bearer token-${++issued}` };
        return Promise.resolve();
      },
    };
    const kubeConfig = new KubeConfig();
    kubeConfig.addAuthenticator(rotating);
    kubeConfig.loadFromOptions({
      clusters: [{ name: 'c', server: server.url, skipTLSVerify: true }],
      users: [{ name: 'u', authProvider: { name: 'rotating', config: {} } }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    const c = client({ kubeConfig });
    await c.request({ method: 'GET', path: '/version' });
    await c.api(CoreV1Api).listNamespacedPod({ namespace: 'default' });
    await c.request({ method: 'GET', path: '/version' });
    const tokens = server.requests.map((r) => r.headers['authorization']);
    expect(new Set(tokens).size).toBe(3);
    expect(tokens.every((t) => /^Bearer token-\d+$/.test(String(t)))).toBe(true);
  });

  it('shares one token bucket across all API objects of a client, while a second client has its own', async () => {
    const clock = new FakeClock();
    const a = client({ qps: 1, burst: 2, clock });
    const b = client({ qps: 1, burst: 2, clock });
    await a.api(CoreV1Api).listNamespacedPod({ namespace: 'default' });
    await a.api(StorageV1Api).listVolumeAttachment();
    const third = a.request({ method: 'GET', path: '/version' });

    // Client b is not held back by a's empty bucket.
    await b.request({ method: 'GET', path: '/version' });
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(server.requestsTo('/version')).toHaveLength(1);

    await clock.advance(1000);
    await third;
    expect(server.requestsTo('/version')).toHaveLength(2);
  });

  it('logs "Waited before sending request" at V(3) when throttled for more than 50 ms', async () => {
    const lines: string[] = [];
    const logger = new Logger({ verbosity: 3, format: 'json', sink: (line) => lines.push(line) });
    const clock = new FakeClock();
    const c = client({ qps: 10, burst: 1, clock, logger });
    await c.request({ method: 'GET', path: '/version' });
    const throttled = c.request({ method: 'GET', path: '/version', query: { a: 1 } });
    await clock.advance(100);
    await throttled;
    const records = lines.map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(records).toHaveLength(1);
    expect(records[0]).toMatchObject({
      msg: 'Waited before sending request',
      v: 3,
      delay: '0.100s',
      reason: 'client-side throttling, not priority and fairness',
      verb: 'GET',
      URL: '/version?a=1',
    });
  });

  it('sends JSON bodies with query parameters and returns the parsed answer', async () => {
    server.route('POST', '/api/v1/namespaces/ns/events', (req) => ({ status: 201, body: JSON.parse(req.body) }));
    const c = client();
    const response = await c.request<{ reason: string }>({
      method: 'POST',
      path: '/api/v1/namespaces/ns/events',
      query: { fieldManager: 'test', dryRun: undefined },
      body: { reason: 'Provisioning' },
    });
    expect(response).toEqual({ status: 201, body: { reason: 'Provisioning' } });
    const [request] = server.requestsTo('/api/v1/namespaces/ns/events');
    expect(request.headers['content-type']).toBe('application/json');
    expect(request.query.toString()).toBe('fieldManager=test');
  });

  it('uses the given content type for a raw patch', async () => {
    server.route('PATCH', '/api/v1/persistentvolumes/pv-1', () => ({ status: 200, body: {} }));
    await client().request({
      method: 'PATCH',
      path: '/api/v1/persistentvolumes/pv-1',
      body: { metadata: { finalizers: null } },
      contentType: 'application/merge-patch+json',
    });
    expect(server.requestsTo('/api/v1/persistentvolumes/pv-1')[0].headers['content-type']).toBe(
      'application/merge-patch+json',
    );
  });

  it('accepts every patch format and refuses a raw PATCH without one before sending it', async () => {
    const path = '/api/v1/persistentvolumes/pv-1';
    server.route('PATCH', path, () => ({ status: 200, body: {} }));
    const c = client();
    const body = { metadata: { finalizers: null } };
    for (const contentType of [
      'application/json-patch+json',
      'application/merge-patch+json',
      'application/strategic-merge-patch+json',
      'application/apply-patch+yaml',
    ]) {
      await c.request({ method: 'PATCH', path, body, contentType });
    }
    expect(server.requestsTo(path).map((r) => r.headers['content-type'])).toHaveLength(4);

    await expect(c.request({ method: 'PATCH', path, body })).rejects.toThrow(
      /^PATCH \/api\/v1\/persistentvolumes\/pv-1: contentType must name the patch format \(application\/json-patch\+json, .*\), got none$/,
    );
    await expect(c.stream({ method: 'PATCH', path, body, contentType: 'application/json' })).rejects.toThrow(
      /got application\/json$/,
    );
    expect(server.requestsTo(path)).toHaveLength(4);
  });

  it('rejects an HTTP error with a KubeApiError carrying the Status', async () => {
    const err: unknown = await client()
      .request({ method: 'GET', path: '/api/v1/persistentvolumes/missing' })
      .catch((e: unknown) => e);
    expect(err).toBeInstanceOf(KubeApiError);
    expect(isNotFound(err)).toBe(true);
    expect(statusMessage(err)).toBe('GET /api/v1/persistentvolumes/missing is not served');
  });

  it("names the resource in client-go's text for an answer without a Status (a resource the server does not serve)", async () => {
    const path = '/apis/snapshot.storage.k8s.io/v1/namespaces/default/volumesnapshots/snap';
    server.route('GET', path, () => ({
      status: 404,
      text: '404 page not found',
      contentType: 'text/plain; charset=utf-8',
    }));
    const err: unknown = await client()
      .request({ method: 'GET', path })
      .catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
    expect(statusMessage(err)).toBe(
      'the server could not find the requested resource (get volumesnapshots.snapshot.storage.k8s.io snap)',
    );
    server.route('GET', '/api/v1/nodes', () => ({ status: 503, text: 'upstream connect error' }));
    const unavailable: unknown = await client()
      .request({ method: 'GET', path: '/api/v1/nodes' })
      .catch((e: unknown) => e);
    expect(statusMessage(unavailable)).toBe('the server is currently unable to handle the request (get nodes)');
  });

  it('reads group, resource and name from an API path as client-go knows them', () => {
    expect(requestTarget('GET', '/api/v1/namespaces/ns/persistentvolumeclaims/c/status')).toEqual({
      method: 'GET',
      group: '',
      resource: 'persistentvolumeclaims',
      name: 'c',
    });
    expect(requestTarget('PUT', '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/l')).toEqual({
      method: 'PUT',
      group: 'coordination.k8s.io',
      resource: 'leases',
      name: 'l',
    });
    expect(requestTarget('GET', '/api/v1/namespaces/ns')).toMatchObject({ resource: 'namespaces', name: 'ns' });
    expect(requestTarget('GET', '/apis/storage.k8s.io/v1/csinodes?watch=1')).toMatchObject({
      group: 'storage.k8s.io',
      resource: 'csinodes',
      name: '',
    });
    expect(requestTarget('GET', '/version')).toEqual({ method: 'GET', group: '', resource: '' });
    expect(requestTarget('GET', '/apis/storage.k8s.io/v1')).toEqual({ method: 'GET', group: '', resource: '' });
  });

  it('hands a streamed body over unread', async () => {
    const watch = server.collection('/api/v1/pods');
    const c = client();
    const response = await c.stream({ method: 'GET', path: '/api/v1/pods', query: { watch: 1 } });
    watch.create({ metadata: { name: 'p', namespace: 'ns' } });
    let text = '';
    for await (const chunk of response.body as AsyncIterable<Buffer>) {
      text += chunk.toString();
      if (text.endsWith('\n')) break;
    }
    expect(JSON.parse(text)).toMatchObject({ type: 'ADDED', object: { metadata: { name: 'p' } } });
  });

  it('keeps a path prefix of the server URL', async () => {
    server.route('GET', '/prefix/version', () => ({ status: 200, body: {} }));
    server.route('GET', '/prefix/api/v1/namespaces/default/pods', emptyList);
    const c = client({ kubeConfig: server.kubeConfig({ server: `${server.url}/prefix/` }) });
    await c.request({ method: 'GET', path: '/version' });
    await c.api(CoreV1Api).listNamespacedPod({ namespace: 'default' });
    expect(server.requests.map((r) => r.path)).toEqual(['/prefix/version', '/prefix/api/v1/namespaces/default/pods']);
  });

  it('does not send a request whose signal aborts while it waits for a token', async () => {
    const clock = new FakeClock();
    const c = client({ qps: 1, burst: 1, clock });
    await c.request({ method: 'GET', path: '/version' });
    const controller = new AbortController();
    const pending = c.request({ method: 'GET', path: '/version', signal: controller.signal });
    controller.abort(new Error('shutting down'));
    await expect(pending).rejects.toThrow('shutting down');
    await clock.advance(5000);
    await waitFor(() => true, 'nothing');
    expect(server.requestsTo('/version')).toHaveLength(1);
  });

  it('refuses kubeconfigs it cannot serve faithfully', () => {
    const proxied = new KubeConfig();
    proxied.loadFromOptions({
      clusters: [{ name: 'c', server: 'https://k8s:6443', proxyUrl: 'http://proxy:3128', skipTLSVerify: false }],
      users: [{ name: 'u' }],
      contexts: [{ name: 'x', cluster: 'c', user: 'u' }],
      currentContext: 'x',
    });
    expect(() => client({ kubeConfig: proxied })).toThrow(/proxy-url/);
    const plain = server.kubeConfig();
    plain.clusters = [{ ...plain.clusters[0], skipTLSVerify: false }];
    expect(() => client({ kubeConfig: plain })).toThrow(/plain http/);
  });
});
