import { realClock } from '../clock/clock.js';
import type { Clock, TimerHandle } from '../clock/clock.js';
import { discardLogger } from '../log/logger.js';
import type { Logger } from '../log/logger.js';
import { objectKey, Store } from './cache.js';
import type { CacheReader, IndexFunc, KubeObject } from './cache.js';
import { Reflector } from './reflector.js';
import type { ReflectorOptions, ReflectorStats } from './reflector.js';

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

/** How to list and watch (the reflector's settings), plus the cache's indexes and the resync period. */
export interface InformerOptions<T extends KubeObject> extends Omit<ReflectorOptions<T>, 'clock' | 'logger' | 'sink'> {
  /** Secondary indexes for byIndex(), registered up front. */
  indexers?: Record<string, IndexFunc<T>>;
  /** Every period, update(obj, obj) is called for each cached object. 0 (default) disables it. */
  resyncPeriodMs?: number;
  clock?: Clock;
  logger?: Logger;
}

/** The informer's counters are its reflector's. */
export type InformerStats = ReflectorStats;

/**
 * A shared informer with client-go semantics for one resource: a Reflector keeps the cache in step with
 * the apiserver, and every change reaches the handlers (a fresh state after 410 Gone as deletes for
 * vanished objects and updates for changed ones).
 */
export class Informer<T extends KubeObject> implements CacheReader<T> {
  private readonly path: string;
  private readonly resyncPeriodMs: number;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly store: Store<T>;
  private readonly reflector: Reflector<T>;
  private readonly handlers: InformerHandlers<T>[] = [];
  private readonly syncWaiters = new Set<(synced: boolean) => void>();
  private synced = false;
  private stopped = false;
  private controller: AbortController | undefined;
  private loop: Promise<void> | undefined;
  private resyncTimer: TimerHandle | undefined;

  constructor(options: InformerOptions<T>) {
    const { indexers, resyncPeriodMs, ...listWatch } = options;
    this.path = options.path;
    this.resyncPeriodMs = resyncPeriodMs ?? 0;
    this.clock = options.clock ?? realClock;
    this.logger = (options.logger ?? discardLogger()).withValues({ resource: options.path });
    this.store = new Store<T>({ indexers, logger: this.logger });
    this.reflector = new Reflector<T>({
      ...listWatch,
      clock: this.clock,
      logger: this.logger,
      sink: {
        replace: (objects, resourceVersion) => this.replace(objects, resourceVersion),
        upsert: (obj) => this.upsert(obj),
        delete: (obj) => this.remove(obj),
      },
    });
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
    return this.reflector.lastSyncResourceVersion();
  }

  stats(): InformerStats {
    return this.reflector.stats();
  }

  /** Starts listing and watching in the background; aborting signal is the same as stop(). */
  start(signal?: AbortSignal): void {
    if (this.controller || this.stopped) throw new Error(`informer for ${this.path} was already started`);
    const controller = new AbortController();
    this.controller = controller;
    if (signal?.aborted) void this.stop();
    else signal?.addEventListener('abort', () => void this.stop(), { once: true });
    this.logger.v(2).info('Starting informer');
    this.loop = this.reflector.run(controller.signal).catch((err: unknown) => {
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

  /**
   * Makes the cache equal to a fresh state, as client-go's Replace: new objects
   * are added, objects whose resourceVersion changed get update(old, new), unchanged ones are stored
   * without an event (client-go only passes those to handlers that are due for a resync), and objects
   * missing from the state are deleted with finalStateUnknown.
   */
  private replace(objects: T[], resourceVersion: string): void {
    const listed = new Set<string>();
    for (const obj of objects) {
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
    this.logger.v(this.synced ? 2 : 4).info('Listed', { objects: this.store.size, resourceVersion });
    if (!this.synced) {
      this.synced = true;
      for (const settle of this.syncWaiters) settle(true);
      this.syncWaiters.clear();
    }
  }

  private upsert(obj: T): void {
    const old = this.store.set(objectKey(obj), obj);
    if (old === undefined) this.call('add', obj, (h) => h.add?.(obj));
    else this.call('update', obj, (h) => h.update?.(old, obj));
  }

  private remove(obj: T): void {
    // A delete for an object the cache never held has nothing to tell the handlers.
    if (this.store.delete(objectKey(obj)) !== undefined) this.call('delete', obj, (h) => h.delete?.(obj, false));
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
