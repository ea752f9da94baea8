import type { Readable } from 'node:stream';
import { realClock, sleep } from '../clock/clock.js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import { discardLogger } from '../log/logger.js';
import type { Logger } from '../log/logger.js';
import { Backoff } from './backoff.js';
import type { BackoffOptions } from './backoff.js';
import { objectKey, Store, stripManagedFields } from './cache.js';
import type { CacheReader, IndexFunc, KubeObject } from './cache.js';
import { isGone, KubeApiError } from './errors.js';
import type { KubeStatus } from './errors.js';
import { listAll, WatchDecoder } from './list-watch.js';
import type { ListWatchTransport, WatchEvent } from './list-watch.js';

/**
 * Event callbacks, called synchronously in event order. Keep them cheap (enqueue a key); a throw is
 * logged and does not affect other handlers or later events. Objects are the cached ones: never mutate.
 */
export interface InformerHandlers<T> {
  add?(obj: T): void;
  /** Also called with oldObj === newObj on each periodic resync. */
  update?(oldObj: T, newObj: T): void;
  /**
   * finalStateUnknown is false when obj comes from a DELETED watch event (its state at deletion). It is
   * true when a relist found the object gone: obj is then the last state the cache held, and changes
   * made between that state and the deletion were missed (client-go's DeletedFinalStateUnknown).
   */
  delete?(obj: T, finalStateUnknown: boolean): void;
}

export interface InformerOptions<T extends KubeObject> {
  transport: ListWatchTransport;
  /** Collection path, e.g. /api/v1/persistentvolumeclaims or /apis/storage.k8s.io/v1/volumeattachments. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /** Secondary indexes for byIndex(), registered up front. */
  indexers?: Record<string, IndexFunc<T>>;
  /**
   * Applied to every object before it is cached (default: stripManagedFields). It receives a freshly
   * parsed object it may mutate, and must keep metadata.name, namespace and resourceVersion.
   */
  transform?: (obj: T) => T;
  /** Every period, update(obj, obj) is called for each cached object. 0 (default) disables it. */
  resyncPeriodMs?: number;
  /** Items per list page (default 500, as client-go's pager). */
  pageSize?: number;
  /** Watches ask the server to end after a random timeout in [min, 2*min] seconds (default 300). */
  minWatchTimeoutSeconds?: number;
  /** A watch silent for its timeout plus this long is presumed dead and restarted (default 30 s). */
  watchInactivityGraceMs?: number;
  /** Limit for a list page and for a watch's response headers (default 60 s, the apiserver's own limit). */
  requestTimeoutMs?: number;
  /** Retry delays after failures; defaults are client-go's reflector ones (800 ms doubling to 30 s). */
  backoff?: Pick<BackoffOptions, 'initialMs' | 'maxMs' | 'resetAfterMs'>;
  clock?: Clock;
  /** Source of jitter for watch timeouts and backoff. */
  random?: () => number;
  logger?: Logger;
}

/** Counters for metrics and tests. */
export interface InformerStats {
  /** Completed full lists: the initial one and every relist. */
  lists: number;
  listFailures: number;
  /** Watch requests sent. */
  watches: number;
  /** Watches that ended with an error (HTTP error, ERROR event, socket error, watchdog). */
  watchFailures: number;
  /** Watches ended by 410 Gone, each followed by a relist. */
  expired: number;
  /** Watch events applied, bookmarks included. */
  events: number;
}

type WatchEnd =
  { kind: 'closed' } | { kind: 'expired'; error: unknown } | { kind: 'failed'; error: unknown } | { kind: 'stopped' };

/** A watch that ends this fast without one event is treated as a failure, as in client-go. */
const SHORT_WATCH_MS = 1000;

/**
 * A shared informer with client-go semantics for one resource: paged list, then watch with bookmarks
 * from the listed resourceVersion; 410 Gone relists (deletes for vanished objects, updates for changed
 * ones), every other failure re-watches from the last seen resourceVersion with jittered backoff, and
 * nothing ever makes it give up. A watchdog restarts watches that go silent (half-open connections).
 */
export class Informer<T extends KubeObject> implements CacheReader<T> {
  private readonly transport: ListWatchTransport;
  private readonly path: string;
  private readonly labelSelector: string | undefined;
  private readonly fieldSelector: string | undefined;
  private readonly transform: (obj: T) => T;
  private readonly resyncPeriodMs: number;
  private readonly pageSize: number;
  private readonly minWatchTimeoutSeconds: number;
  private readonly watchInactivityGraceMs: number;
  private readonly requestTimeoutMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly backoff: Backoff;
  private readonly store: Store<T>;
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly syncWaiters = new Set<(synced: boolean) => void>();
  private readonly counters: InformerStats = {
    lists: 0,
    listFailures: 0,
    watches: 0,
    watchFailures: 0,
    expired: 0,
    events: 0,
  };
  private resourceVersion = '';
  private synced = false;
  private stopped = false;
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private resyncTimer: TimerHandle | undefined;

  constructor(options: InformerOptions<T>) {
    this.transport = options.transport;
    this.path = options.path;
    this.labelSelector = options.labelSelector;
    this.fieldSelector = options.fieldSelector;
    this.transform = options.transform ?? stripManagedFields;
    this.resyncPeriodMs = options.resyncPeriodMs ?? 0;
    this.pageSize = options.pageSize ?? 500;
    this.minWatchTimeoutSeconds = options.minWatchTimeoutSeconds ?? 300;
    this.watchInactivityGraceMs = options.watchInactivityGraceMs ?? 30_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.clock = options.clock ?? realClock;
    this.random = options.random ?? Math.random;
    this.logger = (options.logger ?? discardLogger()).withValues({ resource: options.path });
    this.backoff = new Backoff({ ...options.backoff, clock: this.clock, random: this.random });
    this.store = new Store<T>({ indexers: options.indexers, logger: this.logger });
  }

  /** Registers handlers; like client-go, a handler added late first gets an add for every cached object. */
  addEventHandler(handlers: InformerHandlers<T>): void {
    this.handlers.push(handlers);
    for (const obj of this.store.list()) this.callOne(handlers, 'add', obj, (h) => h.add?.(obj));
  }

  get(key: string): T | undefined {
    return this.store.get(key);
  }

  list(): T[] {
    return this.store.list();
  }

  keys(): string[] {
    return this.store.keys();
  }

  byIndex(indexName: string, value: string): T[] {
    return this.store.byIndex(indexName, value);
  }

  /** True once the first list has been stored and its events delivered. */
  hasSynced(): boolean {
    return this.synced;
  }

  /** Resolves true once synced, or false if the informer stops or the signal aborts first. */
  waitForSync(signal?: AbortSignal): Promise<boolean> {
    if (this.synced) return Promise.resolve(true);
    if (this.stopped || signal?.aborted) return Promise.resolve(false);
    return new Promise((resolve) => {
      const onAbort = (): void => {
        this.syncWaiters.delete(settle);
        resolve(false);
      };
      const settle = (synced: boolean): void => {
        signal?.removeEventListener('abort', onAbort);
        resolve(synced);
      };
      this.syncWaiters.add(settle);
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** The resourceVersion the next watch starts from. */
  lastSyncResourceVersion(): string {
    return this.resourceVersion;
  }

  stats(): InformerStats {
    return { ...this.counters };
  }

  /** Starts listing and watching in the background; aborting signal is the same as stop(). */
  start(signal?: AbortSignal): void {
    if (this.controller || this.stopped) throw new Error(`informer for ${this.path} was already started`);
    const controller = new AbortController();
    this.controller = controller;
    if (signal?.aborted) void this.stop();
    else signal?.addEventListener('abort', () => void this.stop(), { once: true });
    this.logger.v(2).info('Starting informer');
    this.loop = this.run(controller.signal).catch((err: unknown) => {
      this.logger.error(err, 'Informer loop ended unexpectedly');
    });
    this.scheduleResync(controller.signal);
  }

  /** Stops watching, closes the connection and resolves once the loop has ended. */
  async stop(): Promise<void> {
    this.stopped = true;
    this.controller?.abort(new Error('informer stopped'));
    this.resyncTimer?.cancel();
    for (const settle of this.syncWaiters) settle(false);
    this.syncWaiters.clear();
    await this.loop;
  }

  private async run(signal: AbortSignal): Promise<void> {
    let needList = true;
    while (!signal.aborted) {
      if (needList) {
        try {
          await this.listAndReplace(signal);
          needList = false;
        } catch (err) {
          if (signal.aborted) return;
          this.counters.listFailures++;
          const delay = this.backoff.next();
          this.logger.error(err, 'Failed to list, retrying', { retryInMs: Math.round(delay) });
          await sleep(this.clock, delay, signal);
          continue;
        }
      }
      const end = await this.watch(signal);
      if (end.kind === 'stopped') return;
      if (end.kind === 'closed') {
        this.logger.v(4).info('Watch closed by the server, watching again', { resourceVersion: this.resourceVersion });
        continue;
      }
      const delay = this.backoff.next();
      if (end.kind === 'expired') {
        this.counters.expired++;
        needList = true;
        this.logger.v(2).info('Watch expired, listing again', {
          resourceVersion: this.resourceVersion,
          error: end.error,
          retryInMs: Math.round(delay),
        });
      } else {
        this.counters.watchFailures++;
        this.logger.warn('Watch failed, watching again from the last resourceVersion', {
          resourceVersion: this.resourceVersion,
          error: end.error,
          retryInMs: Math.round(delay),
        });
      }
      await sleep(this.clock, delay, signal);
    }
  }

  private async listAndReplace(signal: AbortSignal): Promise<void> {
    const result = await listAll({
      transport: this.transport,
      path: this.path,
      labelSelector: this.labelSelector,
      fieldSelector: this.fieldSelector,
      pageSize: this.pageSize,
      pageTimeoutMs: this.requestTimeoutMs,
      clock: this.clock,
      signal,
      onRestart: () => this.logger.v(2).info('List continue token expired, listing again from the start'),
    });
    if (signal.aborted) return;
    this.replace(result.items as T[], result.resourceVersion);
    this.counters.lists++;
  }

  /**
   * Makes the cache equal to a fresh list, as client-go's Replace: new objects are added, objects whose
   * resourceVersion changed get update(old, new), unchanged ones are stored without an event (client-go
   * only passes those to handlers that are due for a resync), and objects missing from the list are
   * deleted with finalStateUnknown.
   */
  private replace(items: T[], resourceVersion: string): void {
    const listed = new Set<string>();
    for (const item of items) {
      if (!hasName(item)) {
        this.logger.warn('Ignoring listed object without a name');
        continue;
      }
      const obj = this.transform(item);
      const key = objectKey(obj);
      listed.add(key);
      const old = this.store.set(key, obj);
      if (old === undefined) this.call('add', obj, (h) => h.add?.(obj));
      else if (old.metadata?.resourceVersion !== obj.metadata?.resourceVersion) {
        this.call('update', obj, (h) => h.update?.(old, obj));
      }
    }
    for (const key of this.store.keys()) {
      if (listed.has(key)) continue;
      const old = this.store.delete(key)!;
      this.call('delete', old, (h) => h.delete?.(old, true));
    }
    this.resourceVersion = resourceVersion;
    this.logger.v(this.synced ? 2 : 4).info('Listed', { objects: this.store.size, resourceVersion });
    if (!this.synced) {
      this.synced = true;
      for (const settle of this.syncWaiters) settle(true);
      this.syncWaiters.clear();
    }
  }

  private async watch(signal: AbortSignal): Promise<WatchEnd> {
    const timeoutSeconds = Math.floor(this.minWatchTimeoutSeconds * (1 + this.random()));
    const controller = new AbortController();
    const onStop = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', onStop, { once: true });
    const watchdog = new Watchdog(this.clock, (reason) => controller.abort(reason));
    watchdog.arm(this.requestTimeoutMs, 'watch got no response');
    const started = this.clock.monotonic();
    let events = 0;
    let body: Readable | undefined;
    this.counters.watches++;
    try {
      const response = await this.transport.stream({
        method: 'GET',
        path: this.path,
        query: {
          watch: 1,
          allowWatchBookmarks: true,
          // Never sent empty: a watch without resourceVersion replays every object as ADDED.
          resourceVersion: this.resourceVersion || undefined,
          timeoutSeconds,
          labelSelector: this.labelSelector,
          fieldSelector: this.fieldSelector,
        },
        signal: controller.signal,
      });
      body = response.body;
      // The server ends the watch after timeoutSeconds; silence well beyond that means a dead peer.
      watchdog.arm(timeoutSeconds * 1000 + this.watchInactivityGraceMs, 'watch received no data');
      const decoder = new WatchDecoder();
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        watchdog.touch();
        for (const event of decoder.push(chunk)) {
          const end = this.apply(event);
          if (end) return end;
          events++;
        }
      }
      if (signal.aborted) return { kind: 'stopped' };
      if (events === 0 && this.clock.monotonic() - started < SHORT_WATCH_MS) {
        return { kind: 'failed', error: new Error('watch closed at once without any event') };
      }
      return { kind: 'closed' };
    } catch (err) {
      if (signal.aborted) return { kind: 'stopped' };
      const error: unknown = controller.signal.aborted ? controller.signal.reason : err;
      return isGone(error) ? { kind: 'expired', error } : { kind: 'failed', error };
    } finally {
      watchdog.cancel();
      signal.removeEventListener('abort', onStop);
      body?.destroy();
    }
  }

  /** Applies one watch event; returns how the watch ends when the event ends it. */
  private apply(event: WatchEvent): WatchEnd | undefined {
    const object = event.object as T;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED':
        if (!hasName(object)) {
          this.logger.warn('Ignoring watch event for an object without a name', { type: event.type });
          break;
        }
        if (event.type === 'DELETED') this.applyDelete(object);
        else this.applyUpsert(object);
        this.advance(object);
        break;
      case 'BOOKMARK':
        this.advance(object);
        break;
      case 'ERROR': {
        const status = event.object as KubeStatus;
        const error = new KubeApiError(status.code ?? 0, status, `watch ${this.path}`);
        return isGone(error) ? { kind: 'expired', error } : { kind: 'failed', error };
      }
      default:
        this.logger.warn('Ignoring watch event of unknown type', { type: event.type });
    }
    this.counters.events++;
    return undefined;
  }

  private applyUpsert(item: T): void {
    const obj = this.transform(item);
    const old = this.store.set(objectKey(obj), obj);
    if (old === undefined) this.call('add', obj, (h) => h.add?.(obj));
    else this.call('update', obj, (h) => h.update?.(old, obj));
  }

  private applyDelete(item: T): void {
    const obj = this.transform(item);
    // A delete for an object the cache never held has nothing to tell the handlers.
    if (this.store.delete(objectKey(obj)) !== undefined) this.call('delete', obj, (h) => h.delete?.(obj, false));
  }

  private advance(obj: T): void {
    const resourceVersion = obj.metadata?.resourceVersion;
    if (resourceVersion) this.resourceVersion = resourceVersion;
  }

  private scheduleResync(signal: AbortSignal): void {
    if (this.resyncPeriodMs <= 0 || signal.aborted) return;
    this.resyncTimer = this.clock.after(this.resyncPeriodMs, () => {
      if (signal.aborted) return;
      if (this.synced) {
        this.logger.v(4).info('Resync', { objects: this.store.size });
        for (const obj of this.store.list()) this.call('update', obj, (h) => h.update?.(obj, obj));
      }
      this.scheduleResync(signal);
    });
  }

  private call(event: string, obj: T, fn: (handlers: InformerHandlers<T>) => unknown): void {
    for (const handlers of this.handlers) this.callOne(handlers, event, obj, fn);
  }

  /** Runs a callback, containing whatever it throws or (if it returned a promise) rejects with. */
  private callOne(
    handlers: InformerHandlers<T>,
    event: string,
    obj: T,
    fn: (handlers: InformerHandlers<T>) => unknown,
  ): void {
    const failed = (err: unknown): void => {
      this.logger.error(err, 'Informer event handler failed', { event, key: objectKey(obj) });
    };
    try {
      const result = fn(handlers);
      if (result instanceof Promise) result.catch(failed);
    } catch (err) {
      failed(err);
    }
  }
}

function hasName(obj: KubeObject): boolean {
  return typeof obj.metadata?.name === 'string' && obj.metadata.name !== '';
}

/**
 * Aborts a request that stops making progress. One timer per limit period rather than per chunk:
 * touch() only records the time, and the timer re-arms itself for whatever is left.
 */
class Watchdog {
  private readonly clock: Clock;
  private readonly onExpire: (reason: Error) => void;
  private limitMs = 0;
  private what = '';
  private lastActivity = 0;
  private timer: TimerHandle | undefined;

  constructor(clock: Clock, onExpire: (reason: Error) => void) {
    this.clock = clock;
    this.onExpire = onExpire;
  }

  /** (Re)starts supervision with a new limit, counting from now. */
  arm(limitMs: number, what: string): void {
    this.cancel();
    this.limitMs = limitMs;
    this.what = what;
    this.lastActivity = this.clock.monotonic();
    this.schedule(limitMs);
  }

  touch(): void {
    this.lastActivity = this.clock.monotonic();
  }

  cancel(): void {
    this.timer?.cancel();
    this.timer = undefined;
  }

  private schedule(delayMs: number): void {
    this.timer = this.clock.after(delayMs, () => {
      const idle = this.clock.monotonic() - this.lastActivity;
      if (idle >= this.limitMs) this.onExpire(new Error(`${this.what} for ${this.limitMs} ms`));
      else this.schedule(this.limitMs - idle);
    });
  }
}
