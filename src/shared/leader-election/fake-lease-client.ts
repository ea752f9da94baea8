import type { V1Lease } from '@kubernetes/client-node';
import { LeaseApiError } from './lease-client.js';
import type { LeaseClient } from './lease-client.js';

export type LeaseVerb = 'get' | 'create' | 'replace';

export interface LeaseCall {
  verb: LeaseVerb;
  namespace: string;
  name: string;
  /** The JSON body as it would go on the wire (create and replace). */
  body?: string;
}

/** Runs before a call is served: throw to fail it, return a promise to delay it. */
export type LeaseInterceptor = (call: LeaseCall) => void | Promise<void>;

/** What the apiserver accepts for a MicroTime (Go layout 2006-01-02T15:04:05.000000Z07:00). */
const MICRO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}(Z|[+-]\d{2}:\d{2})$/;

/**
 * An in-memory Lease store behaving like the apiserver where leader election
 * cares: bodies go through JSON (so MicroTimes come back as strings, as with
 * client-node), resourceVersion increments on every write, a stale
 * resourceVersion on PUT answers 409, a missing Lease 404, and MicroTimes in
 * the 3-digit Date form are rejected.
 */
export class FakeLeaseClient implements LeaseClient {
  readonly calls: LeaseCall[] = [];
  private readonly store = new Map<string, string>();
  private resourceVersion = 100;
  private interceptor: LeaseInterceptor | undefined;

  intercept(interceptor: LeaseInterceptor | undefined): void {
    this.interceptor = interceptor;
  }

  async get(namespace: string, name: string): Promise<V1Lease | undefined> {
    await this.enter({ verb: 'get', namespace, name });
    const text = this.store.get(key(namespace, name));
    return text === undefined ? undefined : (JSON.parse(text) as V1Lease);
  }

  async create(namespace: string, lease: V1Lease): Promise<V1Lease> {
    const name = lease.metadata?.name ?? '';
    const body = JSON.stringify(lease);
    await this.enter({ verb: 'create', namespace, name, body });
    const incoming = decode(body);
    if (this.store.has(key(namespace, name))) {
      throw new LeaseApiError(409, 'AlreadyExists', `leases.coordination.k8s.io "${name}" already exists`);
    }
    return this.write(namespace, incoming);
  }

  async replace(namespace: string, name: string, lease: V1Lease): Promise<V1Lease> {
    const body = JSON.stringify(lease);
    await this.enter({ verb: 'replace', namespace, name, body });
    const incoming = decode(body);
    const current = this.read(namespace, name);
    if (!current) throw new LeaseApiError(404, 'NotFound', `leases.coordination.k8s.io "${name}" not found`);
    if (incoming.metadata?.name !== name) {
      throw new LeaseApiError(400, 'BadRequest', 'the name of the object does not match the name on the URL');
    }
    const sent = incoming.metadata?.resourceVersion;
    if (sent && sent !== current.metadata?.resourceVersion) {
      throw new LeaseApiError(
        409,
        'Conflict',
        `Operation cannot be fulfilled on leases.coordination.k8s.io "${name}": the object has been modified; please apply your changes to the latest version and try again`,
      );
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
    await this.interceptor?.(call);
  }
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

function decode(body: string): V1Lease {
  const lease = JSON.parse(body) as V1Lease;
  for (const field of ['acquireTime', 'renewTime'] as const) {
    const value: unknown = lease.spec?.[field];
    if (value !== undefined && value !== null && !(typeof value === 'string' && MICRO_TIME.test(value))) {
      throw new LeaseApiError(400, 'BadRequest', `spec.${field}: cannot parse ${JSON.stringify(value)} as a MicroTime`);
    }
  }
  return lease;
}
