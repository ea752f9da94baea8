import { request } from 'node:https';
import type { AdminApi } from '../../e2e/fixture/admin-api.js';

export interface ObjectMeta {
  name: string;
  namespace?: string;
  resourceVersion?: string;
  annotations?: Record<string, string>;
  deletionTimestamp?: string;
}

export interface KubeObject {
  metadata: ObjectMeta;
}

export interface Claim extends KubeObject {
  spec?: { volumeName?: string };
  status?: { phase?: string };
}

export interface Volume extends KubeObject {
  metadata: ObjectMeta & { finalizers?: string[] };
  spec?: { claimRef?: { namespace?: string; name?: string }; csi?: { driver?: string } };
  status?: { phase?: string };
}

export interface Attachment extends KubeObject {
  metadata: ObjectMeta & { finalizers?: string[]; labels?: Record<string, string> };
  spec?: { attacher?: string; nodeName?: string; source?: { persistentVolumeName?: string } };
  status?: { attached?: boolean; attachError?: { message?: string }; detachError?: { message?: string } };
}

export type EventType = 'ADDED' | 'MODIFIED' | 'DELETED';

export interface Endpoint {
  server: string;
  ca: string;
  token: string;
}

/**
 * List + watch of one collection with a monotonic timestamp per event (creationTimestamp has 1 s resolution).
 * Reconnects from the last resourceVersion when the apiserver closes the stream; on 410 Gone it relists and
 * reports the difference, so the observer never misses a final state.
 */
export class Watcher<T extends KubeObject> {
  private readonly known = new Map<string, T>();
  private stopped = false;
  private current: { destroy(): void } | undefined;
  private loop: Promise<void> | undefined;
  error: Error | undefined;

  private readonly admin: AdminApi;
  private readonly endpoint: Endpoint;
  private readonly path: string;
  private readonly onEvent: (type: EventType, obj: T, atMs: number) => void;
  private readonly userAgent: string;

  constructor(
    admin: AdminApi,
    endpoint: Endpoint,
    path: string,
    onEvent: (type: EventType, obj: T, atMs: number) => void,
    userAgent = 'provisioner-bench/watch',
  ) {
    this.admin = admin;
    this.endpoint = endpoint;
    this.path = path;
    this.onEvent = onEvent;
    this.userAgent = userAgent;
  }

  /** Resolves once the initial list was delivered. */
  async start(): Promise<void> {
    const rv = await this.relist();
    this.loop = this.run(rv).catch((err: unknown) => {
      this.error = err instanceof Error ? err : new Error(String(err));
    });
  }

  async stop(): Promise<void> {
    this.stopped = true;
    this.current?.destroy();
    await this.loop;
  }

  private async relist(): Promise<string> {
    const list = (await this.admin.must('GET', this.path)) as { metadata: { resourceVersion: string }; items: T[] };
    const now = performance.now();
    const seen = new Set<string>();
    for (const item of list.items) {
      const key = keyOf(item);
      seen.add(key);
      this.known.set(key, item);
      this.onEvent('ADDED', item, now);
    }
    for (const [key, item] of this.known) {
      if (!seen.has(key)) {
        this.known.delete(key);
        this.onEvent('DELETED', item, now);
      }
    }
    return list.metadata.resourceVersion;
  }

  private async run(startRv: string): Promise<void> {
    let rv = startRv;
    while (!this.stopped) {
      const outcome = await this.watchOnce(rv, (next) => (rv = next));
      if (outcome === 'gone' && !this.stopped) rv = await this.relist();
    }
  }

  private watchOnce(rv: string, setRv: (rv: string) => void): Promise<'closed' | 'gone'> {
    const url = new URL(this.endpoint.server);
    const sep = this.path.includes('?') ? '&' : '?';
    return new Promise((resolve) => {
      const req = request(
        {
          host: url.hostname,
          port: url.port,
          path: `${this.path}${sep}watch=1&allowWatchBookmarks=true&resourceVersion=${rv}`,
          ca: this.endpoint.ca,
          headers: { Authorization: `Bearer ${this.endpoint.token}`, 'User-Agent': this.userAgent },
        },
        (res) => {
          if (res.statusCode === 410) {
            res.resume();
            resolve('gone');
            return;
          }
          let buffer = '';
          let result: 'closed' | 'gone' = 'closed';
          res.setEncoding('utf8');
          res.on('data', (chunk: string) => {
            buffer += chunk;
            let nl: number;
            while ((nl = buffer.indexOf('\n')) >= 0) {
              const line = buffer.slice(0, nl);
              buffer = buffer.slice(nl + 1);
              if (line.trim() === '') continue;
              const event = JSON.parse(line) as { type: string; object: T & { code?: number } };
              const at = performance.now();
              if (event.type === 'ERROR') {
                result = 'gone';
                req.destroy();
                continue;
              }
              const newRv = event.object.metadata?.resourceVersion;
              if (newRv) setRv(newRv);
              if (event.type === 'BOOKMARK') continue;
              const key = keyOf(event.object);
              if (event.type === 'DELETED') this.known.delete(key);
              else this.known.set(key, event.object);
              this.onEvent(event.type as EventType, event.object, at);
            }
          });
          res.on('end', () => resolve(result));
          res.on('error', () => resolve(result));
          res.on('close', () => resolve(result));
        },
      );
      this.current = req;
      req.on('error', () => setTimeout(() => resolve('closed'), 200));
      req.end();
    });
  }
}

function keyOf(obj: KubeObject): string {
  return `${obj.metadata.namespace ?? ''}/${obj.metadata.name}`;
}

/** Sends requests from an unthrottled client, `concurrency` in flight; returns the time each one completed. */
export async function inParallel<I>(
  items: readonly I[],
  concurrency: number,
  send: (item: I) => Promise<void>,
  onDone?: (item: I, atMs: number) => void,
): Promise<void> {
  let next = 0;
  await Promise.all(
    Array.from({ length: Math.min(concurrency, items.length) }, async () => {
      while (next < items.length) {
        const item = items[next++];
        await send(item);
        onDone?.(item, performance.now());
      }
    }),
  );
}
