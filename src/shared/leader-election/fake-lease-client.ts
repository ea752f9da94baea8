import type { V1Lease } from '@kubernetes/client-node';
import { KubeApiError } from '../kube/errors.js';
import type { LeaseClient } from './lease-client.js';

export type LeaseVerb = 'get' | 'create' | 'replace';

export interface LeaseCall {
  verb: LeaseVerb;
  namespace: string;
  name: string;
  /** The JSON body as it would go on the wire (create and replace). */
  body?: string;
  /** The caller's signal; the call rejects with its reason once it aborts. */
  signal?: AbortSignal;
}

/**
 * Runs before a call is served: throw to fail it, return a promise to delay
 * it. A delayed call whose signal aborts rejects at once and writes nothing,
 * like an aborted request the apiserver never received.
 */
export type LeaseInterceptor = (call: LeaseCall) => void | Promise<void>;

/** What the apiserver accepts for a MicroTime (Go layout 2006-01-02T15:04:05.000000Z07:00). */
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

/**
 * An in-memory Lease store behaving like the apiserver where leader election
 * cares: bodies go through JSON (so MicroTimes come back as strings, as with
 * client-node), resourceVersion increments on every write, a stale
 * resourceVersion on PUT answers 409, a missing Lease 404, and MicroTimes in
 * the 3-digit Date form are rejected. Failures are the KubeApiErrors
 * coordinationLeaseClient throws.
 */
export class FakeLeaseClient implements LeaseClient {
  readonly calls: LeaseCall[] = [];
  private readonly store = new Map<string, string>();
  private resourceVersion = 100;
  private interceptor: LeaseInterceptor | undefined;

  intercept(interceptor: LeaseInterceptor | undefined): void {
    this.interceptor = interceptor;
  }

  async get(namespace: string, name: string, signal?: AbortSignal): Promise<V1Lease | undefined> {
    await this.enter({ verb: 'get', namespace, name, signal });
    const text = this.store.get(key(namespace, name));
    return text === undefined ? undefined : (JSON.parse(text) as V1Lease);
  }

  async create(namespace: string, lease: V1Lease, signal?: AbortSignal): Promise<V1Lease> {
    const name = lease.metadata?.name ?? '';
    const body = JSON.stringify(lease);
    await this.enter({ verb: 'create', namespace, name, body, signal });
    const incoming = decode(body);
    if (this.store.has(key(namespace, name))) {
      throw apiError(`POST lease ${namespace}/${name}`, {
        code: 409,
        reason: 'AlreadyExists',
        message: `leases.coordination.k8s.io "${name}" already exists`,
      });
    }
    return this.write(namespace, incoming);
  }

  async replace(namespace: string, name: string, lease: V1Lease, signal?: AbortSignal): Promise<V1Lease> {
    const body = JSON.stringify(lease);
    await this.enter({ verb: 'replace', namespace, name, body, signal });
    const incoming = decode(body);
    const current = this.read(namespace, name);
    const context = `PUT lease ${namespace}/${name}`;
    if (!current) {
      throw apiError(context, {
        code: 404,
        reason: 'NotFound',
        message: `leases.coordination.k8s.io "${name}" not found`,
      });
    }
    if (incoming.metadata?.name !== name) {
      throw apiError(context, {
        code: 400,
        reason: 'BadRequest',
        message: 'the name of the object does not match the name on the URL',
      });
    }
    const sent = incoming.metadata?.resourceVersion;
    if (sent && sent !== current.metadata?.resourceVersion) {
      throw apiError(context, {
        code: 409,
        reason: 'Conflict',
        message: `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      });
    }
    return this.write(namespace, incoming);
  }

  /** The stored Lease as a client would read it. */
  read(namespace: string, name: string): V1Lease | undefined {
    const text = this.store.get(key(namespace, name));
    return text === undefined ? undefined : (JSON.parse(text) as V1Lease);
  }

  /** Writes a Lease unconditionally, as another client would; returns it with its new resourceVersion. */
  put(namespace: string, lease: V1Lease): V1Lease {
    return this.write(namespace, decode(JSON.stringify(lease)));
  }

  private write(namespace: string, lease: V1Lease): V1Lease {
    const stored: V1Lease = {
      ...lease,
      metadata: { ...lease.metadata, namespace, resourceVersion: String(++this.resourceVersion) },
    };
    const text = JSON.stringify(stored);
    this.store.set(key(namespace, stored.metadata?.name ?? ''), text);
    return JSON.parse(text) as V1Lease;
  }

  private async enter(call: LeaseCall): Promise<void> {
    this.calls.push(call);
    call.signal?.throwIfAborted();
    const intercepted = this.interceptor?.(call);
    if (!intercepted) return;
    const signal = call.signal;
    if (!signal) return intercepted;
    const aborted = Promise.withResolvers<never>();
    const onAbort = (): void => aborted.reject(signal.reason);
    signal.addEventListener('abort', onAbort, { once: true });
    try {
      await Promise.race([intercepted, aborted.promise]);
    } finally {
      signal.removeEventListener('abort', onAbort);
    }
  }
}

function apiError(context: string, status: { code: number; reason: string; message: string }): KubeApiError {
  return new KubeApiError({
    code: status.code,
    status: { kind: 'Status', apiVersion: 'v1', status: 'Failure', ...status },
    context,
  });
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function decode(body: string): V1Lease {
  const lease = JSON.parse(body) as V1Lease;
  for (const field of ['acquireTime', 'renewTime'] as const) {
    const value: unknown = lease.spec?.[field];
    if (value !== undefined && value !== null && !(typeof value === 'string' && MICRO_TIME.test(value))) {
      throw apiError('lease body', {
        code: 400,
        reason: 'BadRequest',
        message: `spec.${field}: cannot parse ${JSON.stringify(value)} as a MicroTime`,
      });
    }
  }
  return lease;
}
