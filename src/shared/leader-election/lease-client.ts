import { Observable } from '@kubernetes/client-node';
import type { ConfigurationOptions, CoordinationV1Api, ObservableMiddleware, V1Lease } from '@kubernetes/client-node';
import { fromApiException, isNotFound } from '../kube/errors.js';

/**
 * The three Lease calls leader election needs. Kept this narrow so the
 * elector runs on its own API client (and request budget) and tests can use
 * an in-memory fake. Failures the apiserver answered are KubeApiErrors, so
 * statusCode / isConflict / isNotFound from kube/errors classify them.
 * Each call takes a signal that aborts the request: an attempt that ran past
 * its deadline must not stay on the wire and race a later write.
 */
export interface LeaseClient {
  /** Resolves undefined when the Lease does not exist (HTTP 404). */
  get(namespace: string, name: string, signal?: AbortSignal): Promise<V1Lease | undefined>;
  /** POST; rejects with an AlreadyExists error (409) when the Lease already exists. */
  create(namespace: string, lease: V1Lease, signal?: AbortSignal): Promise<V1Lease>;
  /** PUT of the whole object; rejects with a Conflict error (409) when metadata.resourceVersion is stale. */
  replace(namespace: string, name: string, lease: V1Lease, signal?: AbortSignal): Promise<V1Lease>;
}

export type CoordinationLeaseApi = Pick<
  CoordinationV1Api,
  'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'
>;

const LEASES = { group: 'coordination.k8s.io', resource: 'leases' };

/** LeaseClient on client-node's typed CoordinationV1Api. */
export function coordinationLeaseClient(api: CoordinationLeaseApi): LeaseClient {
  return {
    async get(namespace, name, signal) {
      try {
        return await api.readNamespacedLease({ namespace, name }, abortable(signal));
      } catch (err) {
        const converted = fromApiException(err, `GET lease ${namespace}/${name}`, { method: 'GET', ...LEASES, name });
        if (isNotFound(converted)) return undefined;
        throw converted;
      }
    },
    async create(namespace, lease, signal) {
      try {
        return await api.createNamespacedLease({ namespace, body: lease }, abortable(signal));
      } catch (err) {
        throw fromApiException(err, `POST lease ${namespace}/${lease.metadata?.name ?? ''}`, {
          method: 'POST',
          ...LEASES,
        });
      }
    },
    async replace(namespace, name, lease, signal) {
      try {
        return await api.replaceNamespacedLease({ namespace, name, body: lease }, abortable(signal));
      } catch (err) {
        throw fromApiException(err, `PUT lease ${namespace}/${name}`, { method: 'PUT', ...LEASES, name });
      }
    },
  };
}

/**
 * Per-call options that hand the signal to client-node's fetch: 2.0.1 has no
 * signal parameter, but a call-time middleware may set one on the request
 * context. Prepended so that a client's own middleware (kube/client.ts waits
 * for its token bucket there) already sees it; combined with any signal set
 * before, so neither is lost. Call-time middleware must be the Observable
 * kind: the typed object APIs call the Observable layer directly.
 */
function abortable(signal: AbortSignal | undefined): ConfigurationOptions | undefined {
  if (!signal) return undefined;
  const middleware: ObservableMiddleware = {
    pre(context) {
      const existing = context.getSignal();
      context.setSignal(existing ? AbortSignal.any([existing, signal]) : signal);
      return new Observable(Promise.resolve(context));
    },
    post: (context) => new Observable(Promise.resolve(context)),
  };
  return { middleware: [middleware], middlewareMergeStrategy: 'prepend' };
}
