import type { V1ObjectReference } from '@kubernetes/client-node';
import type { EventObject, EventRecorder, EventType } from '../events/event-recorder.js';

export interface RecordedEvent {
  /** The sidecars record against object references. */
  object: V1ObjectReference;
  type: EventType;
  reason: string;
  message: string;
}

/** An EventRecorder for tests: keeps every event it is given, in order. */
export class RecordingRecorder implements EventRecorder {
  readonly events: RecordedEvent[] = [];

  event(object: EventObject, type: EventType, reason: string, message: string): void {
    this.events.push({ object: object as V1ObjectReference, type, reason, message });
  }

  eventf(object: EventObject, type: EventType, reason: string, messageFormat: string): void {
    this.event(object, type, reason, messageFormat);
  }

  reasons(): string[] {
    return this.events.map((e) => e.reason);
  }
}
