import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CoordinationV1Api, KubeConfig, V1MicroTime } from '@kubernetes/client-node';
import { realClock } from '../clock/clock.js';
import { createKubeClient } from '../kube/client.js';
import { isConflict, KubeApiError, statusCode, statusReason } from '../kube/errors.js';
import { discardLogger } from '../log/logger.js';
import { LeaderElector } from './leader-elector.js';
import { coordinationLeaseClient } from './lease-client.js';
import type { LeaseClient } from './lease-client.js';

interface Request {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

/** A reply, or undefined to leave the request hanging. */
type Reply = (req: Request) => { status: number; body: unknown } | undefined;

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A scripted apiserver on loopback, driven through the real client-node CoordinationV1Api. */
async function fakeApiserver(
  reply: Reply,
): Promise<{ client: LeaseClient; kc: KubeConfig; requests: Request[]; closed: Promise<void> }> {
  const requests: Request[] = [];
  const closed = Promise.withResolvers<void>();
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    res.on('close', () => {
      if (!res.writableFinished) closed.resolve();
    });
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request: Request = {
        method: req.method ?? '',
        url: req.url ?? '',
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      const answer = reply(request);
      if (!answer) return;
      res.writeHead(answer.status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(answer.body));
    });
  });
  servers.push(server);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'test', server: `http://127.0.0.1:${port}`, skipTLSVerify: true }],
    users: [{ name: 'test' }],
    contexts: [{ name: 'test', cluster: 'test', user: 'test' }],
    currentContext: 'test',
  });
  return {
    client: coordinationLeaseClient(kc.makeApiClient(CoordinationV1Api)),
    kc,
    requests,
    closed: closed.promise,
  };
}

function status(code: number, reason: string, message: string): { status: number; body: unknown } {
  return { status: code, body: { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code } };
}

const LEASE_PATH = '/apis/coordination.k8s.io/v1/namespaces/kube-system/leases/my-lock';

describe('coordinationLeaseClient', () => {
  it('maps 404 on GET to undefined', async () => {
    const { client, requests } = await fakeApiserver(() =>
      status(404, 'NotFound', 'leases.coordination.k8s.io "my-lock" not found'),
    );
    await expect(client.get('kube-system', 'my-lock')).resolves.toBeUndefined();
    expect(requests.map((r) => `${r.method} ${r.url}`)).toEqual([`GET ${LEASE_PATH}`]);
  });

  it('returns MicroTimes as the wire strings, not Dates', async () => {
    const { client } = await fakeApiserver(() => ({
      status: 200,
      body: { metadata: { name: 'my-lock', resourceVersion: '7' }, spec: { renewTime: '2024-05-01T10:00:00.123456Z' } },
    }));
    const lease = await client.get('kube-system', 'my-lock');
    expect(lease?.spec?.renewTime).toBe('2024-05-01T10:00:00.123456Z');
  });

  it('turns a 409 on PUT into a KubeApiError the shared helpers classify, with a one-line message', async () => {
    const { client, requests } = await fakeApiserver(() =>
      status(409, 'Conflict', 'the object has been modified; please apply your changes to the latest version'),
    );
    const error = await client
      .replace('kube-system', 'my-lock', { metadata: { name: 'my-lock', resourceVersion: '6' } })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(KubeApiError);
    expect(isConflict(error)).toBe(true);
    expect([statusCode(error), statusReason(error)]).toEqual([409, 'Conflict']);
    expect((error as Error).message).toBe(
      'PUT lease kube-system/my-lock: 409 Conflict: the object has been modified; please apply your changes to the latest version',
    );
    expect(requests[0].method).toBe('PUT');
    expect(requests[0].url).toBe(LEASE_PATH);
    expect(JSON.parse(requests[0].body)).toMatchObject({ metadata: { resourceVersion: '6' } });
  });

  it('aborts a request in flight when its signal aborts', async () => {
    const arrived = Promise.withResolvers<void>();
    const { client, closed } = await fakeApiserver(() => void arrived.resolve());
    const controller = new AbortController();
    const put = client
      .replace('kube-system', 'my-lock', { metadata: { name: 'my-lock', resourceVersion: '6' } }, controller.signal)
      .catch((e: unknown) => e);
    await arrived.promise;
    const reason = new Error('deadline exceeded');
    controller.abort(reason);

    expect(await put).toBe(reason);
    // The connection is torn down, so the apiserver cannot apply the write later.
    await closed;
  });

  it('aborts a call still waiting for the shared kube client token bucket', async () => {
    const { kc, requests } = await fakeApiserver(() => status(404, 'NotFound', 'not found'));
    const kube = createKubeClient({ kubeConfig: kc, qps: 0.001, burst: 1, userAgent: 'test' });
    const client = coordinationLeaseClient(kube.api(CoordinationV1Api));
    await client.get('kube-system', 'my-lock');
    const controller = new AbortController();
    const waiting = client.get('kube-system', 'my-lock', controller.signal).catch((e: unknown) => e);
    const reason = new Error('deadline exceeded');
    controller.abort(reason);

    expect(await waiting).toBe(reason);
    expect(requests).toHaveLength(1);
    await kube.close();
  });

  it('does not send a request whose signal has already aborted', async () => {
    const { client, requests } = await fakeApiserver(() => status(404, 'NotFound', 'not found'));
    await expect(client.get('kube-system', 'my-lock', AbortSignal.abort())).rejects.toThrow();
    expect(requests).toEqual([]);
  });

  it('sends V1MicroTime with six fractional digits through the real serializer', async () => {
    const { client, requests } = await fakeApiserver((req) => ({ status: 201, body: JSON.parse(req.body) }));
    await client.create('kube-system', {
      metadata: { name: 'my-lock' },
      spec: { renewTime: new V1MicroTime(Date.UTC(2024, 4, 1, 10, 0, 0, 123)) },
    });
    expect(requests[0].body).toContain('"renewTime":"2024-05-01T10:00:00.123000Z"');
  });

  it('lets the elector create the Lease over HTTP in the apiserver MicroTime form', async () => {
    const { client, requests } = await fakeApiserver((req) => {
      if (req.method === 'GET') return status(404, 'NotFound', 'not found');
      const lease = JSON.parse(req.body) as { metadata: Record<string, unknown> };
      return {
        status: req.method === 'POST' ? 201 : 200,
        body: { ...lease, metadata: { ...lease.metadata, resourceVersion: '1' } },
      };
    });
    const controller = new AbortController();
    const leading = Promise.withResolvers<void>();
    const elector = new LeaderElector({
      leaseClient: client,
      namespace: 'kube-system',
      name: 'my-lock',
      identity: 'pod-a',
      clock: realClock,
      logger: discardLogger(),
      labels: { app: 'csi' },
      onStartedLeading: () => leading.resolve(),
      onStoppedLeading: () => {},
    });
    const done = elector.run(controller.signal);
    await leading.promise;
    controller.abort();
    await done;

    const post = requests.find((r) => r.method === 'POST');
    expect(post?.url).toBe('/apis/coordination.k8s.io/v1/namespaces/kube-system/leases');
    const body = JSON.parse(post?.body ?? '{}') as Record<string, Record<string, unknown>>;
    expect(body.metadata).toEqual({ name: 'my-lock', namespace: 'kube-system', labels: { app: 'csi' } });
    expect(body.spec.holderIdentity).toBe('pod-a');
    expect(body.spec.leaseTransitions).toBe(0);
    expect(body.spec.acquireTime).toMatch(/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z$/);
    expect(body.spec.renewTime).toBe(body.spec.acquireTime);
  });
});
