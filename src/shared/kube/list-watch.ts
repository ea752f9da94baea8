import type { Clock } from '../clock/clock.js';
import type { KubeClient } from './client.js';
import { isGone } from './errors.js';

/** What an informer needs from a client; KubeClient implements it, tests may fake it. */
export type ListWatchTransport = Pick<KubeClient, 'request' | 'stream'>;

export interface ListPage {
  metadata?: { resourceVersion?: string; continue?: string };
  items?: unknown[] | null;
}

export interface ListAllOptions {
  transport: ListWatchTransport;
  path: string;
  labelSelector?: string;
  fieldSelector?: string;
  /**
   * "0" lets the apiserver answer from its watch cache, a version it handed out earlier asks for data
   * at least that new; undefined or "" is a consistent (quorum) read. Sent with the first page only: a
   * continue token carries its own snapshot.
   */
  resourceVersion?: string;
  /** Items per page; 0 asks for everything in one response. */
  pageSize: number;
  /** Each page request is aborted after this long. */
  pageTimeoutMs: number;
  clock: Clock;
  signal: AbortSignal;
  /** Told when a continue token expired and the list starts over. */
  onRestart?: () => void;
}

export interface ListResult {
  items: unknown[];
  resourceVersion: string;
  /** The server split the answer into pages (it did not ignore the limit). */
  paginated: boolean;
}

/**
 * Lists a whole collection page by page. Every continue token pins the snapshot of the first page; if
 * compaction removes that snapshot mid-way (410 on a continue request), the list starts over from the
 * first page.
 */
export async function listAll(options: ListAllOptions): Promise<ListResult> {
  let paginated = false;
  for (;;) {
    const items: unknown[] = [];
    let resourceVersion = '';
    let continueToken: string | undefined;
    try {
      do {
        const page = await listPage(options, continueToken);
        for (const item of page.items ?? []) items.push(item);
        resourceVersion = page.metadata?.resourceVersion ?? '';
        continueToken = page.metadata?.continue || undefined;
        if (continueToken !== undefined) paginated = true;
      } while (continueToken !== undefined);
      return { items, resourceVersion, paginated };
    } catch (err) {
      if (continueToken === undefined || !isGone(err) || options.signal.aborted) throw err;
      options.onRestart?.();
    }
  }
}

async function listPage(options: ListAllOptions, continueToken: string | undefined): Promise<ListPage> {
  const timeout = timeoutSignal(options.clock, options.pageTimeoutMs, options.signal, 'list page timed out');
  try {
    const response = await options.transport.request<ListPage>({
      method: 'GET',
      path: options.path,
      query: {
        limit: options.pageSize > 0 ? options.pageSize : undefined,
        continue: continueToken,
        resourceVersion: continueToken === undefined ? options.resourceVersion || undefined : undefined,
        labelSelector: options.labelSelector,
        fieldSelector: options.fieldSelector,
      },
      signal: timeout.signal,
    });
    return response.body ?? {};
  } catch (err) {
    throw timeout.signal.aborted && !options.signal.aborted ? timeout.signal.reason : err;
  } finally {
    timeout.cancel();
  }
}

export interface TimeoutSignal {
  signal: AbortSignal;
  cancel(): void;
}

/** An AbortSignal that fires after ms on the given clock or when parent aborts, whichever is first. */
export function timeoutSignal(clock: Clock, ms: number, parent: AbortSignal, message: string): TimeoutSignal {
  const controller = new AbortController();
  const onParentAbort = (): void => controller.abort(parent.reason);
  if (parent.aborted) onParentAbort();
  else parent.addEventListener('abort', onParentAbort, { once: true });
  const timer = clock.after(ms, () => controller.abort(new Error(`${message} after ${ms} ms`)));
  return {
    signal: controller.signal,
    cancel: () => {
      timer.cancel();
      parent.removeEventListener('abort', onParentAbort);
    },
  };
}

export interface WatchEvent {
  type: string;
  object: unknown;
}

/**
 * Splits a watch response body into events. The apiserver writes one JSON document per line, but
 * chunk boundaries fall anywhere, so partial lines are kept until their newline arrives. Only new
 * text is scanned, so a large object arriving in many chunks costs linear time.
 */
export class WatchDecoder {
  private readonly decoder = new TextDecoder();
  private pending: string[] = [];

  push(chunk: Uint8Array): WatchEvent[] {
    const text = this.decoder.decode(chunk, { stream: true });
    const events: WatchEvent[] = [];
    let start = 0;
    for (let newline = text.indexOf('\n'); newline >= 0; newline = text.indexOf('\n', start)) {
      this.pending.push(text.slice(start, newline));
      const line = this.pending.join('');
      this.pending = [];
      if (line.trim() !== '') events.push(parseWatchEvent(line));
      start = newline + 1;
    }
    if (start < text.length) this.pending.push(text.slice(start));
    return events;
  }
}

function parseWatchEvent(line: string): WatchEvent {
  const parsed: unknown = JSON.parse(line);
  if (typeof parsed !== 'object' || parsed === null) throw new Error(`watch event is not an object: ${line}`);
  const { type, object } = parsed as { type?: unknown; object?: unknown };
  if (typeof type !== 'string' || typeof object !== 'object' || object === null) {
    throw new Error(`malformed watch event: ${line.slice(0, 200)}`);
  }
  return { type, object };
}
