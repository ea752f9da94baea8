import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { realClock } from '../clock/clock.js';
import { createKubeClient } from './client.js';
import type { KubeClient } from './client.js';
import { isNotFound } from './errors.js';
import { listAll, WatchDecoder } from './list-watch.js';
import type { ListAllOptions } from './list-watch.js';
import { FakeApiServer } from './testing/fake-apiserver.js';
import type { FakeCollection } from './testing/fake-apiserver.js';

const encode = (text: string): Uint8Array => new TextEncoder().encode(text);

describe('WatchDecoder', () => {
  it('reassembles events split across chunks and splits chunks holding several events', () => {
    const decoder = new WatchDecoder();
    const first = JSON.stringify({ type: 'ADDED', object: { metadata: { name: 'a' } } });
    const second = JSON.stringify({ type: 'BOOKMARK', object: { metadata: { resourceVersion: '7' } } });
    expect(decoder.push(encode(first.slice(0, 10)))).toEqual([]);
    expect(decoder.push(encode(first.slice(10, 20)))).toEqual([]);
    const events = decoder.push(encode(`${first.slice(20)}\n${second}\n`));
    expect(events.map((e) => e.type)).toEqual(['ADDED', 'BOOKMARK']);
  });

  it('keeps multi-byte characters intact when a chunk boundary cuts through them', () => {
    const decoder = new WatchDecoder();
    const bytes = encode(JSON.stringify({ type: 'ADDED', object: { data: 'größe ✓' } }) + '\n');
    const cut = bytes.indexOf(0xc3) + 1; // inside the two-byte "ö"
    expect(decoder.push(bytes.subarray(0, cut))).toEqual([]);
    expect(decoder.push(bytes.subarray(cut))).toEqual([{ type: 'ADDED', object: { data: 'größe ✓' } }]);
  });

  it('skips blank lines and rejects malformed events', () => {
    const decoder = new WatchDecoder();
    expect(decoder.push(encode('\n\n'))).toEqual([]);
    expect(() => decoder.push(encode('{"type":"ADDED"}\n'))).toThrow(/malformed watch event/);
    expect(() => new WatchDecoder().push(encode('{not json\n'))).toThrow();
  });
});

describe('listAll', () => {
  const path = '/api/v1/persistentvolumes';
  let server: FakeApiServer;
  let client: KubeClient;
  let collection: FakeCollection;

  function list(overrides: Partial<ListAllOptions> = {}) {
    return listAll({
      transport: client,
      path,
      pageSize: 2,
      pageTimeoutMs: 5000,
      clock: realClock,
      signal: new AbortController().signal,
      ...overrides,
    });
  }

  beforeEach(async () => {
    server = await FakeApiServer.start();
    client = createKubeClient({ kubeConfig: server.kubeConfig(), qps: -1, burst: 1, userAgent: 'test' });
    collection = server.collection(path);
    for (const name of ['a', 'b', 'c', 'd', 'e']) collection.create({ metadata: { name } });
  });

  afterEach(async () => {
    await client.close();
    await server.close();
  });

  it('follows continue tokens page by page and returns every item with the list resourceVersion', async () => {
    const result = await list({ labelSelector: 'app=x', fieldSelector: 'spec.nodeName=n' });
    expect(result.items.map((i) => (i as { metadata: { name: string } }).metadata.name)).toEqual([
      'a',
      'b',
      'c',
      'd',
      'e',
    ]);
    expect(result.resourceVersion).toBe(collection.get('e')?.metadata?.resourceVersion);
    const requests = server.requestsTo(path);
    expect(requests.map((r) => r.query.get('limit'))).toEqual(['2', '2', '2']);
    expect(requests.map((r) => r.query.has('continue'))).toEqual([false, true, true]);
    expect(requests.every((r) => r.query.get('labelSelector') === 'app=x')).toBe(true);
    expect(requests.every((r) => r.query.get('fieldSelector') === 'spec.nodeName=n')).toBe(true);
    expect(requests.some((r) => r.query.has('resourceVersion'))).toBe(false);
  });

  it('sends a resourceVersion with the first page only, and says whether the answer came in pages', async () => {
    const paged = await list({ resourceVersion: '0' });
    expect(paged.paginated).toBe(true);
    expect(server.requestsTo(path).map((r) => r.query.get('resourceVersion'))).toEqual(['0', null, null]);
  });

  it('asks for everything in one response when pageSize is 0', async () => {
    const rv = collection.get('e')?.metadata?.resourceVersion;
    const whole = await list({ pageSize: 0, resourceVersion: rv });
    expect([whole.items.length, whole.paginated, whole.resourceVersion]).toEqual([5, false, rv]);
    const [request] = server.requestsTo(path);
    expect([request.query.has('limit'), request.query.get('resourceVersion')]).toEqual([false, rv]);
  });

  it('starts over from the first page when a continue token has expired', async () => {
    let compacted = false;
    collection.beforeListPage = (token) => {
      if (token !== '' && !compacted) {
        compacted = true;
        collection.create({ metadata: { name: 'f' } });
        collection.compact();
      }
    };
    let restarts = 0;
    const result = await list({ onRestart: () => restarts++ });
    expect(restarts).toBe(1);
    expect(result.items).toHaveLength(6);
    const continued = server.requestsTo(path).map((r) => r.query.has('continue'));
    expect(continued).toEqual([false, true, false, true, true]);
  });

  it('passes other errors, and a 410 on the first page, to the caller', async () => {
    collection.failNextLists(1, 410);
    await expect(list()).rejects.toMatchObject({ code: 410 });
    const err: unknown = await list({ path: '/api/v1/nothing' }).catch((e: unknown) => e);
    expect(isNotFound(err)).toBe(true);
  });
});
