import { ApiException, PatchStrategy, setHeaderOptions } from '@kubernetes/client-node';
import type { CoreV1Api, CoreV1Event } from '@kubernetes/client-node';

/** What a repeat of a known event changes on the server (client-go's two-way merge patch). */
export interface EventPatch {
  count: number;
  /** RFC 3339 with whole seconds, as metav1.Time marshals. */
  lastTimestamp: string;
  message?: string;
}

/**
 * Where recorded events go. Narrow so the recorder can get an API client of
 * its own (its own request budget) and tests can use FakeEventSink.
 */
export interface EventSink {
  create(namespace: string, event: CoreV1Event): Promise<CoreV1Event>;
  /** A strategic merge patch of an existing Event; rejects with status 404 when it is gone. */
  patch(namespace: string, name: string, patch: EventPatch): Promise<CoreV1Event>;
}

/** A write the apiserver answered with an HTTP status. */
export class EventSinkError extends Error {
  readonly status: number;
  /** metav1.Status reason, e.g. "AlreadyExists". */
  readonly reason: string;
  /** metav1.Status details.causes[].type, e.g. "NamespaceTerminating". */
  readonly causes: readonly string[];

  constructor(status: number, reason: string, message: string, causes: readonly string[] = [], options?: ErrorOptions) {
    super(message, options);
    this.name = 'EventSinkError';
    this.status = status;
    this.reason = reason;
    this.causes = causes;
  }
}

export type CoreV1EventApi = Pick<CoreV1Api, 'createNamespacedEvent' | 'patchNamespacedEvent'>;

/** EventSink on client-node's CoreV1Api (core/v1 Events, as client-go's record package writes). */
export function coreV1EventSink(api: CoreV1EventApi): EventSink {
  return {
    async create(namespace, event) {
      try {
        return await api.createNamespacedEvent({ namespace, body: event });
      } catch (err) {
        throw toSinkError(err);
      }
    },
    async patch(namespace, name, patch) {
      try {
        // Without the header client-node sends application/json-patch+json, which the apiserver rejects for an object.
        return await api.patchNamespacedEvent(
          { namespace, name, body: patch },
          setHeaderOptions('Content-Type', PatchStrategy.StrategicMergePatch),
        );
      } catch (err) {
        throw toSinkError(err);
      }
    },
  };
}

function toSinkError(err: unknown): unknown {
  if (!(err instanceof ApiException)) return err;
  const status = parseStatus(err.body);
  return new EventSinkError(err.code, status.reason, status.message ?? `HTTP ${err.code}`, status.causes, {
    cause: err,
  });
}

function parseStatus(body: unknown): { reason: string; message?: string; causes: string[] } {
  let parsed: unknown = body;
  if (typeof body === 'string') {
    try {
      parsed = JSON.parse(body);
    } catch {
      return { reason: '', message: body || undefined, causes: [] };
    }
  }
  if (typeof parsed !== 'object' || parsed === null) return { reason: '', causes: [] };
  const { reason, message, details } = parsed as { reason?: unknown; message?: unknown; details?: unknown };
  const rawCauses = (details as { causes?: unknown } | undefined)?.causes;
  const causes = Array.isArray(rawCauses)
    ? rawCauses.map((c) => (c as { type?: unknown }).type).filter((t): t is string => typeof t === 'string')
    : [];
  return {
    reason: typeof reason === 'string' ? reason : '',
    message: typeof message === 'string' ? message : undefined,
    causes,
  };
}
