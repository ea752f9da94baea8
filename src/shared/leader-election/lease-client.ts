import { ApiException } from '@kubernetes/client-node';
import type { CoordinationV1Api, V1Lease } from '@kubernetes/client-node';

/**
 * The three Lease calls leader election needs. Kept this narrow so the
 * elector runs on its own API client (and request budget) and tests can use
 * an in-memory fake.
 */
export interface LeaseClient {
  /** Resolves undefined when the Lease does not exist (HTTP 404). */
  get(namespace: string, name: string): Promise<V1Lease | undefined>;
  /** POST; rejects with status 409 when the Lease already exists. */
  create(namespace: string, lease: V1Lease): Promise<V1Lease>;
  /** PUT of the whole object; rejects with status 409 when metadata.resourceVersion is stale. */
  replace(namespace: string, name: string, lease: V1Lease): Promise<V1Lease>;
}

/** A failed Lease call that the apiserver answered with an HTTP status. */
export class LeaseApiError extends Error {
  readonly status: number;
  /** metav1.Status reason, e.g. "Conflict", "NotFound", "AlreadyExists". */
  readonly reason: string;

  constructor(status: number, reason: string, message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = 'LeaseApiError';
    this.status = status;
    this.reason = reason;
  }
}

/** The HTTP status of a LeaseClient error, undefined for transport failures. */
export function leaseErrorStatus(err: unknown): number | undefined {
  return err instanceof LeaseApiError ? err.status : undefined;
}

export type CoordinationLeaseApi = Pick<
  CoordinationV1Api,
  'readNamespacedLease' | 'createNamespacedLease' | 'replaceNamespacedLease'
>;

/** LeaseClient on client-node's typed CoordinationV1Api. */
export function coordinationLeaseClient(api: CoordinationLeaseApi): LeaseClient {
  return {
    async get(namespace, name) {
      try {
        return await api.readNamespacedLease({ namespace, name });
      } catch (err) {
        const converted = toLeaseError(err);
        if (leaseErrorStatus(converted) === 404) return undefined;
        throw converted;
      }
    },
    async create(namespace, lease) {
      try {
        return await api.createNamespacedLease({ namespace, body: lease });
      } catch (err) {
        throw toLeaseError(err);
      }
    },
    async replace(namespace, name, lease) {
      try {
        return await api.replaceNamespacedLease({ namespace, name, body: lease });
      } catch (err) {
        throw toLeaseError(err);
      }
    },
  };
}

/**
 * client-node's ApiException carries the status as `code` and the
 * metav1.Status as a JSON string; its message embeds the whole body and all
 * headers, too noisy for a log line every retry period.
 */
function toLeaseError(err: unknown): unknown {
  if (!(err instanceof ApiException)) return err;
  const status = parseStatusBody(err.body);
  const reason = status.reason ?? '';
  const message = status.message ?? `HTTP ${err.code}`;
  return new LeaseApiError(err.code, reason, message, { cause: err });
}

function parseStatusBody(body: unknown): { reason?: string; message?: string } {
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return { message: body || undefined };
    }
  }
  if (typeof parsed !== 'object' || parsed === null) return {};
  const { reason, message } = parsed as Record<string, unknown>;
  return {
    reason: typeof reason === 'string' ? reason : undefined,
    message: typeof message === 'string' ? message : undefined,
  };
}
