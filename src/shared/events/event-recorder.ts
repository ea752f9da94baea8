import { format } from 'node:util';
import type { CoreV1Event, KubernetesObject, V1ObjectReference } from '@kubernetes/client-node';
import type { Clock } from '../clock/clock.js';
import type { Logger } from '../log/logger.js';
import { wholeSeconds } from './correlator.js';

export type EventType = 'Normal' | 'Warning';

/** Who reports: source.component (and reportingComponent), optionally the host (and reportingInstance). */
export interface EventSource {
  component: string;
  host?: string;
}

/**
 * What an event is about: an object with apiVersion and kind set, or a
 * ready-made reference. Objects from list responses carry no kind; wrap them
 * with objectReference(obj, apiVersion, kind).
 */
export type EventObject = KubernetesObject | V1ObjectReference;

/** client-go's record.EventRecorder. Calls never throw and never wait for the apiserver. */
export interface EventRecorder {
  event(object: EventObject, type: EventType, reason: string, message: string): void;
  /** Like event() with a printf-style message (node:util format: %s, %d, %j, %o). */
  eventf(object: EventObject, type: EventType, reason: string, messageFormat: string, ...args: unknown[]): void;
}

/** The reference client-go's GetReference builds; undefined when apiVersion or kind is unknown. */
export function objectReference(
  object: EventObject,
  apiVersion?: string,
  kind?: string,
): V1ObjectReference | undefined {
  const ref: V1ObjectReference =
    'metadata' in object && object.metadata
      ? {
          kind: kind ?? object.kind,
          namespace: object.metadata.namespace,
          name: object.metadata.name,
          uid: object.metadata.uid,
          apiVersion: apiVersion ?? object.apiVersion,
          resourceVersion: object.metadata.resourceVersion,
        }
      : { ...(object as V1ObjectReference), ...(apiVersion && { apiVersion }), ...(kind && { kind }) };
  if (!ref.kind || !ref.apiVersion) return undefined;
  return dropUndefined(ref);
}

export interface RecorderOptions {
  source: EventSource;
  clock: Clock;
  logger: Logger;
  /** Unix nanoseconds for a wall-clock ms, unique per broadcaster. */
  nanos: (wallMs: number) => bigint;
  /** Hands the event to the broadcaster's queue; must not block. */
  enqueue: (event: CoreV1Event) => void;
}

/** Builds core/v1 Events the way client-go's recorderImpl does. */
export class Recorder implements EventRecorder {
  private readonly source: EventSource;
  private readonly clock: Clock;
  private readonly logger: Logger;
  private readonly nanos: (wallMs: number) => bigint;
  private readonly enqueue: (event: CoreV1Event) => void;

  constructor(options: RecorderOptions) {
    this.source = options.source;
    this.clock = options.clock;
    this.logger = options.logger;
    this.nanos = options.nanos;
    this.enqueue = options.enqueue;
  }

  event(object: EventObject, type: EventType, reason: string, message: string): void {
    try {
      this.generate(object, type, reason, message);
    } catch (err) {
      // Reporting must never break the caller's control flow.
      this.logger.error(err, 'Unable to record event', { reason });
    }
  }

  eventf(object: EventObject, type: EventType, reason: string, messageFormat: string, ...args: unknown[]): void {
    let message: string;
    try {
      message = format(messageFormat, ...args);
    } catch (err) {
      this.logger.error(err, 'Unable to format event message', { reason });
      return;
    }
    this.event(object, type, reason, message);
  }

  private generate(object: EventObject, type: EventType, reason: string, message: string): void {
    const ref = objectReference(object);
    if (!ref) {
      this.logger.error(undefined, 'Could not construct reference, will not report event: apiVersion or kind unknown', {
        name: nameOf(object),
        type,
        reason,
        message,
      });
      return;
    }
    if (type !== 'Normal' && type !== 'Warning') {
      this.logger.error(undefined, 'Unsupported event type', { type });
      return;
    }
    this.enqueue(this.makeEvent(ref, type, reason, message));
  }

  private makeEvent(ref: V1ObjectReference, type: EventType, reason: string, message: string): CoreV1Event {
    const wallMs = this.clock.now();
    const time = wholeSeconds(wallMs);
    return {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: {
        name: `${ref.name ?? ''}.${this.nanos(wallMs).toString(16)}`,
        // Cluster-scoped objects (PV, VolumeAttachment, Node) get their events in "default".
        namespace: ref.namespace || 'default',
      },
      involvedObject: ref,
      reason,
      message,
      firstTimestamp: time,
      lastTimestamp: time,
      count: 1,
      type,
      source: dropUndefined({ component: this.source.component, host: this.source.host || undefined }),
      reportingComponent: this.source.component,
      reportingInstance: this.source.host ?? '',
    };
  }
}

function nameOf(object: EventObject): string | undefined {
  return 'metadata' in object ? object.metadata?.name : (object as V1ObjectReference).name;
}

function dropUndefined<T extends object>(value: T): T {
  return Object.fromEntries(Object.entries(value).filter(([, v]) => v !== undefined)) as T;
}
