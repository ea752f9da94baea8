import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Logger } from '../log/logger.js';
import { FakeClock } from '../testing/fake-clock.js';
import type { KubeObject } from './cache.js';
import { objectKey } from './cache.js';
import { createKubeClient } from './client.js';
import type { KubeClient } from './client.js';
import { Informer } from './informer.js';
import type { InformerOptions } from './informer.js';
import { FakeApiServer, statusBody, tooLargeResourceVersionStatus } from './testing/fake-apiserver.js';
import type { FakeCollection } from './testing/fake-apiserver.js';
import { waitFor } from './testing/wait.js';

interface Thing extends KubeObject {
  data?: string;
}

const PATH = '/apis/example.com/v1/things';

function thing(name: string, data: string, extra: Partial<Thing> = {}): Thing {
  return {
    apiVersion: 'example.com/v1',
    kind: 'Thing',
    ...extra,
    metadata: { name, namespace: 'ns', ...extra.metadata },
    data,
  };
}

describe('Informer', () => {
  let server: FakeApiServer;
  let client: KubeClient;
  let things: FakeCollection;
  let logLines: Record<string, unknown>[];
  const informers: Informer<Thing>[] = [];

  /** An informer with fast retries whose events are recorded as short strings. */
  function start(options: Partial<InformerOptions<Thing>> = {}) {
    const logger = new Logger({ verbosity: 4, format: 'json', sink: (l) => logLines.push(JSON.parse(l)) });
    const informer = new Informer<Thing>({
      transport: client,
      path: PATH,
      backoff: { initialMs: 10, maxMs: 50 },
      logger,
      ...options,
    });
    const events: string[] = [];
    informer.addEventHandler({
      add: (obj) => events.push(`add ${objectKey(obj)}=${obj.data}`),
      update: (old, obj) => events.push(`update ${objectKey(obj)} ${old.data}->${obj.data}`),
      delete: (obj, unknown) =>
        events.push(`delete ${objectKey(obj)}=${obj.data}${unknown ? ' (final state unknown)' : ''}`),
    });
    informers.push(informer);
    informer.start();
    return { informer, events };
  }

  const watches = () => server.requestsTo(PATH, (r) => r.query.get('watch') === '1');
  const lists = () => server.requestsTo(PATH, (r) => !r.query.has('watch'));
  /** Complete states taken, by LIST or by watch-list. */
  const syncs = (informer: Informer<Thing>) => informer.stats().lists + informer.stats().watchLists;

  beforeEach(async () => {
    server = await FakeApiServer.start();
    client = createKubeClient({ kubeConfig: server.kubeConfig(), qps: -1, burst: 1, userAgent: 'informer-test' });
    things = server.collection(PATH);
    logLines = [];
  });

  afterEach(async () => {
    await Promise.all(informers.splice(0).map((i) => i.stop()));
    await client.close();
    await server.close();
  });

  describe('listing (watchList: false)', () => {
    it('lists page by page and delivers every object as an add before it reports synced', async () => {
      for (const name of ['a', 'b', 'c', 'd', 'e']) things.create(thing(name, '1'));
      const { informer, events } = start({ pageSize: 2, watchList: false });
      expect(informer.hasSynced()).toBe(false);
      expect(await informer.waitForSync()).toBe(true);

      expect(informer.hasSynced()).toBe(true);
      expect(events).toEqual(['add ns/a=1', 'add ns/b=1', 'add ns/c=1', 'add ns/d=1', 'add ns/e=1']);
      expect(lists().map((r) => r.query.get('limit'))).toEqual(['2', '2', '2']);
      // Only the first page names a version: "0", so the apiserver may answer from its watch cache.
      expect(lists().map((r) => r.query.get('resourceVersion'))).toEqual(['0', null, null]);
      expect(informer.list()).toHaveLength(5);
      expect(informer.get('ns/c')?.data).toBe('1');
      expect(informer.keys()).toContain('ns/e');
    });

    it('retries a failing initial list until it succeeds', async () => {
      things.create(thing('a', '1'));
      things.failNextLists(3, 500);
      const { informer, events } = start({ watchList: false });
      expect(await informer.waitForSync()).toBe(true);
      expect(events).toEqual(['add ns/a=1']);
      expect(informer.stats().listFailures).toBe(3);
      expect(logLines.filter((l) => l.msg === 'Failed to list, retrying')).toHaveLength(3);
    });

    it('starts the list over when its continue token expires', async () => {
      for (const name of ['a', 'b', 'c']) things.create(thing(name, '1'));
      let compacted = false;
      things.beforeListPage = (token) => {
        if (token !== '' && !compacted) {
          compacted = true;
          things.create(thing('d', '1'));
          things.compact();
        }
      };
      const { informer, events } = start({ pageSize: 2, watchList: false });
      await informer.waitForSync();
      expect(events).toEqual(['add ns/a=1', 'add ns/b=1', 'add ns/c=1', 'add ns/d=1']);
      expect(lists().map((r) => r.query.has('continue'))).toEqual([false, true, false, true]);
    });

    it('reports not synced to waiters that give up or when stopped first', async () => {
      things.failNextLists(10_000, 500);
      const { informer } = start({ watchList: false });
      expect(await informer.waitForSync(AbortSignal.timeout(50))).toBe(false);
      const waiting = informer.waitForSync();
      await informer.stop();
      expect(await waiting).toBe(false);
      expect(await informer.waitForSync()).toBe(false);
      expect(informer.hasSynced()).toBe(false);
    });
  });

  describe('watching', () => {
    it('watches from the listed resourceVersion with bookmarks, selectors and a jittered timeout', async () => {
      things.create(thing('a', '1'));
      const { informer } = start({
        labelSelector: 'app=x',
        fieldSelector: 'spec.node=n',
        random: () => 0.5,
        watchList: false,
      });
      await informer.waitForSync();
      await waitFor(() => watches().length === 1, 'the watch request');
      const query = watches()[0].query;
      expect(Object.fromEntries(query)).toEqual({
        watch: '1',
        allowWatchBookmarks: 'true',
        resourceVersion: things.get('ns/a')?.metadata?.resourceVersion,
        timeoutSeconds: '450',
        labelSelector: 'app=x',
        fieldSelector: 'spec.node=n',
      });
      expect(lists()[0].query.get('labelSelector')).toBe('app=x');
    });

    it('delivers add, update with the old object, and delete in order', async () => {
      const { informer, events } = start();
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      things.create(thing('a', '1'));
      things.update(thing('a', '2'));
      things.create(thing('b', '1'));
      things.delete('ns/a');
      await waitFor(() => events.length === 4, 'four events');
      expect(events).toEqual(['add ns/a=1', 'update ns/a 1->2', 'add ns/b=1', 'delete ns/a=2']);
      expect(informer.keys()).toEqual(['ns/b']);
      expect(informer.lastSyncResourceVersion()).toBe(
        String(Number(things.get('ns/b')?.metadata?.resourceVersion) + 1),
      );
    });

    it('moves the resourceVersion on bookmarks, so the next watch starts there', async () => {
      things.create(thing('a', '1'));
      const { informer, events } = start();
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      server.collection('/api/v1/other').create({ metadata: { name: 'x' } }); // moves the global RV
      const bookmarkRv = server.collection('/api/v1/other').get('x')?.metadata?.resourceVersion;
      things.bookmark();
      await waitFor(() => informer.lastSyncResourceVersion() === bookmarkRv, 'the bookmark');

      things.endWatches();
      await waitFor(() => watches().length === 2, 'the second watch');
      expect(watches()[1].query.get('resourceVersion')).toBe(bookmarkRv);
      expect(events).toEqual(['add ns/a=1']);
    });

    it('resumes at once, without counting a failure, when the server ends a watch normally', async () => {
      const { informer, events } = start();
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      things.create(thing('a', '1'));
      await waitFor(() => events.length === 1, 'the add');
      const rv = informer.lastSyncResourceVersion();
      things.endWatches();
      await waitFor(() => watches().length === 2, 'the second watch');
      expect(watches()[1].query.get('resourceVersion')).toBe(rv);
      things.update(thing('a', '2'));
      await waitFor(() => events.length === 2, 'the update');
      expect(informer.stats()).toMatchObject({ watchFailures: 0, watchLists: 1, lists: 0 });
    });

    it('re-watches from the last resourceVersion after the socket is destroyed, missing nothing', async () => {
      things.create(thing('a', '1'));
      const { informer, events } = start();
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      things.update(thing('a', '2'));
      await waitFor(() => events.length === 2, 'the update');
      const rv = informer.lastSyncResourceVersion();

      things.destroyWatches();
      things.update(thing('a', '3')); // happens while no watch is open
      await waitFor(() => events.length === 3, 'the update made during the outage');
      expect(events).toEqual(['add ns/a=1', 'update ns/a 1->2', 'update ns/a 2->3']);
      expect(watches()[1].query.get('resourceVersion')).toBe(rv);
      expect(informer.stats()).toMatchObject({ watchLists: 1, lists: 0, watchFailures: 1 });
    });

    it('keeps retrying a watch that fails with HTTP 500, with backoff, and never gives up', async () => {
      const { informer, events } = start();
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      things.failNextWatches(6, 500);
      things.destroyWatches();
      things.create(thing('late', '1'));
      await waitFor(() => events.length === 1, 'the add after the failures');
      expect(events).toEqual(['add ns/late=1']);
      expect(informer.stats()).toMatchObject({ watchFailures: 7, watchLists: 1, lists: 0 });
      expect(watches()).toHaveLength(8);
      const retries = logLines.filter((l) => l.msg === 'Watch failed, watching again from the last resourceVersion');
      expect(retries).toHaveLength(7);
      expect(String(retries[1].error)).toContain('500 InternalError: injected watch failure');
    });

    it('reassembles events that arrive split across TCP writes', async () => {
      const { informer, events } = start();
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      const line = (name: string, rv: string) =>
        JSON.stringify({
          type: 'ADDED',
          object: { ...thing(name, 'raw'), metadata: { name, namespace: 'ns', resourceVersion: rv } },
        }) + '\n';
      const first = line('x', '5001');
      things.writeRaw(first.slice(0, 25));
      await new Promise((resolve) => setTimeout(resolve, 20));
      things.writeRaw(first.slice(25) + line('y', '5002'));
      await waitFor(() => events.length === 2, 'both adds');
      expect(events).toEqual(['add ns/x=raw', 'add ns/y=raw']);
      expect(informer.lastSyncResourceVersion()).toBe('5002');
    });

    it('re-watches without relisting after an ERROR event other than 410', async () => {
      things.create(thing('a', '1'));
      const { informer, events } = start();
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      const rv = informer.lastSyncResourceVersion();
      things.sendError(statusBody(500, 'etcd hiccup'));
      await waitFor(() => watches().length === 2, 'the second watch');
      expect(watches()[1].query.get('resourceVersion')).toBe(rv);
      expect(informer.stats()).toMatchObject({ watchLists: 1, lists: 0, watchFailures: 1, expired: 0 });
      expect(events).toEqual(['add ns/a=1']);
    });
  });

  describe.each([
    { mode: 'watch-list', watchList: true },
    { mode: 'LIST', watchList: false },
  ])('relisting after 410 Gone ($mode)', ({ watchList }) => {
    /** Changes made while the informer cannot see them, then history compacted past its resourceVersion. */
    async function outage(): Promise<void> {
      things.stallWatches();
      things.update(thing('a', '2'));
      things.delete('ns/b');
      things.create(thing('d', '1'));
      things.compact();
    }

    async function synced() {
      for (const name of ['a', 'b', 'c']) things.create(thing(name, '1'));
      const started = start({ watchList });
      await started.informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      return started;
    }

    it('relists on an ERROR 410 event and reports exactly what changed during the outage', async () => {
      const { informer, events } = await synced();
      await outage();
      things.destroyWatches(); // the re-watch from the old resourceVersion now gets ERROR 410 Expired
      await waitFor(() => events.length === 6, 'the relist events');
      expect(events.slice(3)).toEqual(['update ns/a 1->2', 'add ns/d=1', 'delete ns/b=1 (final state unknown)']);
      expect(informer.keys().sort()).toEqual(['ns/a', 'ns/c', 'ns/d']);
      expect(syncs(informer)).toBe(2);
      expect(informer.stats().expired).toBe(1);
      await waitFor(() => things.openWatches === 1, 'the watch after the relist');
      things.update(thing('c', '2'));
      await waitFor(() => events.length === 7, 'an update after the relist');
      expect(events[6]).toBe('update ns/c 1->2');
    });

    it('relists when the watch request itself answers HTTP 410', async () => {
      const { informer, events } = await synced();
      await outage();
      things.failNextWatches(1, 410);
      things.destroyWatches();
      await waitFor(() => events.length === 6, 'the relist events');
      expect(events.slice(3)).toEqual(['update ns/a 1->2', 'add ns/d=1', 'delete ns/b=1 (final state unknown)']);
      expect(informer.stats().expired).toBe(1);
    });

    it('delivers nothing for objects whose resourceVersion did not change', async () => {
      const { informer, events } = await synced();
      things.sendError(statusBody(410, 'too old resource version', 'Expired'));
      await waitFor(() => syncs(informer) === 2, 'the relist');
      expect(events).toEqual(['add ns/a=1', 'add ns/b=1', 'add ns/c=1']);
      expect(informer.get('ns/a')?.data).toBe('1');
    });

    it('keeps retrying a relist that fails with HTTP 500', async () => {
      const { informer, events } = await synced();
      await outage();
      // In watch-list mode every attempt is refused first and falls back to a LIST, which fails too.
      things.watchListSupported = false;
      things.failNextLists(4, 500);
      things.destroyWatches();
      await waitFor(() => events.length === 6, 'the relist events');
      expect(syncs(informer)).toBe(2);
      expect(informer.stats()).toMatchObject({ listFailures: 4, expired: 1 });
    });
  });

  describe('initial state and resourceVersions, as client-go v0.36', () => {
    it('streams the initial state through a watch-list and keeps watching on the same connection', async () => {
      things.create(thing('a', '1'));
      things.create(thing('b', '1'));
      const { informer, events } = start({ random: () => 0 });
      const seenBeforeSync: boolean[] = [];
      informer.addEventHandler({ add: () => seenBeforeSync.push(informer.hasSynced()) });
      expect(await informer.waitForSync()).toBe(true);
      expect(events).toEqual(['add ns/a=1', 'add ns/b=1']);
      expect(seenBeforeSync).toEqual([false, false]);
      expect(lists()).toEqual([]);
      expect(Object.fromEntries(watches()[0].query)).toEqual({
        watch: '1',
        allowWatchBookmarks: 'true',
        sendInitialEvents: 'true',
        resourceVersionMatch: 'NotOlderThan',
        timeoutSeconds: '300',
      });
      expect(informer.lastSyncResourceVersion()).toBe(things.get('ns/b')?.metadata?.resourceVersion);

      await waitFor(() => things.openWatches === 1, 'the watch');
      things.update(thing('a', '2'));
      await waitFor(() => events.length === 3, 'the update');
      expect(events[2]).toBe('update ns/a 1->2');
      expect(informer.stats()).toMatchObject({ watches: 1, watchLists: 1, lists: 0 });
    });

    it('after 410 streams the state again, not older than the last resourceVersion', async () => {
      things.create(thing('a', '1'));
      const { informer, events } = start();
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      things.update(thing('a', '2'));
      await waitFor(() => events.length === 2, 'the update');
      const rv = informer.lastSyncResourceVersion();
      things.sendError(statusBody(410, 'too old resource version', 'Expired'));
      await waitFor(() => informer.stats().watchLists === 2, 'the second watch-list');
      const again = watches()[1].query;
      expect([again.get('sendInitialEvents'), again.get('resourceVersionMatch'), again.get('resourceVersion')]).toEqual(
        ['true', 'NotOlderThan', rv],
      );
      expect(events).toEqual(['add ns/a=1', 'update ns/a 1->2']);
    });

    it('streams the latest state at once when the server no longer or not yet has the resourceVersion', async () => {
      things.create(thing('a', '1'));
      const { informer } = start();
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      const rv = informer.lastSyncResourceVersion();
      things.failNextWatches(1, 504, tooLargeResourceVersionStatus(rv));
      things.sendError(statusBody(410, 'too old resource version', 'Expired'));
      await waitFor(() => informer.stats().watchLists === 2, 'the consistent watch-list');
      expect(watches().map((r) => r.query.get('resourceVersion'))).toEqual([null, rv, null]);
      expect(watches().every((r) => r.query.get('sendInitialEvents') === 'true')).toBe(true);
      expect(informer.stats()).toMatchObject({ expired: 2, watchFailures: 0, lists: 0 });
    });

    it('lists instead when the server refuses watch-lists: first at "0", after 410 at the last resourceVersion', async () => {
      things.watchListSupported = false;
      things.create(thing('a', '1'));
      const { informer, events } = start();
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      expect(events).toEqual(['add ns/a=1']);
      const listedRv = informer.lastSyncResourceVersion();
      expect(watches().map((r) => r.query.get('sendInitialEvents'))).toEqual(['true', null]);
      expect(watches()[1].query.get('resourceVersion')).toBe(listedRv);

      things.sendError(statusBody(410, 'too old resource version', 'Expired'));
      await waitFor(() => informer.stats().lists === 2 && watches().length === 4, 'the relist and the next watch');
      // Each sync tries the watch-list again before it lists.
      expect(watches().map((r) => r.query.get('sendInitialEvents'))).toEqual(['true', null, 'true', null]);
      // The relist asks for data at least as new as what the informer has seen, unpaged, so that the
      // watch cache can serve it.
      expect(lists().map((r) => [r.query.get('resourceVersion'), r.query.get('limit')])).toEqual([
        ['0', '500'],
        [listedRv, null],
      ]);
      expect(informer.stats()).toMatchObject({ watchLists: 0, lists: 2, listFailures: 0, watchFailures: 0 });
    });

    it('relists with a consistent read when the last resourceVersion is gone or too large', async () => {
      things.create(thing('a', '1'));
      const { informer } = start({ watchList: false });
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      const rv = informer.lastSyncResourceVersion();
      things.failNextLists(1, 410, statusBody(410, 'too old resource version', 'Expired'));
      things.sendError(statusBody(410, 'too old resource version', 'Expired'));
      await waitFor(() => informer.stats().lists === 2, 'the relist');
      expect(lists().map((r) => [r.query.get('resourceVersion'), r.query.get('limit')])).toEqual([
        ['0', '500'],
        [rv, null],
        [null, null],
      ]);

      await waitFor(() => things.openWatches === 1, 'the watch after the relist');
      const relistedRv = informer.lastSyncResourceVersion();
      things.failNextLists(1, 504, tooLargeResourceVersionStatus(relistedRv));
      things.sendError(statusBody(410, 'too old resource version', 'Expired'));
      await waitFor(() => informer.stats().lists === 3, 'the second relist');
      const relists = lists().slice(3);
      expect(relists.map((r) => r.query.get('resourceVersion'))).toEqual([relistedRv, null]);
      expect(informer.stats().listFailures).toBe(0);
    });

    it('keeps relists paged when the list at "0" came back in pages (no watch cache)', async () => {
      for (let i = 0; i < 501; i++) things.create(thing(`t${String(i).padStart(3, '0')}`, '1'));
      const { informer } = start({ watchList: false });
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      const rv = informer.lastSyncResourceVersion();
      things.sendError(statusBody(410, 'too old resource version', 'Expired'));
      await waitFor(() => informer.stats().lists === 2, 'the relist');
      expect(lists().map((r) => [r.query.get('resourceVersion'), r.query.get('limit')])).toEqual([
        ['0', '500'],
        [null, '500'],
        [rv, '500'],
        [null, '500'],
      ]);
      expect(informer.list()).toHaveLength(501);
    });
  });

  describe('watchdog', () => {
    it('restarts a watch that stays silent past its timeout plus grace, and catches up', async () => {
      things.create(thing('a', '1'));
      const { informer, events } = start({ minWatchTimeoutSeconds: 1, watchInactivityGraceMs: 200, random: () => 0 });
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      things.stallWatches(); // half-open: connected, but no byte will ever arrive
      things.update(thing('a', '2'));
      const stalledAt = Date.now();
      await waitFor(() => events.length === 2, 'the update after the restart', 10_000);
      expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(900);
      expect(events[1]).toBe('update ns/a 1->2');
      expect(watches()).toHaveLength(2);
      expect(String(logLines.find((l) => l.msg?.toString().startsWith('Watch failed'))?.error)).toContain(
        'watch received no data for 1200 ms',
      );
    });

    it('keeps the timeout-based limit until the server has sent a periodic bookmark', async () => {
      things.create(thing('a', '1'));
      const { informer } = start({ minWatchTimeoutSeconds: 600, watchInactivityAfterBookmarkMs: 100 });
      await informer.waitForSync(); // ended by the initial-events-end bookmark, which is no heartbeat
      await waitFor(() => things.openWatches === 1, 'the watch');
      things.stallWatches();
      await new Promise((resolve) => setTimeout(resolve, 400));
      expect(watches()).toHaveLength(1);
      expect(informer.stats().watchFailures).toBe(0);
    });

    it('once the server sends periodic bookmarks, restarts a watch silent for the bookmark limit', async () => {
      things.create(thing('a', '1'));
      const { informer, events } = start({ minWatchTimeoutSeconds: 600, watchInactivityAfterBookmarkMs: 200 });
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      things.bookmark();
      // One ADDED and the initial-events-end bookmark came before.
      await waitFor(() => informer.stats().events === 3, 'the periodic bookmark');

      things.stallWatches();
      things.update(thing('a', '2'));
      const stalledAt = Date.now();
      await waitFor(() => events.length === 2, 'the update after the restart');
      expect(Date.now() - stalledAt).toBeGreaterThanOrEqual(190);
      expect(String(logLines.find((l) => l.msg?.toString().startsWith('Watch failed'))?.error)).toContain(
        'watch received no data for 200 ms',
      );

      // Later watches get the short limit from their start.
      await waitFor(() => things.openWatches === 1, 'the second watch');
      things.stallWatches();
      things.update(thing('a', '3'));
      await waitFor(() => events.length === 3, 'the update after the second restart');
      expect(watches()).toHaveLength(3);
      expect(informer.stats()).toMatchObject({ watchFailures: 2, watchLists: 1 });
    });

    it('aborts a watch that gets no response headers within the request timeout', async () => {
      things.create(thing('a', '1'));
      things.hangNextWatches(1);
      const { informer, events } = start({ requestTimeoutMs: 200 });
      await informer.waitForSync();
      await waitFor(() => watches().length === 2, 'the second watch', 10_000);
      things.update(thing('a', '2'));
      await waitFor(() => events.length === 2, 'the update');
      expect(informer.stats().watchFailures).toBe(1);
    });
  });

  describe('handlers', () => {
    it('contain a throwing handler: other handlers and later events are still delivered', async () => {
      const { informer, events } = start();
      const seenByThrower: string[] = [];
      informer.addEventHandler({
        add: (obj) => {
          seenByThrower.push(objectKey(obj));
          if (obj.data === 'bad') throw new Error('handler bug');
        },
        update: () => Promise.reject(new Error('async handler bug')) as unknown as void,
      });
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      things.create(thing('a', 'bad'));
      things.create(thing('b', 'good'));
      things.update(thing('b', 'better'));
      await waitFor(() => events.length === 3, 'all events');
      expect(events).toEqual(['add ns/a=bad', 'add ns/b=good', 'update ns/b good->better']);
      expect(seenByThrower).toEqual(['ns/a', 'ns/b']);
      await waitFor(() => logLines.filter((l) => l.msg === 'Informer event handler failed').length === 2, 'logs');
      const failures = logLines.filter((l) => l.msg === 'Informer event handler failed');
      expect(failures.map((l) => [l.err, l.event, l.key])).toEqual([
        ['handler bug', 'add', 'ns/a'],
        ['async handler bug', 'update', 'ns/b'],
      ]);
    });

    it('gives a handler registered after sync an add for every cached object', async () => {
      things.create(thing('a', '1'));
      things.create(thing('b', '1'));
      const { informer } = start();
      await informer.waitForSync();
      const late: string[] = [];
      informer.addEventHandler({ add: (obj) => late.push(objectKey(obj)) });
      expect(late).toEqual(['ns/a', 'ns/b']);
    });

    it('calls update(obj, obj) for every cached object on each resync period', async () => {
      things.create(thing('a', '1'));
      things.create(thing('b', '1'));
      const clock = new FakeClock();
      const { informer, events } = start({ clock, resyncPeriodMs: 60_000 });
      await informer.waitForSync();
      const same: boolean[] = [];
      informer.addEventHandler({ update: (old, obj) => same.push(old === obj) });
      await clock.advance(59_999);
      expect(events).toHaveLength(2);
      await clock.advance(1);
      expect(events.slice(2)).toEqual(['update ns/a 1->1', 'update ns/b 1->1']);
      expect(same).toEqual([true, true]);
      await clock.advance(60_000);
      expect(events).toHaveLength(6);
    });
  });

  describe('cache', () => {
    it('drops managedFields by default, from listed and watched objects alike', async () => {
      const managedFields = [{ manager: 'kubectl', operation: 'Update', fieldsV1: { 'f:data': {} } }];
      things.create(thing('listed', '1', { metadata: { managedFields } }));
      const { informer, events } = start();
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      things.create(thing('watched', '1', { metadata: { managedFields } }));
      await waitFor(() => events.length === 2, 'the watched add');
      expect(things.get('ns/watched')?.metadata?.managedFields).toEqual(managedFields);
      for (const obj of informer.list()) {
        expect(obj.metadata).not.toHaveProperty('managedFields');
        expect(obj.metadata?.resourceVersion).toBeDefined();
      }
    });

    it('stores what a custom transform returns, as plain JSON of one shape', async () => {
      things.create(thing('listed', '1', { metadata: { labels: { big: 'x'.repeat(1000) } } }));
      const { informer, events } = start({
        transform: (obj) => ({
          metadata: {
            name: obj.metadata?.name,
            namespace: obj.metadata?.namespace,
            resourceVersion: obj.metadata?.resourceVersion,
          },
          data: obj.data,
        }),
      });
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      things.create(
        thing('watched', '2', { metadata: { creationTimestamp: '2026-11-22T00:00:00Z' } as Thing['metadata'] }),
      );
      await waitFor(() => events.length === 2, 'the watched add');
      for (const obj of informer.list()) {
        expect(Object.keys(obj)).toEqual(['metadata', 'data']);
        expect(Object.keys(obj.metadata ?? {})).toEqual(['name', 'namespace', 'resourceVersion']);
        expect(Object.getPrototypeOf(obj)).toBe(Object.prototype);
      }
    });

    it('keeps indexes in step with adds, updates and deletes', async () => {
      const byDriver = (obj: Thing): string[] => (obj.metadata?.labels?.driver ? [obj.metadata.labels.driver] : []);
      things.create(thing('a', '1', { metadata: { labels: { driver: 'x' } } }));
      things.create(thing('b', '1', { metadata: { labels: { driver: 'y' } } }));
      const { informer, events } = start({ indexers: { driver: byDriver } });
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      expect(informer.byIndex('driver', 'x').map(objectKey)).toEqual(['ns/a']);

      things.update(thing('b', '2', { metadata: { labels: { driver: 'x' } } }));
      things.create(thing('c', '1'));
      things.delete('ns/a');
      await waitFor(() => events.length === 5, 'the watch events');
      expect(informer.byIndex('driver', 'x').map(objectKey)).toEqual(['ns/b']);
      expect(informer.byIndex('driver', 'y')).toEqual([]);
      expect(() => informer.byIndex('node', 'n')).toThrow('index node is not registered');
    });
  });

  describe('lifecycle', () => {
    it('closes its watch connection when stopped and sends nothing afterwards', async () => {
      const { informer, events } = start();
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      await informer.stop();
      await waitFor(() => things.openWatches === 0, 'the watch to close');
      const requests = server.requests.length;
      things.create(thing('a', '1'));
      await new Promise((resolve) => setTimeout(resolve, 50));
      expect(events).toEqual([]);
      expect(server.requests).toHaveLength(requests);
    });

    it('stops when the start signal aborts, and refuses a second start', async () => {
      const controller = new AbortController();
      const informer = new Informer<Thing>({ transport: client, path: PATH });
      informers.push(informer);
      informer.start(controller.signal);
      expect(() => informer.start()).toThrow('already started');
      await informer.waitForSync();
      await waitFor(() => things.openWatches === 1, 'the watch');
      controller.abort();
      await waitFor(() => things.openWatches === 0, 'the watch to close');
    });
  });
});
