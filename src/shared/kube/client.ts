import type { RequestOptions } from 'node:https';
import type { Readable } from 'node:stream';
import { createConfiguration, PatchStrategy, ServerConfiguration } from '@kubernetes/client-node';
import type { Configuration, KubeConfig, Middleware, RequestContext, ResponseContext } from '@kubernetes/client-node';
import { Agent } from 'undici';
import type { Dispatcher } from 'undici';
import { realClock } from '../clock/clock.js';
import type { Clock } from '../clock/clock.js';
import { discardLogger } from '../log/logger.js';
import type { Logger } from '../log/logger.js';
import { isTextContentType, KubeApiError, parseStatus } from './errors.js';
import type { KubeRequestTarget } from './errors.js';
import { TokenBucket } from './token-bucket.js';

export interface KubeClientOptions {
  kubeConfig: KubeConfig;
  /** --kube-api-qps: 0 means client-go's default 5, negative disables the limiter. */
  qps: number;
  /** --kube-api-burst: 0 means client-go's default 10. */
  burst: number;
  userAgent: string;
  clock?: Clock;
  logger?: Logger;
  /**
   * Share another client's token bucket (qps and burst are then that bucket's) in a lane of its own: when both wait,
   * tokens alternate between the lanes, so neither client's burst holds the other's requests back.
   */
  share?: { bucket: TokenBucket; lane: number };
}

export type HttpVerb = 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';

export interface KubeRequest {
  method: HttpVerb;
  /** API path below the server URL, e.g. /api/v1/namespaces/default/pods. */
  path: string;
  /** Undefined values are left out. */
  query?: Record<string, string | number | boolean | undefined>;
  /** Sent as JSON. */
  body?: unknown;
  /**
   * Content-Type of the body; application/json unless given. A PATCH must name its patch format (one of
   * client-node's PatchStrategy values, see patch.ts): the apiserver answers 415 to application/json.
   */
  contentType?: string;
  signal?: AbortSignal;
}

export interface KubeResponse<T> {
  status: number;
  /** The parsed JSON body; undefined for an empty body. */
  body: T;
}

export interface KubeStreamResponse {
  status: number;
  /** The raw response body; the caller must consume or destroy it. */
  body: Readable;
}

export type ApiConstructor<T> = new (configuration: Configuration) => T;

/**
 * One Kubernetes client: typed client-node APIs and raw JSON requests sharing one token bucket, one
 * keep-alive connection pool and one User-Agent. Build a separate client (own bucket) for leader
 * election or event posting, as the Go sidecars do.
 */
export interface KubeClient {
  readonly kubeConfig: KubeConfig;
  /** The client's request limiter (--kube-api-qps/--kube-api-burst), for a client sharing it in another lane. */
  readonly bucket: TokenBucket;
  /** A typed API object (CoreV1Api, StorageV1Api, ...) on this client's configuration. */
  api<T>(apiClass: ApiConstructor<T>): T;
  /** A JSON request; rejects with KubeApiError for an HTTP error status. */
  request<T = unknown>(request: KubeRequest): Promise<KubeResponse<T>>;
  /**
   * A request whose body is handed over as a stream (watches). Rejects with KubeApiError for an HTTP
   * error status. No client-side timeouts apply once headers arrive: the caller supervises the stream.
   */
  stream(request: KubeRequest): Promise<KubeStreamResponse>;
  /** Aborts everything in flight and closes the connections. */
  close(): Promise<void>;
}

export function createKubeClient(options: KubeClientOptions): KubeClient {
  return new Client(options);
}

/** client-go logs client-side throttling above this wait (rest/request.go longThrottleLatency). */
const LONG_THROTTLE_MS = 50;

const PATCH_CONTENT_TYPES: ReadonlySet<string> = new Set(Object.values(PatchStrategy));

class Client implements KubeClient {
  readonly kubeConfig: KubeConfig;
  readonly bucket: TokenBucket;
  private readonly lane: number;
  private readonly userAgent: string;
  private readonly logger: Logger;
  private readonly origin: string;
  private readonly basePath: string;
  private readonly configuration: Configuration;
  private readonly apis = new Map<ApiConstructor<unknown>, unknown>();
  private dispatcherPromise: Promise<Dispatcher> | undefined;

  constructor(options: KubeClientOptions) {
    this.kubeConfig = options.kubeConfig;
    this.userAgent = options.userAgent;
    this.logger = options.logger ?? discardLogger();
    this.bucket =
      options.share?.bucket ??
      new TokenBucket({ qps: options.qps, burst: options.burst, clock: options.clock ?? realClock });
    this.lane = options.share?.lane ?? 0;
    const cluster = this.kubeConfig.getCurrentCluster();
    if (!cluster) throw new Error('kubeconfig has no current cluster');
    if (cluster.proxyUrl) throw new Error(`proxy-url ${cluster.proxyUrl} in kubeconfig is not supported`);
    if (cluster.server.startsWith('http:') && !cluster.skipTLSVerify) {
      throw new Error(`server ${cluster.server} uses plain http; client-node requires insecure-skip-tls-verify for it`);
    }
    const server = new URL(cluster.server);
    this.origin = server.origin;
    this.basePath = server.pathname.replace(/\/$/, '');
    this.configuration = createConfiguration({
      baseServer: new ServerConfiguration(this.origin + this.basePath, {}),
      authMethods: { default: this.kubeConfig },
      // One middleware doing all three steps: the generated code reverses the middleware array in
      // place after each call, so the relative order of several middlewares would flip between calls.
      promiseMiddleware: [this.middleware()],
    });
  }

  api<T>(apiClass: ApiConstructor<T>): T {
    let api = this.apis.get(apiClass) as T | undefined;
    if (api === undefined) {
      api = new apiClass(this.configuration);
      this.apis.set(apiClass, api);
    }
    return api;
  }

  async request<T = unknown>(request: KubeRequest): Promise<KubeResponse<T>> {
    const response = await this.send(request, false);
    const text = await response.body.text();
    if (response.statusCode >= 400) throw this.httpError(request, response, text);
    return { status: response.statusCode, body: (text === '' ? undefined : JSON.parse(text)) as T };
  }

  async stream(request: KubeRequest): Promise<KubeStreamResponse> {
    const response = await this.send(request, true);
    if (response.statusCode >= 400) {
      throw this.httpError(request, response, await response.body.text());
    }
    return { status: response.statusCode, body: response.body };
  }

  async close(): Promise<void> {
    const pending = this.dispatcherPromise;
    this.dispatcherPromise = undefined;
    const dispatcher = await pending?.catch(() => undefined);
    await dispatcher?.destroy();
  }

  private middleware(): Middleware {
    return {
      pre: async (context: RequestContext): Promise<RequestContext> => {
        await this.throttle(context.getHttpMethod(), context.getUrl(), context.getSignal());
        // Replaces the one-off dispatcher client-node attaches per request, so connections are reused;
        // the auth headers client-node set stay.
        context.setDispatcher(await this.dispatcher());
        context.setHeaderParam('User-Agent', this.userAgent);
        return context;
      },
      post: (context: ResponseContext): Promise<ResponseContext> => Promise.resolve(context),
    };
  }

  private async send(request: KubeRequest, streaming: boolean): Promise<Dispatcher.ResponseData> {
    // Refused before it costs a token: the server would reject it anyway, and only with a 415 that
    // does not say which patch format was meant.
    if (request.method === 'PATCH' && !PATCH_CONTENT_TYPES.has(request.contentType ?? '')) {
      throw new Error(
        `PATCH ${request.path}: contentType must name the patch format (${[...PATCH_CONTENT_TYPES].join(', ')}), ` +
          `got ${request.contentType ?? 'none'}`,
      );
    }
    const path = this.basePath + request.path + queryString(request.query);
    await this.throttle(request.method, path, request.signal);
    const headers = await this.authHeaders();
    headers['accept'] = 'application/json';
    headers['user-agent'] = this.userAgent;
    let body: string | undefined;
    if (request.body !== undefined) {
      body = JSON.stringify(request.body);
      headers['content-type'] = request.contentType ?? 'application/json';
    }
    const dispatcher = await this.dispatcher();
    return dispatcher.request({
      origin: this.origin,
      path,
      method: request.method,
      headers,
      body,
      signal: request.signal,
      // A watch may legitimately stay quiet for minutes; its owner runs its own watchdog.
      ...(streaming ? { headersTimeout: 0, bodyTimeout: 0 } : {}),
    });
  }

  /**
   * Asks the KubeConfig for fresh credentials on every request: in-cluster tokens rotate and
   * exec/OIDC plugins refresh, and client-node handles both behind this call.
   */
  private async authHeaders(): Promise<Record<string, string>> {
    const options: RequestOptions = {};
    await this.kubeConfig.applyToHTTPSOptions(options);
    const headers: Record<string, string> = {};
    for (const [name, value] of Object.entries(options.headers ?? {})) {
      if (value !== undefined) headers[name.toLowerCase()] = String(value);
    }
    if (options.auth) headers['authorization'] = `Basic ${Buffer.from(options.auth).toString('base64')}`;
    return headers;
  }

  private async throttle(verb: string, url: string, signal: AbortSignal | undefined): Promise<void> {
    const waited = await this.bucket.take(signal, this.lane);
    // undici hands a finished keep-alive socket back to its pool one event-loop turn after the
    // response (setImmediate); without this yield a request sent right after another's response was
    // read finds the socket still busy and opens a second connection.
    await new Promise((resolve) => setImmediate(resolve));
    if (waited > LONG_THROTTLE_MS) {
      this.logger.v(3).info('Waited before sending request', {
        delay: `${(waited / 1000).toFixed(3)}s`,
        reason: 'client-side throttling, not priority and fairness',
        verb,
        URL: url,
      });
    }
  }

  private dispatcher(): Promise<Dispatcher> {
    if (!this.dispatcherPromise) {
      const building = buildDispatcher(this.kubeConfig);
      // A failed build (e.g. unreadable CA file) is retried by the next request instead of sticking.
      building.catch(() => {
        if (this.dispatcherPromise === building) this.dispatcherPromise = undefined;
      });
      this.dispatcherPromise = building;
    }
    return this.dispatcherPromise;
  }

  private httpError(request: KubeRequest, response: Dispatcher.ResponseData, text: string): KubeApiError {
    const contentType = response.headers['content-type'];
    return new KubeApiError({
      code: response.statusCode,
      status: parseStatus(text),
      context: `${request.method} ${request.path}`,
      target: requestTarget(request.method, request.path),
      serverText: isTextContentType(Array.isArray(contentType) ? contentType[0] : contentType) ? text : undefined,
    });
  }
}

/** One keep-alive pool carrying the cluster's TLS material (CA, client certificate, skip-verify). */
async function buildDispatcher(kubeConfig: KubeConfig): Promise<Dispatcher> {
  const tls: RequestOptions = {};
  await kubeConfig.applyToHTTPSOptions(tls);
  return new Agent({
    connect: {
      ca: tls.ca,
      cert: tls.cert,
      key: tls.key,
      pfx: tls.pfx,
      passphrase: tls.passphrase,
      ...(tls.rejectUnauthorized !== undefined ? { rejectUnauthorized: tls.rejectUnauthorized } : {}),
      ...(tls.servername !== undefined ? { servername: tls.servername } : {}),
      // TCP keep-alive probes after 30 s idle, as client-go and client-node do.
      keepAlive: true,
      keepAliveInitialDelay: 30_000,
    },
    // Keep idle connections for a minute (servers that send no Keep-Alive hint would otherwise get
    // undici's 4 s), below the apiserver's 90 s idle timeout.
    keepAliveTimeout: 60_000,
  });
}

/**
 * The group, resource and name an API path addresses (/api/v1/namespaces/ns/pods/name/status: "", pods, name), as
 * client-go's request builder knows them; a path that is not a resource request names none.
 */
export function requestTarget(method: string, path: string): KubeRequestTarget {
  const segments = path
    .split('?')[0]
    .split('/')
    .filter((segment) => segment !== '');
  let rest: string[];
  let group = '';
  if (segments[0] === 'api' && segments.length >= 2) {
    rest = segments.slice(2);
  } else if (segments[0] === 'apis' && segments.length >= 3) {
    group = segments[1];
    rest = segments.slice(3);
  } else {
    return { method, group: '', resource: '' };
  }
  // A namespaced resource; "namespaces/<name>" alone is the Namespace itself.
  if (rest[0] === 'namespaces' && rest.length >= 3) rest = rest.slice(2);
  if (rest.length === 0) return { method, group: '', resource: '' };
  return { method, group, resource: rest[0], name: rest[1] ?? '' };
}

function queryString(query: KubeRequest['query']): string {
  if (!query) return '';
  const params = new URLSearchParams();
  for (const [name, value] of Object.entries(query)) {
    if (value !== undefined) params.set(name, String(value));
  }
  const text = params.toString();
  return text === '' ? '' : `?${text}`;
}
