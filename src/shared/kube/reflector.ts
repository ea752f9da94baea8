import type { Readable } from 'node:stream';
import { sleep } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import type { Logger } from '../log/logger.js';
import { Backoff } from './backoff.js';
import type { BackoffOptions } from './backoff.js';
import { objectKey, stripManagedFields } from './cache.js';
import type { KubeObject } from './cache.js';
import type { KubeRequest } from './client.js';
import { isGone, isTooLargeResourceVersion, KubeApiError, statusCode } from './errors.js';
import type { KubeStatus } from './errors.js';
import { listAll, WatchDecoder } from './list-watch.js';
import type { ListResult, ListWatchTransport, WatchEvent } from './list-watch.js';
import { Watchdog } from './watchdog.js';

/** Where a reflector delivers what it learns, objects already transformed. */
export interface ReflectorSink<T> {
  /**
   * A complete state: the sink becomes exactly these objects. The reflector moves its resourceVersion
   * only after this returns, so code it calls still sees the previous one.
   */
  replace(objects: T[], resourceVersion: string): void;
  /** An ADDED or MODIFIED watch event. */
  upsert(obj: T): void;
  /** A DELETED watch event: obj is the object's state at deletion. */
  delete(obj: T): void;
}

export interface ReflectorOptions<T extends KubeObject> {
  transport: ListWatchTransport;
  /** Collection path, e.g. /api/v1/persistentvolumeclaims or /apis/storage.k8s.io/v1/volumeattachments. */
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * Applied to every object before it is cached (default: stripManagedFields). It receives a freshly
   * parsed object it may mutate, and must keep metadata.name, namespace and resourceVersion.
   */
  transform?: (obj: T) => T;
  /**
   * Take the initial state, and a fresh one after 410 Gone, from a watch-list stream (sendInitialEvents)
   * instead of a LIST, as client-go's reflector does by default since v0.35 (WatchListClient). Default
   * true; a server that refuses the stream gets a LIST for that sync.
   */
  watchList?: boolean;
  /**
   * Items per list page. By default (500, client-go's pager) only lists at resourceVersion "0" or "" are
   * paged; a set value pages every list, as client-go's WatchListPageSize does.
   */
  pageSize?: number;
  /** Watches ask the server to end after a random timeout in [min, 2*min] seconds (default 300). */
  minWatchTimeoutSeconds?: number;
  /** A watch silent for its timeout plus this long is presumed dead and restarted (default 30 s). */
  watchInactivityGraceMs?: number;
  /**
   * Once the server has sent a periodic bookmark (the apiserver's watch cache sends one about every
   * minute while its resourceVersion moves), a watch silent this long is presumed dead and restarted
   * from the last resourceVersion (default 150 s: one missed bookmark is tolerated, two are not).
   * Until then the timeout-plus-grace limit applies.
   */
  watchInactivityAfterBookmarkMs?: number;
  /** Limit for a list page and for a watch's response headers (default 60 s, the apiserver's own limit). */
  requestTimeoutMs?: number;
  /** Retry delays after failures; defaults are client-go's reflector ones (800 ms doubling to 30 s). */
  backoff?: Pick<BackoffOptions, 'initialMs' | 'maxMs' | 'resetAfterMs'>;
  clock: Clock;
  /** Source of jitter for watch timeouts and backoff. */
  random?: () => number;
  logger: Logger;
  sink: ReflectorSink<T>;
}

/** Counters for metrics and tests. */
export interface ReflectorStats {
  /** Completed full lists: the initial one and every relist. */
  lists: number;
  /** Complete states received through a watch-list stream (the watch-list counterpart of lists). */
  watchLists: number;
  listFailures: number;
  /** Watch requests sent, watch-lists included. */
  watches: number;
  /** Watches that ended with an error (HTTP error, ERROR event, socket error, watchdog). */
  watchFailures: number;
  /**
   * Watches ended because their resourceVersion was no longer (410 Gone) or, for a watch-list, not yet
   * available, each followed by a fresh state.
   */
  expired: number;
  /** Watch events applied, bookmarks included. */
  events: number;
}

type WatchEnd =
  | { kind: 'closed' }
  | { kind: 'expired'; error: unknown }
  | { kind: 'failed'; error: unknown }
  /** The server refused a watch-list before its initial events ended; a LIST may still work. */
  | { kind: 'unsupported'; error: unknown }
  | { kind: 'stopped' };

/** What a watch-list stream has delivered before its initial-events-end bookmark, kept out of the sink. */
interface InitialEvents<T> {
  objects: Map<string, T>;
  done: boolean;
}

/** A watch that ends this fast without one event is treated as a failure, as in client-go. */
const SHORT_WATCH_MS = 1000;

/** Set to "true" on the BOOKMARK that ends a watch-list's initial events (metav1.InitialEventsAnnotationKey). */
const INITIAL_EVENTS_END_ANNOTATION = 'k8s.io/initial-events-end';

/**
 * client-go's reflector for one resource: the current state from a watch-list stream (or a paged list),
 * then a watch with bookmarks from its resourceVersion; 410 Gone takes a fresh state, every other failure
 * re-watches from the last seen resourceVersion with jittered backoff, and nothing ever makes it give up.
 * A watchdog restarts watches that go silent (half-open connections).
 */
export class Reflector<T extends KubeObject> {
  private readonly transport: ListWatchTransport;
  private readonly path: string;
  private readonly labelSelector: string | undefined;
  private readonly fieldSelector: string | undefined;
  private readonly transform: (obj: T) => T;
  private readonly watchList: boolean;
  private readonly pageSize: number;
  private readonly pageSizeSet: boolean;
  private readonly minWatchTimeoutSeconds: number;
  private readonly watchInactivityGraceMs: number;
  private readonly watchInactivityAfterBookmarkMs: number;
  private readonly requestTimeoutMs: number;
  private readonly clock: Clock;
  private readonly random: () => number;
  private readonly logger: Logger;
  private readonly backoff: Backoff;
  private readonly sink: ReflectorSink<T>;
  private readonly counters: ReflectorStats = {
    lists: 0,
    watchLists: 0,
    listFailures: 0,
    watches: 0,
    watchFailures: 0,
    expired: 0,
    events: 0,
  };
  private resourceVersion = '';
  /** The last sync's resourceVersion was answered with 410 or "too large": take the latest state instead. */
  private resourceVersionUnavailable = false;
  /** A list at resourceVersion "0" came back in pages, so the server has no watch cache for it. */
  private paginatedResult = false;
  /** The server has sent a periodic bookmark: it keeps quiet watches alive, so silence means trouble. */
  private periodicBookmarks = false;

  constructor(options: ReflectorOptions<T>) {
    this.transport = options.transport;
    this.path = options.path;
    this.labelSelector = options.labelSelector;
    this.fieldSelector = options.fieldSelector;
    this.transform = options.transform ?? stripManagedFields;
    this.watchList = options.watchList ?? true;
    this.pageSize = options.pageSize ?? 500;
    this.pageSizeSet = options.pageSize !== undefined;
    this.minWatchTimeoutSeconds = options.minWatchTimeoutSeconds ?? 300;
    this.watchInactivityGraceMs = options.watchInactivityGraceMs ?? 30_000;
    this.watchInactivityAfterBookmarkMs = options.watchInactivityAfterBookmarkMs ?? 150_000;
    this.requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.clock = options.clock;
    this.random = options.random ?? Math.random;
    this.logger = options.logger;
    this.backoff = new Backoff({ ...options.backoff, clock: this.clock, random: this.random });
    this.sink = options.sink;
  }

  /** The resourceVersion the next watch starts from. */
  lastSyncResourceVersion(): string {
    return this.resourceVersion;
  }

  stats(): ReflectorStats {
    return { ...this.counters };
  }

  /** Lists and watches until signal aborts. */
  async run(signal: AbortSignal): Promise<void> {
    let needSync = true;
    let listNext = !this.watchList;
    while (!signal.aborted) {
      if (needSync && listNext) {
        // A fallback LIST is for one sync only: the next one tries the watch-list again, as client-go does.
        listNext = !this.watchList;
        try {
          await this.listAndReplace(signal);
          needSync = false;
        } catch (err) {
          if (signal.aborted) return;
          this.counters.listFailures++;
          const delay = this.backoff.next();
          this.logger.error(err, 'Failed to list, retrying', { retryInMs: Math.round(delay) });
          await sleep(this.clock, delay, signal);
          continue;
        }
      }
      const initial: InitialEvents<T> | undefined = needSync ? { objects: new Map(), done: false } : undefined;
      const fromLatest = this.resourceVersionUnavailable || this.resourceVersion === '';
      const end = await this.watch(signal, initial);
      if (initial?.done) needSync = false;
      if (end.kind === 'stopped') return;
      if (end.kind === 'closed') {
        this.logger.v(4).info('Watch closed by the server, watching again', { resourceVersion: this.resourceVersion });
        continue;
      }
      if (end.kind === 'unsupported') {
        this.logger.v(4).info('Watch-list refused, listing instead', { error: end.error });
        listNext = true;
        continue;
      }
      if (end.kind === 'expired' && initial && !initial.done && !fromLatest) {
        // At once, as client-go does: the retry asks for the latest state, which cannot be unavailable.
        this.counters.expired++;
        this.resourceVersionUnavailable = true;
        this.logger.v(2).info('resourceVersion unavailable, streaming the latest state instead', {
          resourceVersion: this.resourceVersion,
          error: end.error,
        });
        continue;
      }
      const delay = this.backoff.next();
      if (end.kind === 'expired') {
        this.counters.expired++;
        needSync = true;
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

  /**
   * A full LIST chosen as client-go's reflector chooses it: the first at resourceVersion "0" (served by
   * the apiserver's watch cache, no etcd quorum read), later ones at the last synced resourceVersion
   * (data at least that new, again from the watch cache); if the server no longer or not yet has that
   * version (410, "too large"), at once again with a consistent read of the latest state.
   */
  private async listAndReplace(signal: AbortSignal): Promise<void> {
    const resourceVersion = this.resourceVersionUnavailable ? '' : this.resourceVersion || '0';
    // The watch cache serves a list at a given resourceVersion only without a limit (anything paged goes
    // to etcd), so those are unpaged unless paging was asked for or the server showed it has no watch
    // cache; at "0" the watch cache ignores the limit anyway.
    const paged = this.pageSizeSet || this.paginatedResult || resourceVersion === '' || resourceVersion === '0';
    const pageSize = paged ? this.pageSize : 0;
    let result: ListResult;
    try {
      result = await this.listAt(resourceVersion, pageSize, signal);
    } catch (err) {
      if (resourceVersion === '' || signal.aborted || !(isGone(err) || isTooLargeResourceVersion(err))) throw err;
      this.resourceVersionUnavailable = true;
      this.logger.v(2).info('resourceVersion unavailable, listing the latest state instead', {
        resourceVersion,
        error: err,
      });
      result = await this.listAt('', pageSize, signal);
    }
    if (signal.aborted) return;
    if (resourceVersion === '0' && result.paginated) this.paginatedResult = true;
    const objects: T[] = [];
    for (const item of result.items as T[]) {
      if (hasName(item)) objects.push(this.transform(item));
      else this.logger.warn('Ignoring listed object without a name');
    }
    this.replace(objects, result.resourceVersion);
    this.counters.lists++;
  }

  private listAt(resourceVersion: string, pageSize: number, signal: AbortSignal): Promise<ListResult> {
    return listAll({
      transport: this.transport,
      path: this.path,
      labelSelector: this.labelSelector,
      fieldSelector: this.fieldSelector,
      resourceVersion,
      pageSize,
      pageTimeoutMs: this.requestTimeoutMs,
      clock: this.clock,
      signal,
      onRestart: () => this.logger.v(2).info('List continue token expired, listing again from the start'),
    });
  }

  /** Hands a fresh state (transformed objects) to the sink; later watches start from its resourceVersion. */
  private replace(objects: T[], resourceVersion: string): void {
    this.sink.replace(objects, resourceVersion);
    this.resourceVersion = resourceVersion;
    this.resourceVersionUnavailable = false;
  }

  /**
   * One watch request. With initial, it is a watch-list: the server first streams the current state,
   * which is collected in initial and replaces the sink's state at the initial-events-end bookmark; the same
   * stream then goes on as a plain watch.
   */
  private async watch(signal: AbortSignal, initial: InitialEvents<T> | undefined): Promise<WatchEnd> {
    const timeoutSeconds = Math.floor(this.minWatchTimeoutSeconds * (1 + this.random()));
    // The server ends the watch after timeoutSeconds; silence well beyond that means a dead peer. A
    // server that sends periodic bookmarks lets a dead peer show much sooner.
    const untilTimeoutMs = timeoutSeconds * 1000 + this.watchInactivityGraceMs;
    const silenceLimitMs = (): number =>
      this.periodicBookmarks ? Math.min(this.watchInactivityAfterBookmarkMs, untilTimeoutMs) : untilTimeoutMs;
    const controller = new AbortController();
    const onStop = (): void => controller.abort(signal.reason);
    signal.addEventListener('abort', onStop, { once: true });
    const watchdog = new Watchdog({ clock: this.clock, onExpire: (reason) => controller.abort(reason) });
    watchdog.arm(this.requestTimeoutMs, 'watch got no response');
    const started = this.clock.monotonic();
    let events = 0;
    let body: Readable | undefined;
    this.counters.watches++;
    try {
      const response = await this.transport.stream({
        method: 'GET',
        path: this.path,
        query: this.watchQuery(timeoutSeconds, initial !== undefined),
        signal: controller.signal,
      });
      body = response.body;
      watchdog.arm(silenceLimitMs(), 'watch received no data');
      const decoder = new WatchDecoder();
      for await (const chunk of body as AsyncIterable<Uint8Array>) {
        watchdog.touch();
        for (const event of decoder.push(chunk)) {
          const end = this.apply(event, initial);
          if (end) return end;
          events++;
          if (!this.periodicBookmarks && event.type === 'BOOKMARK' && !isInitialEventsEnd(event.object)) {
            this.periodicBookmarks = true;
            watchdog.arm(silenceLimitMs(), 'watch received no data');
          }
        }
      }
      if (signal.aborted) return { kind: 'stopped' };
      const pending = initial !== undefined && !initial.done;
      if (events === 0 && this.clock.monotonic() - started < SHORT_WATCH_MS) {
        const error = new Error('watch closed at once without any event');
        // client-go takes a watch-list that ends like this as unsupported and lists instead.
        return pending ? { kind: 'unsupported', error } : { kind: 'failed', error };
      }
      if (pending) return { kind: 'failed', error: new Error('watch-list ended before its initial events did') };
      return { kind: 'closed' };
    } catch (err) {
      if (signal.aborted) return { kind: 'stopped' };
      return this.watchError(controller.signal.aborted ? controller.signal.reason : err, initial);
    } finally {
      watchdog.cancel();
      signal.removeEventListener('abort', onStop);
      body?.destroy();
    }
  }

  private watchQuery(timeoutSeconds: number, initialEvents: boolean): KubeRequest['query'] {
    // A watch-list whose resourceVersion the server could not serve asks for the latest state instead; a
    // plain watch never goes without one, since a watch without resourceVersion replays every object as ADDED.
    const resourceVersion = initialEvents && this.resourceVersionUnavailable ? '' : this.resourceVersion;
    return {
      watch: 1,
      allowWatchBookmarks: true,
      // The server first sends the state (at least as new as resourceVersion; without one, a consistent
      // read), served from its watch cache, then the initial-events-end bookmark.
      ...(initialEvents ? { sendInitialEvents: true, resourceVersionMatch: 'NotOlderThan' } : {}),
      resourceVersion: resourceVersion || undefined,
      timeoutSeconds,
      labelSelector: this.labelSelector,
      fieldSelector: this.fieldSelector,
    };
  }

  /** How a watch ends on an HTTP error answer, an ERROR event, or a broken or aborted stream. */
  private watchError(error: unknown, initial: InitialEvents<T> | undefined): WatchEnd {
    if (isGone(error)) return { kind: 'expired', error };
    if (initial === undefined || initial.done) return { kind: 'failed', error };
    if (isTooLargeResourceVersion(error)) return { kind: 'expired', error };
    // Any other error answer (422 from a server without watch-list support, 403, 500 ...) gets a LIST
    // instead, as in client-go; throttling and network trouble only call for a retry.
    const code = statusCode(error);
    return code !== undefined && code !== 429 ? { kind: 'unsupported', error } : { kind: 'failed', error };
  }

  /** Applies one watch event; returns how the watch ends when the event ends it. */
  private apply(event: WatchEvent, initial: InitialEvents<T> | undefined): WatchEnd | undefined {
    const object = event.object as T;
    switch (event.type) {
      case 'ADDED':
      case 'MODIFIED':
      case 'DELETED':
        if (!hasName(object)) {
          this.logger.warn('Ignoring watch event for an object without a name', { type: event.type });
          break;
        }
        if (initial && !initial.done) this.collect(event.type, object, initial);
        else {
          if (event.type === 'DELETED') this.sink.delete(this.transform(object));
          else this.sink.upsert(this.transform(object));
          this.advance(object);
        }
        break;
      case 'BOOKMARK':
        if (initial && !initial.done) {
          if (isInitialEventsEnd(object)) {
            initial.done = true;
            this.counters.watchLists++;
            this.replace([...initial.objects.values()], object.metadata?.resourceVersion ?? '');
            initial.objects.clear();
          }
        } else this.advance(object);
        break;
      case 'ERROR': {
        const status = event.object as KubeStatus;
        return this.watchError(
          new KubeApiError({ code: status.code ?? 0, status, context: `watch ${this.path}` }),
          initial,
        );
      }
      default:
        this.logger.warn('Ignoring watch event of unknown type', { type: event.type });
    }
    this.counters.events++;
    return undefined;
  }

  /** Records an event of a watch-list's initial state; the sink hears of it only through replace(). */
  private collect(type: string, item: T, initial: InitialEvents<T>): void {
    const key = objectKey(item);
    if (type === 'DELETED') initial.objects.delete(key);
    else initial.objects.set(key, this.transform(item));
  }

  private advance(obj: T): void {
    const resourceVersion = obj.metadata?.resourceVersion;
    if (resourceVersion) this.resourceVersion = resourceVersion;
  }
}

function hasName(obj: KubeObject): boolean {
  return typeof obj.metadata?.name === 'string' && obj.metadata.name !== '';
}

function isInitialEventsEnd(obj: unknown): boolean {
  return (obj as KubeObject).metadata?.annotations?.[INITIAL_EVENTS_END_ANNOTATION] === 'true';
}
