import { createServer } from 'node:http';
import type { IncomingHttpHeaders, IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { KubeConfig } from '@kubernetes/client-node';
import type { KubeObject } from '../cache.js';
import { objectKey } from '../cache.js';
import type { KubeStatus } from '../errors.js';

export interface RecordedRequest {
  method: string;
  path: string;
  query: URLSearchParams;
  headers: IncomingHttpHeaders;
  body: string;
}

export interface RouteResponse {
  status: number;
  /** Sent as JSON. */
  body?: unknown;
  /** Sent as it is instead of body, with contentType (an apiserver's "404 page not found", a proxy's error page). */
  text?: string;
  contentType?: string;
}

export type RouteHandler = (request: RecordedRequest) => RouteResponse | Promise<RouteResponse>;

const REASONS: Record<number, string> = {
  400: 'BadRequest',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'NotFound',
  409: 'Conflict',
  410: 'Expired',
  422: 'Invalid',
  429: 'TooManyRequests',
  500: 'InternalError',
  503: 'ServiceUnavailable',
  504: 'Timeout',
};

/** A metav1.Status body as the apiserver sends it. */
export function statusBody(code: number, message: string, reason = REASONS[code] ?? ''): KubeStatus {
  return { kind: 'Status', apiVersion: 'v1', status: 'Failure', message, reason, code };
}

/** The 504 an apiserver whose watch cache has not reached the requested resourceVersion answers with. */
export function tooLargeResourceVersionStatus(requested: string): KubeStatus {
  return {
    ...statusBody(504, `Too large resource version: ${requested}`),
    details: { causes: [{ reason: 'ResourceVersionTooLarge', message: 'Too large resource version' }] },
  };
}

/**
 * An in-process stand-in for kube-apiserver on plain HTTP (127.0.0.1, random port): scripted routes,
 * collections with paged lists and watches, failure injection, a request log and a TCP connection count.
 */
export class FakeApiServer {
  readonly requests: RecordedRequest[] = [];
  private readonly server: Server;
  private readonly sockets = new Set<Socket>();
  private readonly routes: { method: string; path: string; handler: RouteHandler }[] = [];
  private readonly collections = new Map<string, FakeCollection>();
  private connectionCount = 0;
  private rv = 1000;

  private constructor() {
    this.server = createServer((req, res) => {
      this.handle(req, res).catch((err: unknown) => {
        if (!res.headersSent) send(res, 500, statusBody(500, String(err)));
        else res.destroy();
      });
    });
    this.server.on('connection', (socket) => {
      this.connectionCount++;
      this.sockets.add(socket);
      socket.on('close', () => this.sockets.delete(socket));
    });
  }

  static async start(): Promise<FakeApiServer> {
    const fake = new FakeApiServer();
    await new Promise<void>((resolve) => fake.server.listen(0, '127.0.0.1', resolve));
    return fake;
  }

  get url(): string {
    return `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  /** TCP connections accepted so far. */
  get connections(): number {
    return this.connectionCount;
  }

  /** A kubeconfig for this server with a bearer token (http needs skipTLSVerify in client-node). */
  kubeConfig(options: { token?: string; server?: string } = {}): KubeConfig {
    const kc = new KubeConfig();
    kc.loadFromOptions({
      clusters: [{ name: 'fake', server: options.server ?? this.url, skipTLSVerify: true }],
      users: [{ name: 'fake-user', token: options.token ?? 'fake-token' }],
      contexts: [{ name: 'fake', cluster: 'fake', user: 'fake-user' }],
      currentContext: 'fake',
    });
    return kc;
  }

  /** Answers method+path (exact match, query ignored) with the handler's response. */
  route(method: string, path: string, handler: RouteHandler): void {
    this.routes.push({ method, path, handler });
  }

  /** The collection served at a list path such as /api/v1/persistentvolumes; created on first use. */
  collection(path: string): FakeCollection {
    let collection = this.collections.get(path);
    if (!collection) {
      collection = new FakeCollection({ next: () => ++this.rv, current: () => this.rv });
      this.collections.set(path, collection);
    }
    return collection;
  }

  requestsTo(path: string, filter: (r: RecordedRequest) => boolean = () => true): RecordedRequest[] {
    return this.requests.filter((r) => r.path === path && filter(r));
  }

  async close(): Promise<void> {
    for (const socket of this.sockets) socket.destroy();
    await new Promise<void>((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://fake');
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    const recorded: RecordedRequest = {
      method: req.method ?? 'GET',
      path: url.pathname,
      query: url.searchParams,
      headers: req.headers,
      body: Buffer.concat(chunks).toString('utf8'),
    };
    this.requests.push(recorded);
    const route = this.routes.find((r) => r.method === recorded.method && r.path === recorded.path);
    if (route) {
      const response = await route.handler(recorded);
      if (response.text !== undefined) {
        const headers = response.contentType === undefined ? {} : { 'content-type': response.contentType };
        res.writeHead(response.status, headers);
        res.end(response.text);
      } else {
        send(res, response.status, response.body);
      }
      return;
    }
    const collection = this.collections.get(recorded.path);
    if (collection && recorded.method === 'GET') {
      collection.serve(recorded, res);
      return;
    }
    send(res, 404, statusBody(404, `${recorded.method} ${recorded.path} is not served`));
  }
}

interface ResourceVersions {
  next(): number;
  current(): number;
}

interface Watcher {
  res: ServerResponse;
  stalled: boolean;
}

interface HistoryEntry {
  rv: number;
  line: string;
}

/**
 * One resource collection: objects keyed namespace/name, an event history so watches can resume from
 * a resourceVersion, and knobs for the failure modes an informer must survive.
 */
export class FakeCollection {
  /** Called before each list page is served with the request's continue token ('' for a first page). */
  beforeListPage: ((continueToken: string) => void) | undefined;
  /** False makes watch-list requests (sendInitialEvents) fail with 422, as on servers without WatchList. */
  watchListSupported = true;
  private readonly rv: ResourceVersions;
  private readonly objects = new Map<string, KubeObject>();
  private readonly history: HistoryEntry[] = [];
  private readonly watchers = new Set<Watcher>();
  private readonly listFailures: KubeStatus[] = [];
  private readonly watchFailures: KubeStatus[] = [];
  private hangWatches = 0;
  private compactedRv = 0;

  constructor(rv: ResourceVersions) {
    this.rv = rv;
  }

  /** Watches currently receiving events (stalled ones excluded). */
  get openWatches(): number {
    let open = 0;
    for (const w of this.watchers) if (!w.stalled) open++;
    return open;
  }

  get(key: string): KubeObject | undefined {
    return this.objects.get(key);
  }

  create(obj: KubeObject): KubeObject {
    const key = objectKey(obj);
    if (this.objects.has(key)) throw new Error(`${key} already exists`);
    const stored = this.stamp(obj);
    stored.metadata!.uid ??= `uid-${key}`;
    this.objects.set(key, stored);
    this.emit('ADDED', stored);
    return stored;
  }

  /** Replaces an existing object (a new resourceVersion is assigned). */
  update(obj: KubeObject): KubeObject {
    const key = objectKey(obj);
    if (!this.objects.has(key)) throw new Error(`${key} does not exist`);
    const stored = this.stamp(obj);
    this.objects.set(key, stored);
    this.emit('MODIFIED', stored);
    return stored;
  }

  delete(key: string): KubeObject {
    const existing = this.objects.get(key);
    if (!existing) throw new Error(`${key} does not exist`);
    this.objects.delete(key);
    const final = this.stamp(existing);
    this.emit('DELETED', final);
    return final;
  }

  /** Sends a BOOKMARK carrying the current resourceVersion to every open watch. */
  bookmark(): void {
    this.broadcast(
      eventLine('BOOKMARK', { kind: 'Bookmark', metadata: { resourceVersion: String(this.rv.current()) } }),
    );
  }

  /** Sends an ERROR event to every open watch and ends it, as the apiserver does. */
  sendError(status: KubeStatus): void {
    this.broadcast(eventLine('ERROR', status));
    this.endWatches();
  }

  /** Forgets history up to now: older resourceVersions and continue tokens get 410 Expired. */
  compact(): void {
    this.compactedRv = this.rv.current();
  }

  /** The next list requests get this Status (by default a plain one for code) instead of an answer. */
  failNextLists(count: number, code = 500, status = statusBody(code, 'injected list failure')): void {
    for (let i = 0; i < count; i++) this.listFailures.push(status);
  }

  /** The next watch requests, watch-lists included, get this Status instead of a stream. */
  failNextWatches(count: number, code = 500, status = statusBody(code, 'injected watch failure')): void {
    for (let i = 0; i < count; i++) this.watchFailures.push(status);
  }

  /** The next watch requests get no response at all (not even headers). */
  hangNextWatches(count: number): void {
    this.hangWatches += count;
  }

  /** Open watches stop receiving bytes but stay connected, like a half-open TCP connection. */
  stallWatches(): void {
    for (const w of this.watchers) w.stalled = true;
  }

  /** Ends open watches cleanly, as the server does when timeoutSeconds is reached. */
  endWatches(): void {
    for (const w of this.watchers) if (!w.stalled) w.res.end();
  }

  /** Cuts every watch connection mid-stream, stalled ones included. */
  destroyWatches(): void {
    for (const w of this.watchers) w.res.socket?.destroy();
  }

  /** Writes raw bytes to every open watch (for framing tests). */
  writeRaw(text: string): void {
    this.broadcast(text);
  }

  serve(request: RecordedRequest, res: ServerResponse): void {
    if (request.query.get('watch') === '1' || request.query.get('watch') === 'true') this.serveWatch(request, res);
    else this.serveList(request, res);
  }

  private serveList(request: RecordedRequest, res: ServerResponse): void {
    const failure = this.listFailures.shift();
    if (failure !== undefined) return send(res, failure.code ?? 500, failure);
    const token = request.query.get('continue') ?? '';
    const requestedRv = request.query.get('resourceVersion') ?? '';
    if (token !== '' && requestedRv !== '' && requestedRv !== '0') {
      return send(res, 400, statusBody(400, 'specifying resource version is not allowed when using continue'));
    }
    this.beforeListPage?.(token);
    let rv = this.rv.current();
    let offset = 0;
    if (token !== '') {
      const decoded = JSON.parse(Buffer.from(token, 'base64url').toString()) as { rv: number; offset: number };
      if (decoded.rv < this.compactedRv) {
        return send(res, 410, statusBody(410, 'The provided continue parameter is too old', 'Expired'));
      }
      ({ rv, offset } = decoded);
    }
    const all = [...this.objects.keys()].sort().map((k) => this.objects.get(k)!);
    const limit = Number(request.query.get('limit') ?? '0');
    const end = limit > 0 ? offset + limit : all.length;
    const next = end < all.length ? Buffer.from(JSON.stringify({ rv, offset: end })).toString('base64url') : undefined;
    send(res, 200, {
      kind: 'List',
      apiVersion: 'v1',
      metadata: { resourceVersion: String(rv), ...(next ? { continue: next } : {}) },
      items: all.slice(offset, end),
    });
  }

  private serveWatch(request: RecordedRequest, res: ServerResponse): void {
    const failure = this.watchFailures.shift();
    if (failure !== undefined) return send(res, failure.code ?? 500, failure);
    if (this.hangWatches > 0) {
      this.hangWatches--;
      return;
    }
    if (request.query.get('sendInitialEvents') === 'true') return this.serveWatchList(request, res);
    res.writeHead(200, { 'content-type': 'application/json' });
    res.flushHeaders();
    const from = Number(request.query.get('resourceVersion') || this.rv.current());
    if (from < this.compactedRv) {
      res.end(
        eventLine('ERROR', statusBody(410, `too old resource version: ${from} (${this.compactedRv})`, 'Expired')),
      );
      return;
    }
    for (const entry of this.history) if (entry.rv > from) res.write(entry.line);
    const watcher: Watcher = { res, stalled: false };
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
  }

  /**
   * A watch-list: the current objects as ADDED events, the bookmark that ends the initial events, then
   * live events. The state is always the current one, which satisfies NotOlderThan for any version the
   * server has handed out, so compaction does not matter here.
   */
  private serveWatchList(request: RecordedRequest, res: ServerResponse): void {
    const invalid = !this.watchListSupported
      ? 'sendInitialEvents is not supported by this server'
      : request.query.get('resourceVersionMatch') !== 'NotOlderThan'
        ? 'sendInitialEvents requires resourceVersionMatch=NotOlderThan'
        : request.query.get('allowWatchBookmarks') !== 'true'
          ? 'sendInitialEvents requires allowWatchBookmarks=true'
          : undefined;
    if (invalid !== undefined) return send(res, 422, statusBody(422, invalid));
    const current = this.rv.current();
    if (Number(request.query.get('resourceVersion') || '0') > current) {
      return send(res, 504, tooLargeResourceVersionStatus(request.query.get('resourceVersion') ?? ''));
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    for (const key of [...this.objects.keys()].sort()) res.write(eventLine('ADDED', this.objects.get(key)));
    res.write(
      eventLine('BOOKMARK', {
        kind: 'Bookmark',
        metadata: { resourceVersion: String(current), annotations: { 'k8s.io/initial-events-end': 'true' } },
      }),
    );
    const watcher: Watcher = { res, stalled: false };
    this.watchers.add(watcher);
    res.on('close', () => this.watchers.delete(watcher));
  }

  private stamp(obj: KubeObject): KubeObject {
    const copy = structuredClone(obj);
    copy.metadata = { ...copy.metadata, resourceVersion: String(this.rv.next()) };
    return copy;
  }

  private emit(type: string, obj: KubeObject): void {
    const line = eventLine(type, obj);
    this.history.push({ rv: Number(obj.metadata!.resourceVersion), line });
    this.broadcast(line);
  }

  private broadcast(text: string): void {
    for (const w of this.watchers) if (!w.stalled) w.res.write(text);
  }
}

function eventLine(type: string, object: unknown): string {
  return JSON.stringify({ type, object }) + '\n';
}

function send(res: ServerResponse, status: number, body: unknown): void {
  const text = body === undefined ? '' : JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(text) });
  res.end(text);
}
