import type { CoreV1Event } from '@kubernetes/client-node';
import { KubeApiError } from '../kube/errors.js';
import type { EventPatch, EventSink } from './event-sink.js';

export interface EventSinkCall {
  verb: 'create' | 'patch';
  namespace: string;
  name: string;
  /** The request body as JSON. */
  body: string;
}

/** Runs before a call is served: throw to fail it, return a promise to delay it. */
export type EventSinkInterceptor = (call: EventSinkCall) => void | Promise<void>;

/**
 * In-memory Events behaving like the apiserver where the recorder cares:
 * bodies go through JSON, a create of an existing name answers 409
 * AlreadyExists, a patch of a missing Event 404, and the namespace in the
 * body must match the URL. Failures are the KubeApiErrors coreV1EventSink
 * throws.
 */
export class FakeEventSink implements EventSink {
  readonly calls: EventSinkCall[] = [];
  private readonly events = new Map<string, CoreV1Event>();
  private resourceVersion = 0;
  private interceptor: EventSinkInterceptor | undefined;

  intercept(interceptor: EventSinkInterceptor | undefined): void {
    this.interceptor = interceptor;
  }

  async create(namespace: string, event: CoreV1Event): Promise<CoreV1Event> {
    const name = event.metadata.name ?? '';
    await this.enter({ verb: 'create', namespace, name, body: JSON.stringify(event) });
    const context = `POST event ${namespace}/${name}`;
    if (event.metadata.namespace !== namespace) {
      throw eventApiError(context, {
        code: 400,
        reason: 'BadRequest',
        message: 'the namespace of the provided object does not match the namespace sent on the request',
      });
    }
    if (this.events.has(key(namespace, name))) {
      throw eventApiError(context, { code: 409, reason: 'AlreadyExists', message: `events "${name}" already exists` });
    }
    const stored = JSON.parse(JSON.stringify(event)) as CoreV1Event;
    return this.store(namespace, stored);
  }

  async patch(namespace: string, name: string, patch: EventPatch): Promise<CoreV1Event> {
    await this.enter({ verb: 'patch', namespace, name, body: JSON.stringify(patch) });
    const current = this.events.get(key(namespace, name));
    if (!current) {
      throw eventApiError(`PATCH event ${namespace}/${name}`, {
        code: 404,
        reason: 'NotFound',
        message: `events "${name}" not found`,
      });
    }
    const fields = JSON.parse(JSON.stringify(patch)) as Record<string, unknown>;
    return this.store(namespace, { ...current, ...fields } as CoreV1Event);
  }

  /** Stored Events in creation order. */
  list(): CoreV1Event[] {
    return [...this.events.values()].map((e) => structuredClone(e));
  }

  get(namespace: string, name: string): CoreV1Event | undefined {
    const event = this.events.get(key(namespace, name));
    return event && structuredClone(event);
  }

  /** Removes an Event, as its TTL would. */
  delete(namespace: string, name: string): void {
    this.events.delete(key(namespace, name));
  }

  private store(namespace: string, event: CoreV1Event): CoreV1Event {
    const stored: CoreV1Event = {
      ...event,
      metadata: { ...event.metadata, resourceVersion: String(++this.resourceVersion) },
    };
    this.events.set(key(namespace, stored.metadata.name ?? ''), stored);
    return structuredClone(stored);
  }

  private async enter(call: EventSinkCall): Promise<void> {
    this.calls.push(call);
    await this.interceptor?.(call);
  }
}

function key(namespace: string, name: string): string {
  return `${namespace}/${name}`;
}

/** The error an apiserver answer turns into, for fakes and tests; causes are metav1.StatusCause reasons. */
export function eventApiError(
  context: string,
  status: { code: number; reason: string; message: string; causes?: string[] },
): KubeApiError {
  const { causes, ...rest } = status;
  const details = causes && { details: { causes: causes.map((reason) => ({ reason })) } };
  return new KubeApiError({
    code: status.code,
    status: { kind: 'Status', apiVersion: 'v1', status: 'Failure', ...rest, ...details },
    context,
  });
}
