import { createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { isAlreadyExists, isForbidden, KubeApiError, statusCode, statusReason } from '../kube/errors.js';
import { coreV1EventSink } from './event-sink.js';
import type { EventSink } from './event-sink.js';

interface Request {
  method: string;
  url: string;
  contentType: string | undefined;
  body: string;
}

const servers: Server[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) {
    s.closeAllConnections();
    await new Promise((resolve) => s.close(resolve));
  }
});

/** A scripted apiserver on loopback, reached through the real client-node CoreV1Api. */
async function fakeApiserver(
  reply: (req: Request) => { status: number; body: unknown },
): Promise<{ sink: EventSink; requests: Request[] }> {
  const requests: Request[] = [];
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const request = {
        method: req.method ?? '',
        url: req.url ?? '',
        contentType: req.headers['content-type'],
        body: Buffer.concat(chunks).toString('utf8'),
      };
      requests.push(request);
      const { status, body } = reply(request);
      res.writeHead(status, { 'content-type': 'application/json' });
      res.end(JSON.stringify(body));
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
  return { sink: coreV1EventSink(kc.makeApiClient(CoreV1Api)), requests };
}

describe('coreV1EventSink', () => {
  it('POSTs core/v1 Events into the namespace', async () => {
    const { sink, requests } = await fakeApiserver((req) => ({ status: 201, body: JSON.parse(req.body) }));
    await sink.create('apps', {
      metadata: { name: 'claim-1.17', namespace: 'apps' },
      involvedObject: { kind: 'PersistentVolumeClaim', name: 'claim-1', namespace: 'apps', apiVersion: 'v1' },
      reason: 'Provisioning',
      firstTimestamp: new Date(Date.UTC(2024, 0, 2, 3, 4, 5)),
      count: 1,
    });

    expect(requests[0].method).toBe('POST');
    expect(requests[0].url).toBe('/api/v1/namespaces/apps/events');
    // metav1.Time parses RFC 3339 with or without fractional seconds.
    expect(JSON.parse(requests[0].body)).toMatchObject({ firstTimestamp: '2024-01-02T03:04:05.000Z', count: 1 });
  });

  it('PATCHes with the strategic merge patch content type, not client-node’s JSON Patch default', async () => {
    const { sink, requests } = await fakeApiserver(() => ({
      status: 200,
      body: { metadata: { name: 'claim-1.17', namespace: 'apps' }, involvedObject: {}, count: 2 },
    }));
    const patched = await sink.patch('apps', 'claim-1.17', { count: 2, lastTimestamp: '2024-01-02T03:04:06Z' });

    expect(patched.count).toBe(2);
    expect(requests[0].method).toBe('PATCH');
    expect(requests[0].url).toBe('/api/v1/namespaces/apps/events/claim-1.17');
    expect(requests[0].contentType).toBe('application/strategic-merge-patch+json');
    expect(requests[0].body).toBe('{"count":2,"lastTimestamp":"2024-01-02T03:04:06Z"}');
  });

  it('turns apiserver failures into a KubeApiError carrying the Status and its causes', async () => {
    const { sink } = await fakeApiserver(() => ({
      status: 403,
      body: {
        kind: 'Status',
        status: 'Failure',
        reason: 'Forbidden',
        message:
          'events "x" is forbidden: unable to create new content in namespace apps because it is being terminated',
        details: { causes: [{ reason: 'NamespaceTerminating', message: 'namespace apps is being terminated' }] },
        code: 403,
      },
    }));
    const error = await sink
      .create('apps', { metadata: { name: 'x', namespace: 'apps' }, involvedObject: {} })
      .catch((e: unknown) => e);

    expect(error).toBeInstanceOf(KubeApiError);
    expect(isForbidden(error)).toBe(true);
    expect([statusCode(error), statusReason(error)]).toEqual([403, 'Forbidden']);
    expect((error as KubeApiError).status?.details?.causes).toEqual([
      { reason: 'NamespaceTerminating', message: 'namespace apps is being terminated' },
    ]);
    expect((error as Error).message).toMatch(/^POST event apps\/x: 403 Forbidden: .*being terminated$/);
  });

  it('classifies a 409 AlreadyExists with the shared helpers', async () => {
    const { sink } = await fakeApiserver(() => ({
      status: 409,
      body: {
        kind: 'Status',
        status: 'Failure',
        reason: 'AlreadyExists',
        message: 'events "x" already exists',
        code: 409,
      },
    }));
    const error = await sink
      .create('apps', { metadata: { name: 'x', namespace: 'apps' }, involvedObject: {} })
      .catch((e: unknown) => e);

    expect(isAlreadyExists(error)).toBe(true);
  });
});
